"""AffectNet (original release, manually annotated part) → Darknet.

``training.csv`` and ``validation.csv`` (``affectnet_csv``) list one face per row with its box in
the stored image's pixels and an expression code: 0..6 map to our classes
(``expressions.AFFECTNET_TO_CLASS``), 7..10 have none. ``validation.csv`` is AffectNet's public
held-out set (its test set was never released): with ``held_out="official"`` its images form the
test list (``Item.held_out``), with ``"drawn"`` they join the training pool and the test images are
drawn like ExpW's. The ``Automatically_Annotated_*`` part (model-made labels) is never read.

Each row is kept or counted under one reason, checked in this order:

- malformed rows, with file:line (``affectnet_csv``): ``wrong_field_count``, ``non_numeric``,
  ``label_out_of_range``, ``bad_image_name``;
- ``split_conflict``: an image listed in both CSVs (it cannot be in train and test);
- ``duplicate`` / ``conflicting_labels`` (same image and box: same code / another code);
- ``contempt`` (7), ``no_expression`` (8, "None"), ``uncertain`` (9), ``no_face`` (10): no class;
- ``no_box``: the box fields are ``NULL``;
- ``image_left_out``: another row of the same image is one of the last two kinds; kept, that
  face would be trained on (and scored) as background, so the image is left out;
- the image checks and ``degenerate_box`` (``boxfaces.check_images``), ``unannotated_image``.

Images are placed flat in ``OUT/affectnet/`` as ``<subDirectory>_<file>`` (``.jpg``/``.png``);
TIFF, BMP and other formats become derived PNG copies (``datasets.derived``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.expressions import AFFECTNET_TO_CLASS, AFFECTNET_UNCLASSED
from yof_darknet.datasets.affectnet_csv import read_affectnet_csv
from yof_darknet.datasets.boxfaces import (
    Placement,
    check_apart,
    check_images,
    count_out,
    drop_repeats,
    find_unannotated_faces,
    leave_out_images,
    place,
    rows_by_image,
)
from yof_darknet.datasets.expw import most_listed
from yof_darknet.datasets.stats import NO_CLASS, ConversionResult, ConversionStats
from yof_darknet.datasets.unannotated import UnannotatedOptions
from yof_darknet.formats.labels import check_label_path

DATASET = "affectnet"
TITLE = "AffectNet"
HELD_OUT = ("official", "drawn")
_LISTS = ("Manually_Annotated_file_lists", ".", "Manually_Annotated",
          "Manually_Annotated/Manually_Annotated_file_lists")  # fmt: skip
_IMAGES = ("Manually_Annotated_Images", "Manually_Annotated/Manually_Annotated_Images",
           "Manually_Annotated_compressed/Manually_Annotated_Images",
           "Manually_Annotated_compressed", "Manually_Annotated")  # fmt: skip


@dataclass(frozen=True)
class AffectNetLayout:
    training: Path
    validation: Path | None
    image_dir: Path


def find_layout(root: Path) -> AffectNetLayout:
    """Locate ``training.csv`` (``validation.csv`` beside it, or in another known folder) and the
    image folder: ``Manually_Annotated_Images/`` at the root or under ``Manually_Annotated/``
    or ``Manually_Annotated_compressed/``; of those that exist, the one holding most of the first
    listed images."""
    root = Path(root)
    folders = [root / name for name in _LISTS]
    training = next((f / "training.csv" for f in folders if (f / "training.csv").is_file()), None)
    if training is None:
        raise DatasetError(
            f"{root}: no AffectNet training.csv (looked in {', '.join(_LISTS)}); pass the "
            "folder of the original release that holds Manually_Annotated_file_lists/ and "
            "Manually_Annotated_Images/"
        )
    others = [training.parent, *folders]
    validation = next((f / "validation.csv" for f in others if (f / "validation.csv").is_file()),
                      None)  # fmt: skip
    images = [root / name for name in _IMAGES if (root / name).is_dir()]
    if not images:
        raise DatasetError(
            f"{root}: no AffectNet image folder (looked for {', '.join(_IMAGES)}); extract "
            "Manually_Annotated.tar there"
        )
    with training.open("rb") as handle:
        head = [line.decode("utf-8", "replace") for line in itertools.islice(handle, 201)]
    names = [line.split(",", 1)[0].strip() for line in head if "," in line]
    return AffectNetLayout(training, validation, most_listed(images, names))


def _read(layout: AffectNetLayout, stats: ConversionStats, official: bool) -> pd.DataFrame:
    """Both CSVs' well-formed rows, ``held_out`` on validation.csv's (with ``official``)."""
    frames = [read_affectnet_csv(layout.training, stats).assign(held_out=False, file=0)]
    if layout.validation is not None:
        validation = read_affectnet_csv(layout.validation, stats)
        frames.append(validation.assign(held_out=official, file=1))
    rows = pd.concat(frames, ignore_index=True)
    codes = rows["code"].to_numpy()
    rows["class_id"] = np.array([AFFECTNET_TO_CLASS.get(int(c), NO_CLASS) for c in codes],
                                dtype=np.int64)  # fmt: skip
    return rows


def _filter(rows: pd.DataFrame, stats: ConversionStats) -> pd.DataFrame:
    """The reasons of the module's list from ``split_conflict`` to ``image_left_out``."""
    files = rows.groupby("name")["file"].nunique()
    both = set(files[files > 1].index)
    if both:
        stats.details["split_conflict_examples"] = sorted(both)[:5]
    rows = count_out(stats, rows, rows["name"].isin(both).to_numpy(), "split_conflict")
    rows = drop_repeats(rows, stats, ("code",))
    unusable: set[str] = set()
    for code, reason in AFFECTNET_UNCLASSED.items():
        hit = (rows["code"] == code).to_numpy()
        unusable |= set(rows["name"][hit])
        rows = count_out(stats, rows, hit, reason)
    boxless = ~rows["box"].to_numpy(dtype=bool)
    unusable |= set(rows["name"][boxless])
    rows = count_out(stats, rows, boxless, "no_box")
    return leave_out_images(stats, rows, unusable)


