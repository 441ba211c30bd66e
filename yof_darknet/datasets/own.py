"""A user's own labelled photos → Darknet (``datasets --images DIR --labels FILE``).

The labels are a CSV or a YOLO/Darknet folder (``own_labels``). The classes are our 7
expressions, labels matched by name (``happy`` → happiness...), or ``classes``: the user's own
list, for a detector of other classes (then ``obj.names`` and Table II follow that list, and the
paper's Table II is not compared).

Each row is kept or counted under one reason, checked in this order:

- malformed rows, with file:line: ``wrong_field_count``, ``non_numeric``, ``label_out_of_range``,
  ``bad_image_name``;
- ``duplicate`` / ``conflicting_labels`` (same image and box: same class / another class);
- ``no_class``: the label names none of the classes; ``image_left_out``: the other faces of an
  image with such a face (kept, that face would be trained on as background);
- the image checks and ``degenerate_box`` (``boxfaces.check_images``), ``unannotated_image``.

Boxes are in the stored image's pixels (the image as saved, before any EXIF turn: a labelling
tool that shows photos turned by their EXIF tag gives boxes in the turned image; such images are
counted in ``details["exif_turned_images"]`` so that they can be checked).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.expressions import CLASSES
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
from yof_darknet.datasets.images import ImageInfo
from yof_darknet.datasets.own_labels import read_csv_labels, read_names, read_yolo_labels
from yof_darknet.datasets.stats import NO_CLASS, ConversionResult, ConversionStats
from yof_darknet.datasets.unannotated import UnannotatedOptions
from yof_darknet.formats.labels import check_label_path

DATASET = "own"
TITLE = "your"


def label_format(labels: Path) -> str:
    """``csv`` for a ``.csv`` file, else ``yolo`` (the file is then a names file)."""
    return "csv" if Path(labels).suffix.lower() == ".csv" else "yolo"


def _in_pixels(listed: dict[str, np.ndarray], infos: dict[str, ImageInfo]) -> dict[str, np.ndarray]:
    """Normalised (YOLO) ``listed`` boxes in the pixels of their images (those checked)."""
    return {
        name: boxes * np.array([infos[name].width, infos[name].height] * 2, dtype=np.float64)
        for name, boxes in listed.items()
        if name in infos
    }


def _no_class(rows: pd.DataFrame, stats: ConversionStats, labels: Path) -> pd.DataFrame:
    unclassed = (rows["class_id"] == NO_CLASS).to_numpy()
    if unclassed.any() and unclassed.all():
        classes = ", ".join(stats.classes)
        raise DatasetError(
            f"{labels}: no label names one of the classes ({classes}); for a detector of "
            "other classes pass your own class list with --classes FILE (one name a line)"
        )
    names = set(rows["name"][unclassed])
    rows = count_out(stats, rows, unclassed, "no_class")
    return leave_out_images(stats, rows, names)


def convert_own(
    image_dir: Path,
    labels: Path,
    out_dir: Path,
    *,
    classes: Sequence[str] = CLASSES,
    copy: bool = False,
    unannotated: UnannotatedOptions | None = None,
    max_side: int = 0,
    progress: bool = False,
) -> ConversionResult:
    """Convert the photos under ``image_dir`` labelled by ``labels`` (a CSV, or a YOLO names
    file) into ``out_dir`` (``OUT/own``): one ``Item`` per image with a kept face."""
    out_dir = Path(out_dir).resolve()
    check_label_path(out_dir / "probe.jpg")
    image_dir, labels = Path(image_dir).resolve(), Path(labels)
    check_apart(out_dir, image_dir, TITLE)
    stats = ConversionStats(DATASET, str(image_dir), classes=tuple(classes))
    kind = label_format(labels)
    stats.details.update(labels=str(labels), label_format=kind, image_dir=str(image_dir))
    inputs: list[Path] = [labels]
    if kind == "csv":
        rows = read_csv_labels(labels, classes, stats)
    else:
        rows, files = read_yolo_labels(image_dir, read_names(labels), classes, stats)
        inputs += files
    if rows.empty:
        shown = "; ".join(stats.details.get("malformed_examples", [])[:3]) or "no row at all"
        raise DatasetError(f"{labels}: no well-formed face row ({shown})")
    listed = rows_by_image(rows)
    rows = drop_repeats(rows, stats)
    rows = _no_class(rows, stats, labels)
    rows, infos = check_images(rows, stats, image_dir, out_dir, inputs=inputs, progress=progress)
    stats.details["exif_turned_images"] = sum(info.orientation != 1 for info in infos.values())
    if kind == "yolo":
        listed = _in_pixels(listed, infos)
    rows, masked = find_unannotated_faces(
        rows, listed, stats, image_dir, out_dir, unannotated or UnannotatedOptions(), progress
    )
    where = Placement(DATASET, image_dir, out_dir, tuple(inputs), copy, max_side)
    items = place(rows.sort_values(["name", "line"]), infos, masked, stats, where, progress)
    return ConversionResult(items, stats)
