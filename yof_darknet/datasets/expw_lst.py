"""ExpW's ``label.lst``: its rows as a frame, malformed ones counted with file:line.

Rows are ``name face_id top left right bottom confidence label``, separated by ASCII blanks.
The file is read right whatever its encoding (UTF-8, names that are not UTF-8 as the file system
names them, UTF-16 with its byte order mark) and line ends (``\\n``, ``\\r\\n``, CR only);
lines end at ``\\n`` only, so a form feed or U+2028 inside a row never starts a new one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.expressions import EXPW_TO_CLASS
from yof_darknet.datasets.stats import NO_CLASS, ConversionStats

NUMERIC = ["face_id", "top", "left", "right", "bottom", "confidence", "label"]
COLUMNS = ["name", *NUMERIC]
MAX_EXAMPLES = 5


def report_malformed(
    stats: ConversionStats, label_file: Path, rows: list[tuple[int, str, str]]
) -> None:
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


_FIELD_SEPARATORS = re.compile(r"[ \t\r\f\v]+")


def split_fields(line: str) -> list[str]:
    """The fields of a row, split at ASCII blanks only (``str.split()`` would also split a name
    at U+2028, U+0085 or other Unicode spaces, which are part of the name).

    >>> split_fields("a\\u2028b.jpg 0 1\\t2\\r")
    ['a\\u2028b.jpg', '0', '1', '2']
    """
    return [field for field in _FIELD_SEPARATORS.split(line) if field]


def label_lst_text(path: Path, data: bytes) -> tuple[str, dict[str, str]]:
    """The text of ``label.lst``, read right whatever its encoding and line ends, and what was
    unusual about them (for stats.json): UTF-8 (or bytes that are not: names as the file
    system names them), UTF-16 (with its byte order mark); ``\\n``, ``\\r\\n`` or CR-only line
    ends."""
    notes: dict[str, str] = {}
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DatasetError(
                f"{path}: starts with a UTF-16 byte order mark but does not decode as UTF-16 "
                f"(byte {exc.start}); save it as UTF-8 (one row per line)"
            ) from None
        notes["label_file_encoding"] = "utf-16"
    elif b"\0" in data[:4096]:
        raise DatasetError(
            f"{path}: holds NUL bytes (UTF-16 or UTF-32 without a byte order mark, or not a "
            "text file); save it as UTF-8 text, one row per line"
        )
    else:
        text = decode_names(data)
    if "\n" not in text and "\r" in text:
        notes["label_file_line_ends"] = "CR"
        text = text.replace("\r", "\n")
    return text, notes


def read_label_lst(path: Path, stats: ConversionStats) -> pd.DataFrame:
    """Well-formed rows of ``label.lst`` as a frame (``line`` = 1-based line number).

    Malformed rows are counted in ``stats`` and never returned; blank lines are ignored. A file
    without a single row is an error (nothing to convert).
    """
    rows: list[list[str]] = []
    bad: list[tuple[int, str, str]] = []
    text, notes = label_lst_text(path, path.read_bytes())
    stats.details.update(notes)
    if not text.strip():
        raise DatasetError(
            f"{path}: label.lst is empty; nothing was written. Restore it from the ExpW "
            "download (one row per face: image face_id top left right bottom confidence label)"
        )
    for number, line in enumerate(text.split("\n"), start=1):
        fields = split_fields(line)
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
    report_malformed(stats, path, sorted(bad))
    good = frame[~rejected].reset_index(drop=True)
    good["label"] = good["label"].astype(np.int64)
    return good
