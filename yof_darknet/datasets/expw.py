"""ExpW (Expression in-the-Wild) → Darknet: read ``label.lst``, filter faces, place images + labels.

``label.lst`` rows are ``name face_id top left right bottom confidence label`` (space separated,
no header); the box is x1=left, y1=top, x2=right, y2=bottom in pixels and ``label`` is 0..6 in
our class order. Each row ends up kept or counted under exactly one reason, checked in order:

- malformed rows, reported with file:line: ``wrong_field_count``, ``non_numeric``,
  ``label_out_of_range``, ``bad_face_id``, ``bad_image_name`` (a path in the name);
- ``duplicate``: a repeat of an earlier row (the face id aside): the face is kept once;
- ``conflicting_labels``: rows for the same face (same image and box) that disagree on the label
  or the score; every row of that face is dropped, since nothing tells which one is right;
- ``low_score``: confidence not above ``min_face_score``;
- ``mixed_image`` (with ``drop_mixed_images``): a passing face in an image with a low-score face;
- ``missing_image``, ``unreadable_image``: the image file is absent or its header unusable;
- ``degenerate_box``: under 1 px wide or high after clipping to the image.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import imagesize
import numpy as np
import pandas as pd

from yof_darknet.datasets.items import Item
from yof_darknet.datasets.stats import KEPT, NO_CLASS, ConversionResult, ConversionStats
from yof_darknet.datasets.unannotated import (
    CACHE_FOLDER,
    FaceCache,
    UnannotatedOptions,
    find_unannotated,
    write_masked,
)
from yof_darknet.errors import DatasetError
from yof_darknet.expressions import EXPW_TO_CLASS
from yof_darknet.fileio import atomic_write_text, place_image, protected
from yof_darknet.formats.labels import check_label_path, label_line, safe_stem
from yof_darknet.owned import Ledger
from yof_darknet.progress import Progress

DATASET = "expw"
NUMERIC = ["face_id", "top", "left", "right", "bottom", "confidence", "label"]
COLUMNS = ["name", *NUMERIC]
MAX_EXAMPLES = 5
PROGRESS_MIN = 2000  # images; smaller inputs finish before a bar would help


@dataclass(frozen=True)
class ExpwLayout:
    label_file: Path
    image_dir: Path


def find_layout(root: Path) -> ExpwLayout:
    """Locate ``label.lst`` and the image folder in either public layout of ExpW.

    ``root/label/label.lst`` with ``root/image/origin/``, or ``root/label.lst`` beside
    ``root/origin/``; a doubled ``origin/origin/`` (7z extraction) is found too. Of the image
    folders that exist, the one holding most of the first listed images wins.
    """
    root = Path(root)
    candidates = [root / "label" / "label.lst", root / "label.lst"]
    label_file = next((path for path in candidates if path.is_file()), None)
    if label_file is None:
        raise DatasetError(
            f"{root}: no ExpW label.lst (looked for {candidates[0]} and {candidates[1]}); "
            "pass the ExpW folder that holds label/label.lst and image/origin/"
        )
    folders = [
        folder
        for base in (root / "image", root)
        for folder in (base / "origin" / "origin", base / "origin")
        if folder.is_dir()
    ]
    if not folders:
        raise DatasetError(
            f"{root}: no ExpW image folder (looked for image/origin/ and origin/, each possibly "
            "doubled as origin/origin/); extract origin.7z.001… there"
        )
    with label_file.open("rb") as handle:
        head = [line for line, _ in zip(handle, range(200), strict=False)]
    names = [fields[0] for fields in (decode_names(line).split() for line in head) if fields]
    found = [sum((folder / name).exists() for name in names) for folder in folders]
    return ExpwLayout(label_file, folders[int(np.argmax(found))])


def _report(stats: ConversionStats, label_file: Path, rows: list[tuple[int, str, str]]) -> None:
    """Count malformed rows (line number, reason, why) and keep the first few verbatim."""
    examples = stats.details.setdefault("malformed_examples", [])
    for number, reason, why in rows:
        stats.add(reason, [NO_CLASS])
        if len(examples) < MAX_EXAMPLES:
            examples.append(f"{label_file}:{number}: {why}")


def decode_names(data: bytes) -> str:
    """``label.lst`` bytes as text: a UTF-8 byte order mark dropped, names decoded as the file
    system decodes them (bytes that are not UTF-8 survive and name the same file)."""
    return os.fsdecode(data.removeprefix(b"\xef\xbb\xbf"))


def read_label_lst(path: Path, stats: ConversionStats) -> pd.DataFrame:
    """Well-formed rows of ``label.lst`` as a frame (``line`` = 1-based line number).

    Malformed rows are counted in ``stats`` and never returned; blank lines are ignored. A file
    without a single row is an error (nothing to convert).
    """
    rows: list[list[str]] = []
    bad: list[tuple[int, str, str]] = []
    text = decode_names(path.read_bytes())
    if not text.strip():
        raise DatasetError(
            f"{path}: label.lst is empty; nothing was written. Restore it from the ExpW "
            "download (one row per face: image face_id top left right bottom confidence label)"
        )
    for number, line in enumerate(text.split("\n"), start=1):
        fields = line.split()
        if len(fields) == len(COLUMNS):
            rows.append([str(number), *fields])
        elif fields:
            why = f"{len(fields)} fields instead of {len(COLUMNS)}: {line.strip()!r}"
            bad.append((number, "wrong_field_count", why))
    frame = pd.DataFrame(rows, columns=["line", *COLUMNS])
    frame["line"] = frame["line"].astype(np.int64)
    raw = frame[NUMERIC].copy()
    for column in NUMERIC:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(np.float64)
    values = frame[NUMERIC].to_numpy()
    non_numeric = ~np.isfinite(values).all(axis=1)
    label = frame["label"].to_numpy()
    face_id = frame["face_id"].to_numpy()
    bad_label = ~non_numeric & ~np.isin(label, list(EXPW_TO_CLASS))
    bad_face = ~non_numeric & ((face_id < 0) | (face_id != np.floor(face_id)))
    bad_name = (
        frame["name"].str.contains(r"[/\\]", regex=True).to_numpy()
        | frame["name"].isin([".", ".."]).to_numpy()
    )
    rejected = np.zeros(len(frame), dtype=bool)
    for mask, reason, describe in (
        (non_numeric, "non_numeric", "a field is not a finite number"),
        (bad_label, "label_out_of_range", "label outside 0..6"),
        (bad_face, "bad_face_id", "face id is not an integer >= 0"),
        (bad_name, "bad_image_name", "image name has a path component"),
    ):
        hit = mask & ~rejected  # each row counts under its first problem only
        rejected |= hit
        for index in np.flatnonzero(hit):
            line = " ".join([frame["name"].iat[index], *raw.iloc[index]])
            bad.append((int(frame["line"].iat[index]), reason, f"{describe}: {line!r}"))
    _report(stats, path, sorted(bad))
    good = frame[~rejected].reset_index(drop=True)
    good["label"] = good["label"].astype(np.int64)
    return good


def output_name(name: str, *, hashed: bool = False, suffix: str | None = None) -> str:
    """Darknet-safe file name for ExpW image ``name``: itself when already safe.

    The suffix becomes ``.jpg`` (``.png`` for PNGs); a stem with a substring either fork
    rewrites (``raw`` as in ``drawing``, ``images``, ``.jpg``) gets an underscore inside that
    substring and a hash of the original name (so two names never meet); ``hashed`` forces the
    hash, for a name whose plain output name another image already took; ``suffix`` replaces the
    output suffix (``.png`` for a masked copy).
    """
    own = Path(name).suffix
    stem = name[: len(name) - len(own)]
    out_suffix = suffix or (".png" if own.lower() == ".png" else ".jpg")
    return safe_stem(stem, name, hashed=hashed) + out_suffix


def _header_size(path: str) -> tuple[int, int] | str:
    """(width, height) from the image header, or the skip reason."""
    try:
        width, height = imagesize.get(path)
    except Exception:  # imagesize raises assorted errors (OSError, ValueError...) on bad files
        width = height = -1
    if width > 0 and height > 0:
        return width, height
    # imagesize answers (-1, -1) for a missing file too
    return "unreadable_image" if os.path.isfile(path) else "missing_image"


def _image_sizes(
    image_dir: Path, names: list[str], progress: bool
) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Width and height of each image from its header (0 where it cannot be used), and why not.

    One thread: in measurements here, threads made the open/read calls slower, not faster.
    """
    widths = np.zeros(len(names), dtype=np.float64)
    heights = np.zeros(len(names), dtype=np.float64)
    problems: dict[str, str] = {}
    paths = [os.path.join(image_dir, name) for name in names]
    with Progress("expw: image sizes", total=len(paths), unit="img", enabled=progress) as reporter:
        for index, size in enumerate(map(_header_size, reporter.iterate(paths))):
            if isinstance(size, str):
                problems[names[index]] = size
            else:
                widths[index], heights[index] = size
    return widths, heights, problems


