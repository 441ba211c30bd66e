"""A user's own labels: a CSV of boxes, or a YOLO/Darknet folder, as rows of faces.

CSV (``--labels FILE.csv``): one face a row, ``image,x1,y1,x2,y2,label`` with the box in the
stored image's pixels and ``label`` a class name or a class index (0-based), ``image`` a path
under the image folder. A first line naming the columns is the header; it may name them in any
order, with the usual synonyms (``filename``/``path``, ``xmin``/``left``, ``ymin``/``top``,
``xmax``/``right``, ``ymax``/``bottom``, ``class``/``expression``/``emotion``), and other columns
are ignored. Without a header the six columns are taken in that order. Fields may be quoted
(Python's ``csv`` reads them).

YOLO/Darknet folder (``--labels`` a names file: ``obj.names``, ``classes.txt``): every image
under the image folder with a label file beside it (``photo.txt`` for ``photo.jpg``, or in the
``labels/`` folder beside an ``images/`` one, as YOLOv5 lays them out); lines ``class cx cy w h``
normalised to the image; the class index names a line of the names file.

Labels are matched by name to the classes (``expressions.class_of_name``); a label naming none is
a face without a class (``class_id`` ``NO_CLASS``). Malformed rows are counted with file:line:
``wrong_field_count``, ``non_numeric``, ``label_out_of_range`` (an index outside the classes, or
outside the names file), ``bad_image_name`` (empty, absolute, or with a ``..`` component).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.expressions import class_of_name
from yof_darknet.datasets.boxfaces import example
from yof_darknet.datasets.expw_lst import label_lst_text, report_malformed, split_fields
from yof_darknet.datasets.stats import NO_CLASS, ConversionStats

COLUMNS = ("image", "x1", "y1", "x2", "y2", "label")
SYNONYMS = {
    "image": ("image", "filename", "file", "path", "image_path", "img"),
    "x1": ("x1", "xmin", "left"),
    "y1": ("y1", "ymin", "top"),
    "x2": ("x2", "xmax", "right"),
    "y2": ("y2", "ymax", "bottom"),
    "label": ("label", "class", "class_name", "expression", "emotion"),
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")
FRAME = ["line", "source", "name", "x1", "y1", "x2", "y2", "class_id", "normalised"]


def read_names(path: Path) -> tuple[str, ...]:
    """The class names of a names file, one a line (blank lines ignored); an error names the
    file when it holds none or the same name twice."""
    text, _ = label_lst_text(path, path.read_bytes())
    names = tuple(line.strip() for line in text.split("\n") if line.strip())
    if not names:
        raise DatasetError(f"{path}: no class name in it; write one class name a line")
    seen: set[str] = set()
    for number, name in enumerate(names, start=1):
        if name.lower() in seen:
            raise DatasetError(f"{path}: class {name!r} is named twice (line {number})")
        seen.add(name.lower())
    return names


def label_class(text: str, classes: Sequence[str]) -> int | None:
    """The class of a CSV label: an index (``"3"``) or a name; ``-2`` for an index outside
    the classes, None for a name that is none of them.

    >>> label_class("3", ("a", "b")), label_class("B", ("a", "b")), label_class("c", ("a", "b"))
    (-2, 1, None)
    """
    text = text.strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        return index if 0 <= index < len(classes) else -2
    return class_of_name(text, tuple(classes))


def bad_image_name(name: str) -> bool:
    """An image path that is empty, absolute or leaves the image folder."""
    return not name or name.startswith("/") or any(p == ".." for p in name.split("/"))


def _header(fields: list[str]) -> dict[str, int] | None:
    """Column positions named by a header line, or None when ``fields`` is no header."""
    lowered = [f.strip().lower() for f in fields]
    found = {}
    for column, names in SYNONYMS.items():
        hits = [i for i, f in enumerate(lowered) if f in names]
        if hits:
            found[column] = hits[0]
    return found if len(found) == len(COLUMNS) else None


def read_csv_labels(path: Path, classes: Sequence[str], stats: ConversionStats) -> pd.DataFrame:
    """The well-formed rows of a labels CSV as a frame (``FRAME``); malformed rows counted."""
    text, notes = label_lst_text(path, path.read_bytes())
    stats.details.update(notes)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[object]] = []
    bad: list[tuple[int, str, str]] = []
    position = {column: index for index, column in enumerate(COLUMNS)}
    expected, first = len(COLUMNS), True
    for fields in reader:
        number = reader.line_num
        if not any(f.strip() for f in fields):
            continue
        if first:
            first = False
            header = _header(fields)
            stats.details["csv_header"] = header is not None
            if header is not None:
                position, expected = header, len(fields)
                continue
        if len(fields) != expected:
            why = f"{len(fields)} fields instead of {expected}: {fields!r}"
            bad.append((number, "wrong_field_count", why))
            continue
        problem, values = _csv_row(fields, position, classes)
        if problem is not None:
            bad.append((number, problem, f"{problem.replace('_', ' ')}: {fields!r}"))
            continue
        rows.append([number, 0, *values])
    report_malformed(stats, path, bad)
    return _frame(rows)


def _csv_row(
    fields: list[str], position: dict[str, int], classes: Sequence[str]
) -> tuple[str | None, list[object]]:
    name = fields[position["image"]].strip()
    try:
        box = [float(fields[position[c]]) for c in ("x1", "y1", "x2", "y2")]
    except ValueError:
        return "non_numeric", []
    if not np.isfinite(box).all():
        return "non_numeric", []
    class_id = label_class(fields[position["label"]], classes)
    if class_id == -2:
        return "label_out_of_range", []
    if bad_image_name(name):
        return "bad_image_name", []
    return None, [name, *box, NO_CLASS if class_id is None else class_id, False]


def _frame(rows: list[list[object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=FRAME)
    return frame.astype(
        {"line": np.int64, "source": np.int64, "x1": np.float64, "y1": np.float64,
         "x2": np.float64, "y2": np.float64, "class_id": np.int64, "normalised": bool}
    )  # fmt: skip


def label_file_of(image: Path) -> Path | None:
    """The YOLO label of ``image``: ``.txt`` beside it, else in ``labels/`` for ``images/``."""
    beside = image.with_suffix(".txt")
    if beside.is_file():
        return beside
    parts = list(image.parts)
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "images":
            other = Path(*parts[:index], "labels", *parts[index + 1 :]).with_suffix(".txt")
            return other if other.is_file() else None
    return None


def find_images(image_dir: Path) -> list[str]:
    """Image files under ``image_dir`` (any depth, links followed), as sorted relative paths."""
    found = []
    for folder, _, files in os.walk(image_dir, followlinks=True):
        for name in files:
            if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                found.append(os.path.relpath(os.path.join(folder, name), image_dir))
    return sorted(path.replace(os.sep, "/") for path in found)


def read_yolo_labels(
    image_dir: Path, names: Sequence[str], classes: Sequence[str], stats: ConversionStats
) -> tuple[pd.DataFrame, list[Path]]:
    """The rows of every image's YOLO label as a frame (``normalised`` boxes); malformed lines
    counted with file:line. Also returns the label files read."""
    mapped = [class_of_name(name, tuple(classes)) for name in names]
    rows: list[list[object]] = []
    files: list[Path] = []
    unlabelled = empty = 0
    for index, name in enumerate(find_images(image_dir)):
        path = label_file_of(image_dir / name)
        if path is None:
            unlabelled += 1
            example(stats, "images_without_label_examples", name)
            continue
        files.append(path)
        text, _ = label_lst_text(path, path.read_bytes())
        bad: list[tuple[int, str, str]] = []
        lines = [(n, split_fields(line)) for n, line in enumerate(text.split("\n"), start=1)]
        lines = [(n, fields) for n, fields in lines if fields]
        empty += not lines
        for number, fields in lines:
            problem, values = _yolo_line(fields, names, mapped)
            if problem is None:
                rows.append([number, index, name, *values])
            else:
                bad.append((number, problem, f"{problem.replace('_', ' ')}: {' '.join(fields)!r}"))
        report_malformed(stats, path, bad)
    stats.details.update(images_without_label=unlabelled, images_without_faces=empty)
    return _frame(rows), files


def _yolo_line(
    fields: list[str], names: Sequence[str], mapped: list[int | None]
) -> tuple[str | None, list[object]]:
    if len(fields) != 5:
        return "wrong_field_count", []
    try:
        index = float(fields[0])
        cx, cy, w, h = (float(v) for v in fields[1:])
    except ValueError:
        return "non_numeric", []
    if not np.isfinite([index, cx, cy, w, h]).all():
        return "non_numeric", []
    if index != int(index) or not 0 <= int(index) < len(names):
        return "label_out_of_range", []
    class_id = mapped[int(index)]
    box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    return None, [*box, NO_CLASS if class_id is None else class_id, True]
