"""RAF-DB basic → Darknet: ``EmoLabel/list_patition_label.txt`` (sic), one box file per image.

Label lines are ``train_00001.jpg 5`` (codes 1..7: ``expressions.RAFDB_TO_CLASS``); the prefix
gives the split: ``test_`` images are RAF-DB's own test set (the test list with
``held_out="official"``). Each image's face box is
``Annotation/boundingbox/<stem>_boundingbox.txt``: four numbers ``x1 y1 x2 y2`` in the pixels
of ``Image/original/<name>`` (a trailing space is common). One face per image is annotated;
others in the picture are not (``--unannotated``).
``compound/`` (11 compound codes, no single class of ours) is counted, never converted.

Each label line is kept or counted under one reason, checked in this order:

- malformed lines, with file:line: ``wrong_field_count``, ``non_numeric``,
  ``label_out_of_range`` (not 1..7), ``bad_image_name`` (a path, or neither ``train_`` nor
  ``test_``);
- ``duplicate`` / ``conflicting_labels`` (the image listed again with the same / another code);
- the box file, with file:line: ``missing_box_file``, ``wrong_field_count`` (not 4 numbers),
  ``non_numeric``, ``inverted_box`` (x2 < x1 or y2 < y1: x y w h, which one public reader
  assumes, rather than the x1 y1 x2 y2 of the others; never guessed);
- the image checks and ``degenerate_box`` (``boxfaces.check_images``), ``unannotated_image``;
- ``compound_expression``: each line of ``compound/``'s label list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.expressions import RAFDB_TO_CLASS
from yof_darknet.datasets.boxfaces import (
    BOX,
    Placement,
    check_apart,
    check_images,
    count_out,
    drop_repeats,
    example,
    find_unannotated_faces,
    place,
)
from yof_darknet.datasets.expw_lst import label_lst_text, report_malformed, split_fields
from yof_darknet.datasets.stats import NO_CLASS, ConversionResult, ConversionStats
from yof_darknet.datasets.unannotated import UnannotatedOptions
from yof_darknet.formats.labels import check_label_path

DATASET = "rafdb"
TITLE = "RAF-DB"
LABEL_LISTS = ("list_patition_label.txt", "list_partition_label.txt")  # the release's spelling
SPLITS = ("train_", "test_")
BOX_REASONS = ("missing_box_file", "wrong_field_count", "non_numeric", "inverted_box")
# More inverted boxes than this share of those read (at least INVERTED_MIN) means the copy's box
# files hold another format: stop rather than leave most of the dataset out.
INVERTED_SHARE = 0.5
INVERTED_MIN = 20


@dataclass(frozen=True)
class RafdbLayout:
    label_file: Path
    image_dir: Path
    box_dir: Path
    compound_list: Path | None


def _label_list(folder: Path) -> Path | None:
    found = [folder / "EmoLabel" / name for name in LABEL_LISTS]
    return next((path for path in found if path.is_file()), None)


def find_layout(root: Path) -> RafdbLayout:
    """``root/basic/`` (or ``root`` itself being ``basic/``): ``EmoLabel/``, ``Image/original/``,
    ``Annotation/boundingbox/``; ``root/compound/EmoLabel/`` when present."""
    root = Path(root)
    basic = root / "basic" if (root / "basic").is_dir() else root
    label_file = _label_list(basic)
    if label_file is None:
        raise DatasetError(
            f"{root}: no RAF-DB label list (looked for {basic}/EmoLabel/{LABEL_LISTS[0]}); pass "
            "the RAF-DB folder that holds basic/ (EmoLabel/, Image/original/, "
            "Annotation/boundingbox/)"
        )
    image_dir, box_dir = basic / "Image" / "original", basic / "Annotation" / "boundingbox"
    if not image_dir.is_dir():
        aligned = " (Image/aligned/ holds 100x100 crops: the boxes are on the originals)"
        found = aligned if (basic / "Image" / "aligned").is_dir() else ""
        raise DatasetError(
            f"{image_dir}: not found{found}; extract original.zip into {basic / 'Image'}"
        )
    if not box_dir.is_dir():
        raise DatasetError(
            f"{box_dir}: not found; RAF-DB's face boxes are in Annotation/boundingbox/ "
            "(<name>_boundingbox.txt): extract the annotation archive into basic/"
        )
    compound = _label_list(root / "compound") if basic != root else None
    return RafdbLayout(label_file, image_dir, box_dir, compound)


def _lines(path: Path, stats: ConversionStats) -> list[tuple[int, list[str]]]:
    text, notes = label_lst_text(path, path.read_bytes())
    stats.details.update(notes)
    numbered = [(n, split_fields(line)) for n, line in enumerate(text.split("\n"), start=1)]
    return [(n, fields) for n, fields in numbered if fields]


def _label_problem(fields: list[str]) -> str | None:
    if len(fields) != 2:
        return "wrong_field_count"
    name, code = fields
    try:
        value = float(code)
    except ValueError:
        return "non_numeric"
    if not np.isfinite(value):
        return "non_numeric"
    if value != int(value) or int(value) not in RAFDB_TO_CLASS:
        return "label_out_of_range"
    if "/" in name or "\\" in name or not name.startswith(SPLITS):
        return "bad_image_name"
    return None


_WHY = {
    "wrong_field_count": "not 2 fields (image code)",
    "non_numeric": "the code is not a number",
    "label_out_of_range": "code outside 1..7",
    "bad_image_name": "a path, or a name that starts with neither train_ nor test_",
}


def read_labels(path: Path, stats: ConversionStats, official: bool) -> pd.DataFrame:
    """Well-formed label lines as a frame (``line``, ``name``, ``code``, ``class_id``,
    ``held_out``); malformed ones counted with file:line."""
    rows: list[tuple[int, str, int]] = []
    bad: list[tuple[int, str, str]] = []
    lines = _lines(path, stats)
    if not lines:
        raise DatasetError(f"{path}: empty; restore it from the RAF-DB download (image code)")
    for number, fields in lines:
        problem = _label_problem(fields)
        if problem is None:
            rows.append((number, fields[0], int(float(fields[1]))))
        else:
            bad.append((number, problem, f"{_WHY[problem]}: {' '.join(fields)!r}"))
    report_malformed(stats, path, bad)
    frame = pd.DataFrame(rows, columns=["line", "name", "code"])
    frame["class_id"] = frame["code"].map(RAFDB_TO_CLASS).astype(np.int64)
    frame["held_out"] = official & frame["name"].str.startswith("test_").to_numpy(dtype=bool)
    return frame


def box_file(box_dir: Path, name: str) -> Path:
    """``train_00001.jpg`` → ``box_dir/train_00001_boundingbox.txt``."""
    return box_dir / f"{Path(name).stem}_boundingbox.txt"


def read_box(path: Path) -> tuple[str | None, tuple[float, ...], str]:
    """(problem or None, ``x1 y1 x2 y2``, why) of one box file (``BOX_REASONS``)."""
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return "missing_box_file", (), "no such file"
    except OSError as exc:
        return "missing_box_file", (), exc.strerror or str(exc)
    fields = text.split()
    if len(fields) != 4:
        return "wrong_field_count", (), f"{len(fields)} values instead of 4: {text.strip()!r}"
    try:
        box = tuple(float(v) for v in fields)
    except ValueError:
        return "non_numeric", (), f"not numbers: {text.strip()!r}"
    if not np.isfinite(box).all():
        return "non_numeric", (), f"not finite: {text.strip()!r}"
    if box[2] < box[0] or box[3] < box[1]:
        return "inverted_box", box, f"x2 < x1 or y2 < y1 (x y w h?): {text.strip()!r}"
    return None, box, ""


def _boxes(rows: pd.DataFrame, stats: ConversionStats, box_dir: Path) -> pd.DataFrame:
    """Attach each image's box; count the rows whose box file cannot be used."""
    found: dict[str, tuple[str | None, tuple[float, ...]]] = {}
    for name in sorted(rows["name"].unique()):
        path = box_file(box_dir, name)
        problem, box, why = read_box(path)
        found[name] = (problem, box)
        if problem is not None:
            example(stats, "box_file_examples", f"{path}:1: {problem}: {why}")
    inverted = sum(p == "inverted_box" for p, _ in found.values())
    read = sum(p in (None, "inverted_box") for p, _ in found.values())
    if read >= INVERTED_MIN and inverted > INVERTED_SHARE * read:
        raise DatasetError(
            f"{box_dir}: {inverted} of {read} box files hold x2 < x1 or y2 < y1 (first: "
            f"{stats.details['box_file_examples'][0]}); RAF-DB's box files are x1 y1 x2 y2 in "
            "the pixels of Image/original/: this copy seems to hold another format"
        )
    boxes = np.array([found[n][1] if found[n][0] is None else (np.nan,) * 4 for n in rows["name"]])
    rows = rows.assign(**dict(zip(BOX, boxes.reshape(-1, 4).T, strict=True)))
    problems = np.array([found[n][0] or "" for n in rows["name"]])
    for reason in BOX_REASONS:
        rows = count_out(stats, rows, problems == reason, reason)
        problems = problems[problems != reason]
    return rows