def _count_out(
    stats: ConversionStats, rows: pd.DataFrame, mask: np.ndarray, reason: str
) -> pd.DataFrame:
    """Count the rows under ``mask`` as skipped for ``reason`` and return the others."""
    stats.add(reason, rows["class_id"].to_numpy()[mask])
    return rows[~mask]


def _filter(
    rows: pd.DataFrame, stats: ConversionStats, min_face_score: float, drop_mixed: bool
) -> pd.DataFrame:
    """Drop duplicates, conflicting rows, low scores and (optionally) mixed images; counts each
    drop."""
    face = ["name", "top", "left", "right", "bottom"]
    repeat = rows.duplicated(subset=[*face, "confidence", "label"]).to_numpy()
    rows = _count_out(stats, rows, repeat, "duplicate")
    conflicting = rows.duplicated(subset=face, keep=False).to_numpy()
    if conflicting.any():
        examples = rows[conflicting].sort_values("line").head(MAX_EXAMPLES)
        stats.details["conflicting_labels_examples"] = [
            f"line {row.line}: {row.name} box {row.left:g},{row.top:g},{row.right:g},"
            f"{row.bottom:g} label {row.label} score {row.confidence:g}"
            for row in examples.itertuples()
        ]
    rows = _count_out(stats, rows, conflicting, "conflicting_labels")
    low = ~(rows["confidence"] > min_face_score).to_numpy()
    low_images = rows["name"][low].unique()
    rows = _count_out(stats, rows, low, "low_score")
    if drop_mixed:
        rows = _count_out(stats, rows, rows["name"].isin(low_images).to_numpy(), "mixed_image")
    return rows