def _held_out_note(layout: AffectNetLayout, held_out: str) -> str:
    if held_out == "drawn":
        return "drawn from both CSVs' images (--held-out drawn)"
    if layout.validation is None:
        return "drawn from training.csv's images: no validation.csv was found"
    return "validation.csv"


def convert_affectnet(
    root: Path,
    out_dir: Path,
    *,
    held_out: str = "official",
    copy: bool = False,
    unannotated: UnannotatedOptions | None = None,
    max_side: int = 0,
    progress: bool = False,
) -> ConversionResult:
    """Convert the AffectNet folder ``root`` into ``out_dir`` (``OUT/affectnet``): one ``Item``
    per image with a kept face (``group`` = its ``subDirectory_filePath``), every row counted."""
    if held_out not in HELD_OUT:
        raise DatasetError(f"--held-out {held_out}: use one of {', '.join(HELD_OUT)}")
    out_dir = Path(out_dir).resolve()
    check_label_path(out_dir / "probe.jpg")
    layout = find_layout(root)
    image_dir = layout.image_dir.resolve()
    check_apart(out_dir, image_dir, TITLE)
    stats = ConversionStats(DATASET, str(Path(root).resolve()))
    inputs = tuple(p for p in (layout.training, layout.validation) if p is not None)
    stats.details.update(
        csv_files=[str(p) for p in inputs],
        image_dir=str(image_dir),
        held_out=_held_out_note(layout, held_out),
    )
    rows = _read(layout, stats, held_out == "official")
    listed = rows_by_image(rows)
    rows = _filter(rows, stats)
    rows, infos = check_images(rows, stats, image_dir, out_dir, inputs=inputs, progress=progress)
    rows, masked = find_unannotated_faces(
        rows, listed, stats, image_dir, out_dir, unannotated or UnannotatedOptions(), progress
    )
    where = Placement(DATASET, image_dir, out_dir, inputs, copy, max_side)
    items = place(rows.sort_values(["name", "line"]), infos, masked, stats, where, progress)
    return ConversionResult(items, stats)
