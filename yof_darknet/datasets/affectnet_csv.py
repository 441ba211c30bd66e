"""AffectNet's ``training.csv`` and ``validation.csv``: their rows as a frame, malformed ones
counted with file:line.

Rows are comma separated, never quoted, 9 fields: ``subDirectory_filePath, face_x, face_y,
face_width, face_height, facial_landmarks, expression, valence, arousal``; the landmarks are 136
numbers joined by ``;``. The first line may be a header, plain or ``#``-prefixed, or there may be
none (some copies of ``validation.csv``): a first line whose first field is
``subDirectory_filePath`` (after an optional ``#``) is the header, any other is a row. The box is
``x1 = face_x, y1 = face_y, x2 = face_x + face_width, y2 = face_y + face_height`` in the stored
image's pixels; a row whose four box fields are ``NULL`` has no box (``box`` False).

Malformed rows, each counted under its first problem: ``wrong_field_count``, ``non_numeric`` (a
box field or the expression is not a number), ``label_out_of_range`` (expression not an integer
in 0..10), ``bad_image_name`` (empty, absolute, or with a ``.``/``..`` component).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.expw_lst import label_lst_text, report_malformed
from yof_darknet.datasets.stats import ConversionStats

FIELDS = 9
HEADER = "subdirectory_filepath"
EXPRESSIONS = range(11)  # 0..6 our classes, 7..10 contempt, none, uncertain, no-face
NULL = "null"
COLUMNS = ["line", "name", "x1", "y1", "x2", "y2", "code", "box"]


def header_variant(first_line: str) -> str:
    """``plain``, ``#`` or ``absent``: the header ``first_line`` is.

    >>> header_variant("#subDirectory_filePath,face_x,face_y"), header_variant("1/a.jpg,0,0")
    ('#', 'absent')
    """
    field = first_line.split(",", 1)[0].strip()
    if field.lstrip("#").strip().lower() != HEADER:
        return "absent"
    return "#" if field.startswith("#") else "plain"


def _bad_name(name: str) -> bool:
    parts = name.split("/")
    return not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return np.nan
    return value if np.isfinite(value) else np.nan


def _parse(fields: list[str]) -> tuple[str | None, list[object]]:
    """(the row's problem or None, its values in ``COLUMNS`` order less ``line``)."""
    name = fields[0].strip()
    box_text = [f.strip() for f in fields[1:5]]
    code = _number(fields[6].strip())
    if all(f.lower() == NULL for f in box_text):
        x, y, w, h = (np.nan,) * 4
        has_box = False
    else:
        x, y, w, h = (_number(f) for f in box_text)
        has_box = True
        if np.isnan([x, y, w, h]).any():
            return "non_numeric", []
    if np.isnan(code):
        return "non_numeric", []
    if code != int(code) or int(code) not in EXPRESSIONS:
        return "label_out_of_range", []
    if _bad_name(name):
        return "bad_image_name", []
    return None, [name, x, y, x + w, y + h, int(code), has_box]


_WHY = {
    "non_numeric": "a box field or the expression is not a number",
    "label_out_of_range": "expression is not an integer in 0..10",
    "bad_image_name": "subDirectory_filePath is empty, absolute or has a . or .. component",
}


def read_affectnet_csv(path: Path, stats: ConversionStats) -> pd.DataFrame:
    """Well-formed rows of one AffectNet CSV as a frame (``COLUMNS``; ``line`` 1-based).

    Malformed rows are counted in ``stats`` (examples with file:line) and never returned; blank
    lines are ignored; the header's variant goes into ``details["header"][file name]``. A file
    without a single row is an error.
    """
    text, notes = label_lst_text(path, path.read_bytes())
    stats.details.update(notes)
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise DatasetError(
            f"{path}: empty; restore it from the AffectNet download (one row per face: "
            "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
            "expression,valence,arousal)"
        )
    variant = header_variant(lines[first])
    stats.details.setdefault("header", {})[path.name] = variant
    rows: list[list[object]] = []
    bad: list[tuple[int, str, str]] = []
    for index, line in enumerate(lines):
        if not line.strip() or (index == first and variant != "absent"):
            continue
        number = index + 1
        fields = line.rstrip("\r").split(",")
        if len(fields) != FIELDS:
            shown = line.strip()[:120]
            bad.append(
                (number, "wrong_field_count", f"{len(fields)} fields instead of 9: {shown!r}")
            )
            continue
        problem, values = _parse(fields)
        if problem is not None:
            bad.append((number, problem, f"{_WHY[problem]}: {','.join(fields[:5])},…,{fields[6]}"))
            continue
        rows.append([number, *values])
    report_malformed(stats, path, bad)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype(
        {"line": np.int64, "x1": np.float64, "y1": np.float64, "x2": np.float64,
         "y2": np.float64, "code": np.int64, "box": bool}
    )  # fmt: skip