def _boxes(
    rows: pd.DataFrame, stats: ConversionStats, image_dir: Path, progress: bool
) -> pd.DataFrame:
    """Attach image sizes and clipped boxes; drop faces of unusable images and degenerate boxes."""
    names = sorted(rows["name"].unique())
    widths, heights, problems = _image_sizes(image_dir, names, progress)
    problem = np.array([problems.get(name, "") for name in rows["name"]], dtype=object)
    for reason in ("missing_image", "unreadable_image"):
        examples = sorted(name for name, why in problems.items() if why == reason)
        if examples:
            stats.details[f"{reason}_examples"] = examples[:MAX_EXAMPLES]
        rows = _count_out(stats, rows, problem == reason, reason)
        problem = problem[problem != reason]
    index = np.searchsorted(names, rows["name"].to_numpy())
    rows = rows.assign(width=widths[index], height=heights[index])
    rows = rows.assign(
        x1=np.clip(rows["left"], 0, rows["width"]),
        y1=np.clip(rows["top"], 0, rows["height"]),
        x2=np.clip(rows["right"], 0, rows["width"]),
        y2=np.clip(rows["bottom"], 0, rows["height"]),
    )
    degenerate = ((rows["x2"] - rows["x1"] < 1) | (rows["y2"] - rows["y1"] < 1)).to_numpy()
    return _count_out(stats, rows, degenerate, "degenerate_box")


def _place(source: Path, target: Path, label: str, copy: bool) -> None:
    """Place one image and write its label unless it already holds ``label`` (re-runs touch
    nothing that is up to date)."""
    place_image(source, target, copy=copy)
    _place_label(target, label)


def _place_label(target: Path, label: str) -> None:
    label_path = target.with_suffix(".txt")
    try:
        if label_path.read_text() == label:
            return
    except FileNotFoundError:
        pass
    atomic_write_text(label_path, label)


