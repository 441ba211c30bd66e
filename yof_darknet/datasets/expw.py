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

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.expressions import EXPW_TO_CLASS
from yof_darknet.core.fileio import protected
from yof_darknet.datasets.boxfaces import (
    Placement,
    check_apart,
    check_images,
    count_out,
    drop_repeats,
    find_unannotated_faces,
    place,
    rows_by_image,
)
from yof_darknet.datasets.expw_lst import (
    label_lst_text,
    read_label_lst,
    split_fields,
)
from yof_darknet.datasets.images import ImageInfo
from yof_darknet.datasets.stats import ConversionResult, ConversionStats
from yof_darknet.datasets.unannotated import CACHE_FOLDER, FaceCache, UnannotatedOptions
from yof_darknet.formats.labels import check_label_path

DATASET = "expw"
TITLE = "ExpW"


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
    return ExpwLayout(label_file, most_listed(folders, names))


def most_listed(folders: list[Path], names: list[str]) -> Path:
    """Of ``folders``, the one that holds most of ``names`` (the first on a tie)."""
    # os.path.exists: a name longer than the file system allows is absent, not an error
    found = [sum(os.path.exists(folder / name) for name in names) for folder in folders]
    return folders[int(np.argmax(found))]


def _describe(row: pd.Series) -> str:
    return (
        f"line {row.line}: {row['name']} box {row.left:g},{row.top:g},{row.right:g},"
        f"{row.bottom:g} label {row.label} score {row.confidence:g}"
    )


def _filter(
    rows: pd.DataFrame, stats: ConversionStats, min_face_score: float, drop_mixed: bool
) -> pd.DataFrame:
    """Drop duplicates, conflicting rows, low scores and (optionally) mixed images; counts each
    drop."""
    rows = drop_repeats(rows, stats, ("confidence", "label"), _describe)
    low = ~(rows["confidence"] > min_face_score).to_numpy()
    low_images = rows["name"][low].unique()
    rows = count_out(stats, rows, low, "low_score")
    if drop_mixed:
        rows = count_out(stats, rows, rows["name"].isin(low_images).to_numpy(), "mixed_image")
    return rows


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
    check_apart(out_dir, image_dir, TITLE)
    stats = ConversionStats(DATASET, str(Path(root).resolve()))
    stats.details.update(label_file=str(layout.label_file), image_dir=str(image_dir))
    rows = read_label_lst(layout.label_file, stats)
    rows = rows.assign(x1=rows["left"], y1=rows["top"], x2=rows["right"], y2=rows["bottom"])
    listed = rows_by_image(rows)
    rows["class_id"] = rows["label"].map(EXPW_TO_CLASS).astype(np.int64)
    rows = _filter(rows, stats, min_face_score, drop_mixed_images)
    rows, infos = check_images(
        rows, stats, image_dir, out_dir, inputs=[layout.label_file], progress=progress
    )
    return _Kept(layout, image_dir, stats, rows, listed, infos)


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
    rows, masked = find_unannotated_faces(
        kept.rows, kept.listed, stats, image_dir, out_dir, options, progress
    )
    where = Placement(DATASET, image_dir, out_dir, (kept.layout.label_file,), copy, max_side)
    rows = rows.sort_values(["name", "face_id", "line"])
    items = place(rows, kept.infos, masked, stats, where, progress)
    return ConversionResult(items, stats)