def _compound(layout: RafdbLayout, stats: ConversionStats) -> None:
    """Count every line of ``compound/``'s label list (no class of ours)."""
    if layout.compound_list is None:
        return
    lines = _lines(layout.compound_list, stats)
    stats.add("compound_expression", [NO_CLASS] * len(lines))
    stats.details["compound_list"] = str(layout.compound_list)


def convert_rafdb(
    root: Path,
    out_dir: Path,
    *,
    held_out: str = "official",
    copy: bool = False,
    unannotated: UnannotatedOptions | None = None,
    max_side: int = 0,
    progress: bool = False,
) -> ConversionResult:
    """Convert the RAF-DB folder ``root`` into ``out_dir`` (``OUT/rafdb``): one ``Item`` per
    kept image (``group`` = its name), every label line counted."""
    out_dir = Path(out_dir).resolve()
    check_label_path(out_dir / "probe.jpg")
    layout = find_layout(root)
    image_dir = layout.image_dir.resolve()
    check_apart(out_dir, image_dir, TITLE)
    stats = ConversionStats(DATASET, str(Path(root).resolve()))
    stats.details.update(
        label_file=str(layout.label_file),
        image_dir=str(image_dir),
        box_dir=str(layout.box_dir),
        held_out="the test_ images"
        if held_out == "official"
        else "drawn from all images (--held-out drawn)",
    )
    rows = read_labels(layout.label_file, stats, held_out == "official")
    rows = drop_repeats(rows.assign(x1=0.0, y1=0.0, x2=0.0, y2=0.0), stats, ("code",))
    rows = _boxes(rows, stats, layout.box_dir)
    listed = {str(n): np.array([[x1, y1, x2, y2]]) for n, x1, y1, x2, y2 in
              rows[["name", *BOX]].itertuples(index=False)}  # fmt: skip
    inputs = (layout.label_file, layout.box_dir)
    rows, infos = check_images(rows, stats, image_dir, out_dir, inputs=inputs, progress=progress)
    rows, masked = find_unannotated_faces(
        rows, listed, stats, image_dir, out_dir, unannotated or UnannotatedOptions(), progress
    )
    where = Placement(DATASET, image_dir, out_dir, inputs, copy, max_side)
    items = place(rows.sort_values(["name", "line"]), infos, masked, stats, where, progress)
    _compound(layout, stats)
    return ConversionResult(items, stats)