def _plan(
    rows: pd.DataFrame, out_dir: Path, masked: dict | None = None
) -> tuple[list[Item], list[str], dict[str, str]]:
    """One ``Item`` and label text per image (rows sorted by image), and the renamed images
    (a ``masked`` image is written as a PNG copy: ``.png``, not counted as renamed)."""
    lines = [
        label_line(class_id, (x1, y1, x2, y2), (int(w), int(h)))
        for class_id, x1, y1, x2, y2, w, h in zip(
            *(rows[c].to_numpy() for c in ("class_id", "x1", "y1", "x2", "y2", "width", "height")),
            strict=True,
        )
    ]
    names = rows["name"].to_numpy()
    classes = rows["class_id"].to_numpy()
    edges = np.flatnonzero(np.r_[True, names[1:] != names[:-1], True]) if len(names) else [0]
    items: list[Item] = []
    labels: list[str] = []
    renamed: dict[str, str] = {}
    taken: set[str] = set()
    for start, stop in itertools.pairwise(edges):
        name = str(names[start])
        suffix = ".png" if masked and name in masked else None
        target_name = output_name(name, suffix=suffix)
        if target_name in taken:
            target_name = output_name(name, hashed=True, suffix=suffix)
        taken.add(target_name)
        if target_name != output_name(name, suffix=suffix) or output_name(name) != name:
            renamed[name] = target_name
        target = out_dir / target_name
        check_label_path(target)
        items.append(Item(target, DATASET, name, tuple(int(c) for c in classes[start:stop])))
        labels.append("".join(f"{line}\n" for line in lines[start:stop]))
    return items, labels, renamed


