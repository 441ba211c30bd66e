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
- ``missing_image``, ``unreadable_image``, ``undecodable_image``, ``animated_image``: the image
  is absent, not an image, does not decode, or has several frames (``datasets.images``: each
  image is decoded once, answers kept in ``image_checks.json``);
- ``degenerate_box``: under 1 px wide or high after clipping to the image.

Boxes are in the stored pixels. An image with an EXIF orientation is written as an upright copy
with its boxes turned, so that every decoder reads the same pixels under the same label; images
in a format Darknet builds disagree on, larger than ``--max-side`` or masked are derived copies
too (``datasets.derived``). Names that break the safe-name policy (``formats.safenames``: shell
syntax, bytes that are not UTF-8, more than 100 characters...) get a safe one, recorded in
``renamed.tsv``.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from yof_darknet.datasets.derived import MANIFEST as DERIVED_MANIFEST
from yof_darknet.datasets.derived import DerivedCopies, Recipe, orient_box, orient_size
from yof_darknet.datasets.expw_lst import (
    MAX_EXAMPLES,
    label_lst_text,
    read_label_lst,
    split_fields,
)
from yof_darknet.datasets.images import (
    CHECKS_FILE,
    IMAGE_REASONS,
    ImageChecks,
    ImageInfo,
    ImageProblem,
)
from yof_darknet.datasets.items import Item
from yof_darknet.datasets.stats import KEPT, ConversionResult, ConversionStats
from yof_darknet.datasets.unannotated import (
    CACHE_FOLDER,
    FaceCache,
    UnannotatedOptions,
    find_unannotated,
)
from yof_darknet.errors import DatasetError
from yof_darknet.expressions import EXPW_TO_CLASS
from yof_darknet.fileio import atomic_write_text, place_image, protected
from yof_darknet.formats.labels import check_label_path, label_line
from yof_darknet.formats.safenames import safe_stem
from yof_darknet.owned import Ledger
from yof_darknet.progress import Progress

DATASET = "expw"
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
    head = label_lst_text(label_file, label_file.read_bytes())[0].split("\n")[:200]
    names = [fields[0] for fields in map(split_fields, head) if fields]
    # os.path.exists: a name longer than the file system allows is absent, not an error
    found = [sum(os.path.exists(folder / name) for name in names) for folder in folders]
    return ExpwLayout(label_file, folders[int(np.argmax(found))])


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


def _check_images(
    image_dir: Path, names: list[str], checks: ImageChecks, progress: bool
) -> dict[str, ImageInfo | ImageProblem]:
    """Each image decoded once (``images.inspect_image``; answers kept in ``checks``).

    One thread: in measurements here, threads made the open/read calls slower, not faster.
    """
    answers: dict[str, ImageInfo | ImageProblem] = {}
    with Progress("expw: images", total=len(names), unit="img", enabled=progress) as reporter:
        for name in reporter.iterate(names):
            answers[name] = checks.check(image_dir, name)
    checks.save(set(names))
    return answers


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
    rows: pd.DataFrame,
    stats: ConversionStats,
    image_dir: Path,
    checks: ImageChecks,
    progress: bool,
) -> tuple[pd.DataFrame, dict[str, ImageInfo]]:
    """Attach stored image sizes and clipped boxes (stored pixels); drop the faces of images
    Darknet cannot use (``images.IMAGE_REASONS``) and degenerate boxes. Also returns each kept
    image's ``ImageInfo``."""
    names = sorted(rows["name"].unique())
    answers = _check_images(image_dir, names, checks, progress)
    problems = {n: a for n, a in answers.items() if isinstance(a, ImageProblem)}
    problem = np.array([p.reason if (p := problems.get(n)) else "" for n in rows["name"]])
    for reason in IMAGE_REASONS:
        examples = sorted(f"{n}: {p.why}" for n, p in problems.items() if p.reason == reason)
        if examples:
            stats.details[f"{reason}_examples"] = examples[:MAX_EXAMPLES]
        rows = _count_out(stats, rows, problem == reason, reason)
        problem = problem[problem != reason]
    infos = {n: a for n, a in answers.items() if isinstance(a, ImageInfo)}
    rows = rows.assign(
        width=[float(infos[n].width) for n in rows["name"]],
        height=[float(infos[n].height) for n in rows["name"]],
    )
    rows = rows.assign(
        x1=np.clip(rows["left"], 0, rows["width"]),
        y1=np.clip(rows["top"], 0, rows["height"]),
        x2=np.clip(rows["right"], 0, rows["width"]),
        y2=np.clip(rows["bottom"], 0, rows["height"]),
    )
    degenerate = ((rows["x2"] - rows["x1"] < 1) | (rows["y2"] - rows["y1"] < 1)).to_numpy()
    return _count_out(stats, rows, degenerate, "degenerate_box"), infos


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


