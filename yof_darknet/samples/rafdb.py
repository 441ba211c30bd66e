"""A RAF-DB look-alike (drawn faces) in the exact layout and file formats of RAF-DB basic.

RAF-DB may not be redistributed, so the tests (and ``sample --lookalikes``) use this:
``out/basic/EmoLabel/list_patition_label.txt`` (``train_00001.jpg 5``, codes 1..7),
``out/basic/Image/original/*.jpg``, ``out/basic/Image/aligned/*_aligned.jpg`` (100x100 crops),
``out/basic/Annotation/boundingbox/<stem>_boundingbox.txt`` (``x1 y1 x2 y2`` with the trailing
space most of them have), ``out/basic/Annotation/manual/<stem>_manu_attri.txt`` (5 landmarks,
gender, race, age) and ``out/compound/`` (its own label list of compound codes 1..11).

One face per picture is annotated, as in RAF-DB; one picture also shows a bystander (a real
face photo, ``sample_bystanders``), which ``--unannotated`` finds. Beside the faces it writes
one trap per way a label line can be left out; ``RafdbSampleInfo.reasons`` says how many lines
the converter must count under each reason, ``kept`` how many faces it keeps.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yof_darknet.core.expressions import RAFDB_TO_CLASS
from yof_darknet.core.fileio import atomic_write_bytes, atomic_write_text
from yof_darknet.samples.bystanders import paste_bystander
from yof_darknet.samples.faces import encode, face_picture

DEFAULT_FACES = 16
COMPOUND_LINES = 5
_TEST_EVERY = 4  # every 4th face is a test_ image


@dataclass
class RafdbSampleInfo:
    """What ``write_rafdb_sample`` wrote, and what its conversion must find."""

    root: Path
    lines: int = 0
    kept: int = 0
    held_out: int = 0  # kept test_ faces
    kept_classes: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    past_edge: int = 0
    bystander: str = ""  # the image with an unannotated real face
    box_files: dict[str, str] = field(default_factory=dict)  # name → the box file's text


@dataclass
class _Writer:
    basic: Path
    info: RafdbSampleInfo
    labels: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def name(self, split: str) -> str:
        self.counts[split] += 1
        return f"{split}_{self.counts[split]:05d}.jpg"

    def label(self, text: str) -> None:
        self.labels.append(text)
        self.info.lines += 1

    def box_file(self, name: str, text: str) -> None:
        stem = Path(name).stem
        path = self.basic / "Annotation" / "boundingbox" / f"{stem}_boundingbox.txt"
        atomic_write_text(path, text)
        self.info.box_files[name] = text

    def face(self, rng, name: str, code: int, *, past_edge: bool = False):
        """The original picture, its aligned crop, box file and landmarks; returns the picture
        and the face box (l, t, r, b)."""
        width, height = int(rng.integers(150, 230)), int(rng.integers(150, 230))
        side = int(rng.integers(70, 100))
        left, top = int(rng.integers(5, width - side - 5)), int(rng.integers(5, height - side - 5))
        face = (left, top, left + side, top + side)
        img = face_picture(rng, (width, height), [face], [RAFDB_TO_CLASS[code]])
        x1, y1, x2, y2 = (float(v) + float(rng.uniform(-2, 2)) for v in face)
        if past_edge:
            x1, y1 = -3.5, -2.25
        trailing = " " if rng.random() < 0.8 else ""
        self.box_file(name, f"{x1:.2f} {y1:.2f} {x2:.2f} {y2:.2f}{trailing}")
        self.extras(name, img, face)
        return img, face

    def extras(self, name: str, img: np.ndarray, face: tuple[int, int, int, int]) -> None:
        import cv2

        stem = Path(name).stem
        crop = cv2.resize(img[face[1] : face[3], face[0] : face[2]], (100, 100))
        atomic_write_bytes(self.basic / "Image" / "aligned" / f"{stem}_aligned.jpg",
                           encode(crop, "jpeg"))  # fmt: skip
        left, top, right, bottom = face
        marks = [(left + 0.3 * (right - left), top + 0.4 * (bottom - top)),
                 (left + 0.7 * (right - left), top + 0.4 * (bottom - top)),
                 (left + 0.5 * (right - left), top + 0.6 * (bottom - top)),
                 (left + 0.35 * (right - left), top + 0.8 * (bottom - top)),
                 (left + 0.65 * (right - left), top + 0.8 * (bottom - top))]  # fmt: skip
        text = "".join(f"{x:.2f}\t{y:.2f}\n" for x, y in marks) + "0\n1\n2\n"
        atomic_write_text(self.basic / "Annotation" / "manual" / f"{stem}_manu_attri.txt", text)

    def picture(self, name: str, img: np.ndarray) -> None:
        atomic_write_bytes(self.basic / "Image" / "original" / name, encode(img, "jpeg"))

    def kept(self, name: str, code: int) -> None:
        self.info.kept += 1
        self.info.held_out += name.startswith("test_")
        self.info.kept_classes[RAFDB_TO_CLASS[code]] += 1


def _faces(w: _Writer, rng: np.random.Generator, count: int) -> None:
    for index in range(count):
        code = 1 + index % 7
        name = w.name("test" if index % _TEST_EVERY == _TEST_EVERY - 1 else "train")
        img, _ = w.face(rng, name, code, past_edge=index == 0)
        w.picture(name, img)
        w.label(f"{name} {code}")
        w.kept(name, code)
    w.info.past_edge += 1


def _bystander(w: _Writer, rng: np.random.Generator) -> None:
    """A kept face with a real face photo pasted beside it (no label line names it)."""
    name = w.name("train")
    face = (20, 40, 120, 150)
    img = face_picture(rng, (320, 200), [face], [RAFDB_TO_CLASS[4]])
    if paste_bystander(rng, img, [face]) is None:
        raise RuntimeError("no room for the bystander")  # 180 px beside the face: always room
    w.box_file(name, "".join(f"{v:.2f} " for v in face))
    w.extras(name, img, face)
    w.picture(name, img)
    w.label(f"{name} 4")
    w.kept(name, 4)
    w.info.bystander = name


def _traps(w: _Writer, rng: np.random.Generator) -> None:
    info = w.info
    for reason, text in (
        ("inverted_box", lambda f: f"{f[2]}.00 {f[1]}.00 {f[0]}.00 {f[3]}.00 "),
        ("wrong_field_count", lambda f: f"{f[0]} {f[1]} {f[2]} "),
        ("non_numeric", lambda f: f"{f[0]} {f[1]} right {f[3]}"),
        ("degenerate_box", lambda f: f"{f[0]}.00 {f[1]}.00 {f[0]}.50 {f[3]}.00 "),
    ):
        name = w.name("train")
        img, face = w.face(rng, name, 7)
        w.box_file(name, text(face))
        w.picture(name, img)
        w.label(f"{name} 7")
        info.reasons[reason] += 1
    name = w.name("train")
    img, _ = w.face(rng, name, 3)
    (w.basic / "Annotation" / "boundingbox" / f"{Path(name).stem}_boundingbox.txt").unlink()
    w.picture(name, img)
    w.label(f"{name} 3")
    info.reasons["missing_box_file"] += 1
    name = w.name("train")
    w.face(rng, name, 2)  # box file, no picture
    w.label(f"{name} 2")
    info.reasons["missing_image"] += 1
    name = w.name("train")
    img, _ = w.face(rng, name, 5)
    w.picture(name, img)
    w.label(f"{name} 5")
    w.label(f"{name} 5")
    w.kept(name, 5)
    info.reasons["duplicate"] += 1
    name = w.name("test")
    img, _ = w.face(rng, name, 1)
    w.picture(name, img)
    w.label(f"{name} 1")
    w.label(f"{name} 6")
    info.reasons["conflicting_labels"] += 2
    for line, reason in (
        ("train_09999.jpg", "wrong_field_count"),
        ("train_09998.jpg happy", "non_numeric"),
        ("train_09997.jpg 8", "label_out_of_range"),
        ("val_00001.jpg 3", "bad_image_name"),
    ):
        w.label(line)
        info.reasons[reason] += 1


def _compound(root: Path, rng: np.random.Generator) -> None:
    """``compound/``: pictures and a label list of compound codes (1..11)."""
    lines = []
    for index in range(COMPOUND_LINES):
        name = f"{'test' if index % 2 else 'train'}_{index + 1:04d}.jpg"
        img = face_picture(rng, (120, 120), [(20, 20, 100, 100)], [index % 7])
        atomic_write_bytes(root / "compound" / "Image" / "original" / name, encode(img, "jpeg"))
        lines.append(f"{name} {1 + index % 11}\n")
    atomic_write_text(root / "compound" / "EmoLabel" / "list_patition_label.txt", "".join(lines))


def write_rafdb_sample(
    out: Path, seed: int = 0, faces: int = DEFAULT_FACES, compound: bool = True
) -> RafdbSampleInfo:
    """Write the look-alike under ``out`` (``basic/``, and ``compound/`` when ``compound``):
    ``faces`` faces plus the bystander picture and the traps; the same seed gives the same
    bytes."""
    out = Path(out)
    info = RafdbSampleInfo(root=out)
    writer = _Writer(out / "basic", info)
    rng = np.random.default_rng([seed, 15339])
    _faces(writer, rng, faces)
    _bystander(writer, rng)
    _traps(writer, rng)
    label_list = out / "basic" / "EmoLabel" / "list_patition_label.txt"
    atomic_write_text(label_list, "".join(f"{line}\n" for line in writer.labels))
    if compound:
        _compound(out, rng)
        info.reasons["compound_expression"] += COMPOUND_LINES
    return info
