"""An AffectNet look-alike (drawn faces) in the exact layout and CSV format of the original release.

AffectNet may not be redistributed, so the tests (and ``sample --lookalikes``) use this:
``out/Manually_Annotated_file_lists/training.csv`` and ``validation.csv`` (9 comma-separated
fields, the landmarks 136 numbers joined by ``;``, the header plain, ``#``-prefixed or absent as
asked) and ``out/Manually_Annotated_Images/<n>/<56 hex digits>.<ext>`` with mixed extensions
(``jpg``, ``JPG``, ``Jpeg``, ``png``, ``bmp``, ``tif``). Each picture is a loose square face crop
(``face_x == face_y``, ``face_width == face_height``, as in every public sample).

Beside the faces it writes one trap per way a row can be left out; ``AffectNetSampleInfo.reasons``
says how many rows the converter must count under each reason, ``kept`` how many faces it keeps
(``kept_classes`` per class, ``held_out`` of them from validation.csv) and ``recoded`` how many of
the kept images Darknet cannot read as they are (BMP, TIFF).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yof_darknet.core.expressions import AFFECTNET_TO_CLASS
from yof_darknet.core.fileio import atomic_write_bytes, atomic_write_text
from yof_darknet.samples.faces import encode, face_picture

HEADER_LINE = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,"
    "valence,arousal"
)
HEADERS = ("plain", "#", "absent")
# extension → how it is encoded; the real release mixes these (86 TIFFs among 420,000)
EXTENSIONS = (("jpg", "jpeg"), ("JPG", "jpeg"), ("Jpeg", "jpeg"), ("png", "png"),
              ("jpg", "jpeg"), ("bmp", "bmp"), ("tif", "tiff"))  # fmt: skip
RECODED = ("bmp", "tiff")
DEFAULT_FACES = 21
_VALIDATION_EVERY = 4  # every 4th face image goes to validation.csv


@dataclass
class AffectNetSampleInfo:
    """What ``write_affectnet_sample`` wrote, and what its conversion must find."""

    root: Path
    rows: int = 0
    kept: int = 0
    held_out: int = 0  # kept faces of validation.csv
    recoded: int = 0  # kept images Darknet cannot read as they are
    kept_classes: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    past_edge: int = 0  # kept faces whose box reaches past the picture


@dataclass
class _Writer:
    root: Path
    seed: int
    info: AffectNetSampleInfo
    lines: dict[str, list[str]] = field(default_factory=lambda: {"training": [], "validation": []})
    count: int = 0

    def image_name(self, ext: str) -> str:
        self.count += 1
        digest = hashlib.sha224(f"{self.seed}-{self.count}".encode()).hexdigest()
        return f"{1 + self.count % 7}/{digest}.{ext}"

    def picture(self, name: str, data: bytes) -> None:
        atomic_write_bytes(self.root / "Manually_Annotated_Images" / name, data)

    def row(
        self, csv: str, name: str, box: tuple | str, code: int | str, rng, *, fields=None
    ) -> None:
        """One CSV row: ``box`` = (x, y, w, h) or ``"NULL"``; ``fields`` replaces the line."""
        if fields is None:
            if isinstance(box, str):  # "NULL"
                box_text, marks = "NULL,NULL,NULL,NULL", "NULL"
            else:
                x, y, w, h = box
                box_text = f"{x},{y},{w},{h}"
                points = rng.uniform([x, y], [x + w, y + h], size=(68, 2))
                marks = ";".join(f"{v:.2f}" for v in points.ravel())
            unknown = code in (9, 10)
            valence = -2 if unknown else round(float(rng.uniform(-1, 1)), 6)
            arousal = -2 if unknown else round(float(rng.uniform(-1, 1)), 6)
            fields = [name, box_text, marks, str(code), str(valence), str(arousal)]
        self.lines[csv].append(",".join(fields))
        self.info.rows += 1

    def face(self, rng, ext: str = "jpg", kind: str = "jpeg", code: int | None = None,
             pad: int | None = None) -> tuple[str, tuple[int, int, int, int], int]:  # fmt: skip
        """A square face crop; returns its name, box (x, y, w, h) and code."""
        side = int(rng.choice((96, 112, 128)))
        margin = round(side * 0.12) if pad is None else pad
        code = int(rng.integers(7)) if code is None else code
        inner = (max(margin, 0), max(margin, 0), side - max(margin, 0), side - max(margin, 0))
        img = face_picture(rng, (side, side), [inner], [AFFECTNET_TO_CLASS.get(code, 6)])
        name = self.image_name(ext)
        self.picture(name, encode(img, kind))
        return name, (margin, margin, side - 2 * margin, side - 2 * margin), code


def _faces(w: _Writer, rng: np.random.Generator, count: int) -> None:
    """``count`` plain faces, every class and extension, every 4th one in validation.csv."""
    for index in range(count):
        ext, kind = EXTENSIONS[index % len(EXTENSIONS)]
        name, box, code = w.face(rng, ext, kind, code=index % 7)
        held = index % _VALIDATION_EVERY == _VALIDATION_EVERY - 1
        w.row("validation" if held else "training", name, box, code, rng)
        w.info.kept += 1
        w.info.held_out += held
        w.info.recoded += kind in RECODED
        w.info.kept_classes[AFFECTNET_TO_CLASS[code]] += 1


def _traps(w: _Writer, rng: np.random.Generator) -> None:
    """One row (or image) per reason the converter counts."""
    info = w.info
    for code, reason in ((7, "contempt"), (8, "no_expression"), (9, "uncertain"), (10, "no_face")):
        name, box, _ = w.face(rng, code=code)
        w.row("training", name, box, code, rng)
        info.reasons[reason] += 1
    name, _, code = w.face(rng)
    w.row("training", name, "NULL", code, rng)
    info.reasons["no_box"] += 1
    # two faces, one contempt: the other is left out with its image
    img = face_picture(rng, (200, 100), [(10, 10, 90, 90), (110, 10, 190, 90)], [3, 6])
    name = w.image_name("jpg")
    w.picture(name, encode(img, "jpeg"))
    w.row("training", name, (10, 10, 80, 80), 1, rng)
    w.row("training", name, (110, 10, 80, 80), 7, rng)
    info.reasons.update(["image_left_out", "contempt"])
    # a repeated row: kept once
    name, box, code = w.face(rng)
    w.row("training", name, box, code, rng)
    w.row("training", name, box, code, rng)
    info.kept += 1
    info.kept_classes[AFFECTNET_TO_CLASS[code]] += 1
    info.reasons["duplicate"] += 1
    # the same face with two codes: both dropped
    name, box, code = w.face(rng, code=1)
    w.row("training", name, box, 1, rng)
    w.row("training", name, box, 2, rng)
    info.reasons["conflicting_labels"] += 2
    # in both CSVs: both dropped
    name, box, code = w.face(rng)
    w.row("training", name, box, code, rng)
    w.row("validation", name, box, code, rng)
    info.reasons["split_conflict"] += 2
    _image_traps(w, rng)
    _malformed(w, rng)


def _image_traps(w: _Writer, rng: np.random.Generator) -> None:
    info = w.info
    w.row("training", w.image_name("jpg"), (8, 8, 80, 80), 1, rng)  # never written
    info.reasons["missing_image"] += 1
    name = w.image_name("jpg")
    w.picture(name, b"not an image, whatever its name says\n")
    w.row("training", name, (8, 8, 80, 80), 1, rng)
    info.reasons["unreadable_image"] += 1
    name, box, code = w.face(rng)
    path = w.root / "Manually_Annotated_Images" / name
    data = path.read_bytes()
    atomic_write_bytes(path, data[: len(data) * 2 // 3])  # a truncated JPEG
    w.row("training", name, box, code, rng)
    info.reasons["undecodable_image"] += 1
    name, box, code = w.face(rng, "gif", "gif")
    w.row("training", name, box, code, rng)
    info.reasons["animated_image"] += 1
    name, (x, y, _, h), code = w.face(rng)
    w.row("training", name, (x, y, 0, h), code, rng)
    info.reasons["degenerate_box"] += 1
    # a box a few pixels past every edge: kept, clipped to the picture
    name, box, code = w.face(rng, pad=-4)
    w.row("training", name, box, code, rng)
    info.kept += 1
    info.past_edge += 1
    info.kept_classes[AFFECTNET_TO_CLASS[code]] += 1


def _malformed(w: _Writer, rng: np.random.Generator) -> None:
    """Rows the reader must report with file:line."""
    info = w.info
    name, (x, y, s, _), _ = w.face(rng)
    marks = ";".join(["1.0"] * 136)
    w.row("training", "", (), 0, rng, fields=[name, str(x), str(y), str(s), str(s), marks, "1"])
    info.reasons["wrong_field_count"] += 1
    w.row("training", "", (), 0, rng, fields=[name, "x12", str(y), str(s), str(s), marks, "1",
                                              "0.1", "0.2"])  # fmt: skip
    info.reasons["non_numeric"] += 1
    w.row("training", "", (), 0, rng, fields=[name, str(x), str(y), str(s), str(s), marks, "11",
                                              "0.1", "0.2"])  # fmt: skip
    info.reasons["label_out_of_range"] += 1
    w.row("training", "", (), 0, rng, fields=["../outside.jpg", str(x), str(y), str(s), str(s),
                                              marks, "1", "0.1", "0.2"])  # fmt: skip
    info.reasons["bad_image_name"] += 1


def _csv_text(lines: list[str], header: str) -> str:
    head = {"plain": [HEADER_LINE], "#": ["#" + HEADER_LINE], "absent": []}[header]
    return "".join(f"{line}\r\n" for line in [*head, *lines])


def write_affectnet_sample(
    out: Path,
    seed: int = 0,
    faces: int = DEFAULT_FACES,
    headers: tuple[str, str] = ("plain", "absent"),
) -> AffectNetSampleInfo:
    """Write the look-alike under ``out``: ``faces`` plain faces plus the traps; ``headers``: the
    header variant (``HEADERS``) of training.csv and of validation.csv. Lines end in CR LF, as
    in the release; the same seed gives the same bytes."""
    info = AffectNetSampleInfo(root=Path(out))
    writer = _Writer(Path(out), seed, info)
    rng = np.random.default_rng([seed, 27])
    _faces(writer, rng, faces)
    _traps(writer, rng)
    lists = Path(out) / "Manually_Annotated_file_lists"
    for (csv, lines), header in zip(writer.lines.items(), headers, strict=True):
        atomic_write_text(lists / f"{csv}.csv", _csv_text(lines, header))
    return info