def _recipe(info: ImageInfo, max_side: int, mask: tuple | None) -> Recipe | None:
    """How the image Darknet reads is made from ``info``'s raw file (None: it is the raw file)."""
    small = not max_side or max(info.width, info.height) <= max_side
    if info.orientation == 1 and info.recode is None and mask is None and small:
        return None
    suffix = ".png" if mask is not None else info.copy_suffix
    return Recipe(suffix, info.orientation, max_side, info.recode, mask)


def _plan(
    rows: pd.DataFrame, out_dir: Path, recipes: dict[str, Recipe], orientations: dict[str, int]
) -> tuple[list[Item], list[str], dict[str, str]]:
    """One ``Item`` and label text per image (rows sorted by image), and the renamed images.

    Boxes go from stored pixels into the upright image's (``orientations``); an image written
    as a derived copy (``recipes``) takes the copy's suffix (a PNG copy: ``.png``, not counted
    as renamed).
    """
    lines = []
    columns = ("name", "class_id", "x1", "y1", "x2", "y2", "width", "height")
    for name, class_id, x1, y1, x2, y2, w, h in zip(
        *(rows[c].to_numpy() for c in columns), strict=True
    ):
        turn = orientations.get(name, 1)
        stored = (int(w), int(h))
        box = orient_box((x1, y1, x2, y2), stored, turn)
        lines.append(label_line(class_id, box, orient_size(stored, turn)))
    names = rows["name"].to_numpy()
    classes = rows["class_id"].to_numpy()
    edges = np.flatnonzero(np.r_[True, names[1:] != names[:-1], True]) if len(names) else [0]
    items: list[Item] = []
    labels: list[str] = []
    renamed: dict[str, str] = {}
    taken: set[str] = set()
    for start, stop in itertools.pairwise(edges):
        name = str(names[start])
        recipe = recipes.get(name)
        suffix = recipe.suffix if recipe is not None else None
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


def _check_apart(out_dir: Path, image_dir: Path) -> None:
    for a, b in ((out_dir, image_dir), (image_dir, out_dir)):
        if a == b or a.is_relative_to(b):
            raise DatasetError(
                f"{out_dir}: the output folder and the ExpW images ({image_dir}, links "
                "resolved) overlap; choose another --out"
            )


@dataclass
class _Kept:
    """What the filters and the image checks leave: the layout, the resolved image folder, the
    counts, the kept rows, every listed row's box (by image) and each kept image's info."""

    layout: ExpwLayout
    image_dir: Path
    stats: ConversionStats
    rows: pd.DataFrame
    listed: dict[str, np.ndarray]
    infos: dict[str, ImageInfo]