def _rows_by_image(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Image name → (M, 4) ``x1 y1 x2 y2`` boxes of all its well-formed rows (as listed)."""
    boxes = rows[["left", "top", "right", "bottom"]].to_numpy(dtype=np.float64)
    names = rows["name"].to_numpy()
    order = np.argsort(names, kind="stable")
    names, boxes = names[order], boxes[order]
    edges = np.flatnonzero(np.r_[True, names[1:] != names[:-1], True]) if len(names) else [0]
    return {str(names[a]): boxes[a:b] for a, b in itertools.pairwise(edges)}


def _kept_rows(
    root: Path, min_face_score: float, drop_mixed_images: bool, progress: bool
) -> tuple[ExpwLayout, Path, ConversionStats, pd.DataFrame, dict[str, np.ndarray]]:
    """The layout, image folder, counts, the rows kept by the filters and every row's box."""
    layout = find_layout(root)
    image_dir = layout.image_dir.resolve()
    stats = ConversionStats(DATASET, str(Path(root).resolve()))
    stats.details.update(label_file=str(layout.label_file), image_dir=str(image_dir))
    rows = read_label_lst(layout.label_file, stats)
    listed = _rows_by_image(rows)
    rows["class_id"] = rows["label"].map(EXPW_TO_CLASS).astype(np.int64)
    rows = _filter(rows, stats, min_face_score, drop_mixed_images)
    rows = _boxes(rows, stats, image_dir, progress and len(rows) >= PROGRESS_MIN)
    return layout, image_dir, stats, rows, listed


def _hygiene(
    rows: pd.DataFrame,
    listed: dict[str, np.ndarray],
    stats: ConversionStats,
    image_dir: Path,
    out_dir: Path,
    options: UnannotatedOptions,
    progress: bool,
) -> tuple[pd.DataFrame, dict[str, list[list[float]]]]:
    """``--unannotated``: the rows left (``drop``) and the faces to mask per image (``mask``)."""
    if options.mode == "keep":
        return rows, {}
    names = rows["name"].unique()
    cache = FaceCache(out_dir / CACHE_FOLDER, options.detector)
    with protected(image_dir):
        findings = find_unannotated(
            image_dir, {str(n): listed[str(n)] for n in names}, cache, options, progress
        )
    classes = rows.groupby("name")["class_id"].agg(tuple).to_dict()
    stats.details["unannotated"] = findings.summary(options.mode, classes, len(names))
    if options.mode == "drop":
        return _count_out(stats, rows, rows["name"].isin(findings.faces).to_numpy(),
                          "unannotated_image"), {}  # fmt: skip
    return rows, findings.faces if options.mode == "mask" else {}


def detect_expw_shard(
    root: Path,
    out_dir: Path,
    *,
    min_face_score: float = 50.0,
    drop_mixed_images: bool = False,
    unannotated: UnannotatedOptions,
    progress: bool = False,
) -> dict[str, int]:
    """``--shard I/N`` with ``--expw``: fill this shard's part of the face cache only (images
    nor labels are written; a later plain run reuses the cache and converts)."""
    _, image_dir, _, rows, _ = _kept_rows(root, min_face_score, drop_mixed_images, progress)
    cache = FaceCache(Path(out_dir).resolve() / CACHE_FOLDER, unannotated.detector)
    with protected(image_dir):
        _, counts = cache.detect(
            image_dir,
            [str(n) for n in rows["name"].unique()],
            workers=unannotated.workers,
            shard=unannotated.shard,
            progress=progress,
        )
    return counts


def convert_expw(
    root: Path,
    out_dir: Path,
    *,
    min_face_score: float = 50.0,
    drop_mixed_images: bool = False,
    copy: bool = False,
    unannotated: UnannotatedOptions | None = None,
    progress: bool = False,
) -> ConversionResult:
    """Convert the ExpW folder ``root`` into ``out_dir`` (images + ``.txt`` labels side by side).

    Returns one ``Item`` per image with at least one kept face (``group`` = its ExpW name) and
    the counts of every row read. Images whose ExpW name Darknet would misread get a safe name;
    the mapping is written to ``out_dir/renamed.tsv`` and counted in ``details["renamed"]``.
    ``unannotated`` (``datasets.unannotated``): find faces no row annotates, then keep, count,
    mask (a PNG copy) or drop their images.
    """
    out_dir = Path(out_dir).resolve()
    check_label_path(out_dir / "probe.jpg")
    layout, image_dir, stats, rows, listed = _kept_rows(
        root, min_face_score, drop_mixed_images, progress
    )
    options = unannotated or UnannotatedOptions()
    rows, masked = _hygiene(rows, listed, stats, image_dir, out_dir, options, progress)
    stats.add(KEPT, rows["class_id"].to_numpy())
    items, labels, renamed = _plan(rows.sort_values(["name", "face_id", "line"]), out_dir, masked)
    kept_boxes = _rows_by_image(rows.assign(left=rows["x1"], top=rows["y1"], right=rows["x2"],
                                            bottom=rows["y2"])) if masked else {}  # fmt: skip

    for a, b in ((out_dir, image_dir), (image_dir, out_dir)):
        if a == b or a.is_relative_to(b):
            raise DatasetError(
                f"{out_dir}: the output folder and the ExpW images ({image_dir}, links "
                "resolved) overlap; choose another --out"
            )
    with protected(image_dir, layout.label_file):  # also where links in the raw folder lead
        out_dir.mkdir(parents=True, exist_ok=True)
        ledger = Ledger(out_dir)  # owned before written: a killed run's files are still ours
        ledger.record(n for it in items for n in (it.image.name, it.image.with_suffix(".txt").name))
        show = progress and len(items) >= PROGRESS_MIN
        sources = [image_dir / item.group for item in items]
        targets = [item.image for item in items]
        # one thread: files created in one folder serialise on its lock; threads only add contention
        placements = zip(sources, targets, labels, strict=True)
        with Progress("expw: writing", total=len(items), unit="img", enabled=show) as reporter:
            for source, target, label in reporter.iterate(placements):
                if source.name in masked:
                    faces = [face[:4] for face in masked[source.name]]
                    write_masked(source, target, faces, kept_boxes[source.name])
                    _place_label(target, label)
                else:
                    _place(source, target, label, copy)
        renamed_file = out_dir / "renamed.tsv"
        if renamed:
            table = "".join(f"{old}\t{new}\n" for old, new in sorted(renamed.items()))
            ledger.record([renamed_file.name])
            atomic_write_text(renamed_file, "original\toutput\n" + table)
            stats.details["renamed_file"] = str(renamed_file)
        else:
            ledger.remove(renamed_file.name)
        stats.details["renamed"] = len(renamed)
    return ConversionResult(items, stats)