def _kept_rows(
    root: Path, out_dir: Path, min_face_score: float, drop_mixed_images: bool, progress: bool
) -> _Kept:
    """Read ``label.lst``, filter its rows and check their images (answers kept in
    ``out_dir``, which must lie apart from the raw images)."""
    layout = find_layout(root)
    image_dir = layout.image_dir.resolve()
    _check_apart(out_dir, image_dir)
    stats = ConversionStats(DATASET, str(Path(root).resolve()))
    stats.details.update(label_file=str(layout.label_file), image_dir=str(image_dir))
    rows = read_label_lst(layout.label_file, stats)
    listed = _rows_by_image(rows)
    rows["class_id"] = rows["label"].map(EXPW_TO_CLASS).astype(np.int64)
    rows = _filter(rows, stats, min_face_score, drop_mixed_images)
    with protected(image_dir, layout.label_file):
        out_dir.mkdir(parents=True, exist_ok=True)
        Ledger(out_dir).record([CHECKS_FILE])
        checks = ImageChecks(out_dir)
        rows, infos = _boxes(rows, stats, image_dir, checks, progress and len(rows) >= PROGRESS_MIN)
    return _Kept(layout, image_dir, stats, rows, listed, infos)


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
    out_dir = Path(out_dir).resolve()
    kept = _kept_rows(root, out_dir, min_face_score, drop_mixed_images, progress)
    cache = FaceCache(out_dir / CACHE_FOLDER, unannotated.detector)
    with protected(kept.image_dir):
        _, counts = cache.detect(
            kept.image_dir,
            [str(n) for n in kept.rows["name"].unique()],
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
    max_side: int = 0,
    progress: bool = False,
) -> ConversionResult:
    """Convert the ExpW folder ``root`` into ``out_dir`` (images + ``.txt`` labels side by side).

    Returns one ``Item`` per image with at least one kept face (``group`` = its ExpW name) and
    the counts of every row read. Images whose ExpW name breaks the safe-name policy
    (``formats.safenames``) get a safe name; the mapping is written to ``out_dir/renamed.tsv``
    and counted in ``details["renamed"]``. An image Darknet builds would read differently (EXIF
    orientation, an unusual format), larger than ``max_side`` (0: no limit) or masked is written
    as a derived copy (``datasets.derived``), counted in ``details["derived"]``.
    ``unannotated`` (``datasets.unannotated``): find faces no row annotates, then keep, count,
    mask or drop their images.
    """
    out_dir = Path(out_dir).resolve()
    check_label_path(out_dir / "probe.jpg")
    kept = _kept_rows(root, out_dir, min_face_score, drop_mixed_images, progress)
    stats, image_dir = kept.stats, kept.image_dir
    options = unannotated or UnannotatedOptions()
    rows, masked = _hygiene(kept.rows, kept.listed, stats, image_dir, out_dir, options, progress)
    stats.add(KEPT, rows["class_id"].to_numpy())
    kept_boxes = _rows_by_image(rows.assign(left=rows["x1"], top=rows["y1"], right=rows["x2"],
                                            bottom=rows["y2"])) if masked else {}  # fmt: skip
    recipes: dict[str, Recipe] = {}
    for name in rows["name"].unique():
        mask = None
        if name in masked:
            faces = tuple(tuple(face[:4]) for face in masked[name])
            mask = (faces, tuple(tuple(box) for box in kept_boxes[name].tolist()))
        recipe = _recipe(kept.infos[name], max_side, mask)
        if recipe is not None:
            recipes[name] = recipe
    orientations = {name: info.orientation for name, info in kept.infos.items()}
    items, labels, renamed = _plan(
        rows.sort_values(["name", "face_id", "line"]), out_dir, recipes, orientations
    )
    with protected(image_dir, kept.layout.label_file):  # also where links in the raw folder lead
        ledger = Ledger(out_dir)  # owned before written: a killed run's files are still ours
        ledger.record(n for it in items for n in (it.image.name, it.image.with_suffix(".txt").name))
        ledger.record([DERIVED_MANIFEST])
        copies = DerivedCopies(out_dir)
        show = progress and len(items) >= PROGRESS_MIN
        # one thread: files created in one folder serialise on its lock; threads only add contention
        placements = zip(items, labels, strict=True)
        with Progress("expw: writing", total=len(items), unit="img", enabled=show) as reporter:
            for item, label in reporter.iterate(placements):
                source = image_dir / item.group
                if item.group in recipes:
                    copies.write(source, item.image, recipes[item.group])
                    _place_label(item.image, label)
                else:
                    _place(source, item.image, label, copy)
        copies.save()
        stats.details["derived"] = _derived_counts(recipes.values(), max_side, copies.written)
        _record_renames(out_dir, renamed, ledger, stats)
    return ConversionResult(items, stats)


def _derived_counts(recipes, max_side: int, written: int) -> dict[str, int]:
    """stats.json's ``derived`` block: copies by reason (one copy may have several)."""
    recipes = list(recipes)
    return {
        "copies": len(recipes),
        "written_this_run": written,
        "upright": sum(r.orientation != 1 for r in recipes),
        "shrunk": sum(r.max_side > 0 for r in recipes),  # only set where the long side exceeds
        "recoded": sum(r.recode is not None for r in recipes),
        "masked": sum(r.mask is not None for r in recipes),
        "max_side": max_side,
    }


def _record_renames(
    out_dir: Path, renamed: dict[str, str], ledger: Ledger, stats: ConversionStats
) -> None:
    renamed_file = out_dir / "renamed.tsv"
    if renamed:
        table = "".join(f"{old}\t{new}\n" for old, new in sorted(renamed.items()))
        ledger.record([renamed_file.name])
        atomic_write_text(renamed_file, "original\toutput\n" + table)
        stats.details["renamed_file"] = str(renamed_file)
    else:
        ledger.remove(renamed_file.name)
    stats.details["renamed"] = len(renamed)
