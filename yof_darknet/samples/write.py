"""The embedded sample's ExpW part: drawn faces in the exact ExpW layout, traps included.

``write_expw_sample(out)`` writes ``out/image/origin/*.jpg`` and ``out/label/label.lst`` (rows
``image face_id top left right bottom confidence label``, single spaces, LF, no header), generated
from a seed: the same seed gives the same bytes. Every drawn face has exactly one row (twice for
the exact-duplicate trap) with a score above 50, so the converter keeps every face and no drawn
face is ever left as background. The real format's traps are rows that are not drawn faces:

- ``low_score``: score <= 50 on a background box (a face detector's false alarm);
- ``exactly_50``: score 50.0000 on a background box (dropped by the strict ``> 50``);
- ``degenerate``: a zero-size box, and a box wholly outside the image (empty once clipped);
- ``faceless``: extra images with no face whose only row is one of the above (dropped whole);
- ``unlisted``: images in ``origin/`` without any row (the real ``origin/`` has more images than
  ``label.lst`` names);
- ``duplicate``: an exact copy of a face's row; ``past_edge``: a face's box crossing the border;
- ``over_100``: scores above 100; ``multi_face``: images with several faces (face_id 0, 1, 2).

``shuffle_labels=True`` writes the permuted-label control: the same images, boxes and class
histogram, but the faces' labels permuted, so that nothing in the pixels predicts the class.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yof_darknet.core.expressions import CLASSES
from yof_darknet.core.fileio import atomic_write_bytes, atomic_write_text
from yof_darknet.core.owned import refuse_linked_folders
from yof_darknet.samples.bystanders import Bystander, add_bystander
from yof_darknet.samples.faces import background, draw_face, face_colour

DEFAULT_IMAGES = 1000
_SIDES = (144, 160, 176)
# Mostly one large face an image: the short training from scratch reads the strokes of large faces
# much sooner (at 340 iterations mAP 0.68 against 0.47 at 400 with 1-2 smaller faces an image).
_FACES_PER_IMAGE = ((1, 0.8), (2, 0.15), (3, 0.05))
_FACE_FRACTION = {1: (0.6, 0.9), 2: (0.4, 0.55), 3: (0.3, 0.42)}  # face width / image side
_ADJECTIVES = (
    ("angry", "furious", "irate"),
    ("disgusted", "revolted", "repelled"),
    ("afraid", "scared", "terrified"),
    ("happy", "cheerful", "joyful"),
    ("sad", "gloomy", "unhappy"),
    ("surprised", "amazed", "astonished"),
    ("calm", "neutral", "serious"),
)
_NOUNS = ("actor", "man", "woman", "child", "teacher", "boss", "student", "family", "singer")
_LOW_SCORE_SHARE = 0.12  # share of face images that also get a false-alarm row (<= 50)
_EXACTLY_50_SHARE = 0.04
_DUPLICATE_SHARE = 0.04
_OVER_100_SHARE = 0.03
_FACELESS_IMAGES = 6
_UNLISTED_IMAGES = 3
_SHUFFLE_STREAM = 7_919  # seeds the label permutation apart from the drawing


@dataclass(frozen=True)
class Row:
    """One ``label.lst`` row; the box is ExpW's ``top left right bottom`` in pixels."""

    image: str
    face_id: int
    top: int
    left: int
    right: int
    bottom: int
    confidence: float
    label: int

    def line(self) -> str:
        return (
            f"{self.image} {self.face_id} {self.top} {self.left} {self.right} {self.bottom} "
            f"{self.confidence:.4f} {self.label}"
        )


@dataclass
class ExpwSampleInfo:
    """What ``write_expw_sample`` wrote: counts of images, drawn faces, rows and each trap."""

    root: Path
    images: int = 0
    faces: int = 0
    rows: int = 0
    class_faces: list[int] = field(default_factory=lambda: [0] * len(CLASSES))
    traps: Counter = field(default_factory=Counter)
    bystanders: dict[str, Bystander] = field(default_factory=dict)  # image name → its bystander


def _overlaps(box: tuple[int, int, int, int], others: list[tuple[int, int, int, int]]) -> bool:
    gap = 4
    return any(
        box[0] < o[2] + gap and o[0] < box[2] + gap and box[1] < o[3] + gap and o[1] < box[3] + gap
        for o in others
    )


def _place_faces(
    rng: np.random.Generator, side: int, count: int
) -> list[tuple[int, int, int, int]]:
    """Non-overlapping face boxes (l, t, r, b); a face may reach a little past the border."""
    low, high = _FACE_FRACTION[count]
    boxes: list[tuple[int, int, int, int]] = []
    for _ in range(200):
        if len(boxes) == count:
            break
        width = round(side * rng.uniform(low, high))
        height = min(side, round(width * rng.uniform(1.1, 1.3)))
        over = round(0.08 * width)
        left = int(rng.integers(-over, side - width + over + 1))
        top = int(rng.integers(-over, side - height + over + 1))
        box = (left, top, left + width, top + height)
        if not _overlaps(box, boxes):
            boxes.append(box)
    return boxes


def _annotation_box(face: tuple[int, int, int, int], rng: np.random.Generator):
    """ExpW-like box around a drawn face: a few pixels looser, edges not clipped."""
    pad_x = round((face[2] - face[0]) * rng.uniform(0.0, 0.06))
    pad_y = round((face[3] - face[1]) * rng.uniform(0.0, 0.06))
    return (face[0] - pad_x, face[1] - pad_y, face[2] + pad_x, face[3] + pad_y)


def _background_box(
    rng: np.random.Generator, side: int, faces: list[tuple[int, int, int, int]]
) -> tuple[int, int, int, int] | None:
    """A box on background only (no drawn face under it), or None when there is no room."""
    for _ in range(100):
        size = int(rng.integers(12, max(13, side // 4)))
        left = int(rng.integers(0, side - size))
        top = int(rng.integers(0, side - size))
        box = (left, top, left + size, top + size)
        if not _overlaps(box, faces):
            return box
    return None


def _name(label: int, index: int, rng: np.random.Generator) -> str:
    adjective = _ADJECTIVES[label][int(rng.integers(len(_ADJECTIVES[label])))]
    return f"{adjective}_{_NOUNS[int(rng.integers(len(_NOUNS)))]}_{index}.jpg"


def _score(rng: np.random.Generator, low: float, high: float) -> float:
    return round(float(rng.uniform(low, high)), 4)


def _jpeg(img: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return data.tobytes()


def _face_image(seed: int, index: int, info: ExpwSampleInfo) -> tuple[str, bytes, list[Row], int]:
    """Image ``index``: name, JPEG bytes, rows (faces first, then trap rows) and face count."""
    rng = np.random.default_rng([seed, index])
    side = int(rng.choice(_SIDES))
    counts, weights = zip(*_FACES_PER_IMAGE, strict=True)
    faces = _place_faces(rng, side, int(rng.choice(counts, p=weights)))
    labels = [int(rng.integers(len(CLASSES))) for _ in faces]
    img = background(rng, side)
    for face, label in zip(faces, labels, strict=True):
        draw_face(img, face, label, face_colour(rng))
    name = _name(labels[0], index, rng)
    rows: list[Row] = []
    for face_id, (face, label) in enumerate(zip(faces, labels, strict=True)):
        left, top, right, bottom = _annotation_box(face, rng)
        over_100 = rng.random() < _OVER_100_SHARE
        score = _score(rng, 100.0, 110.0) if over_100 else _score(rng, 50.5, 99.9)
        row = Row(name, face_id, top, left, right, bottom, score, label)
        rows.append(row)
        info.faces += 1
        info.class_faces[label] += 1
        info.traps["over_100"] += over_100
        info.traps["past_edge"] += left < 0 or top < 0 or right > side or bottom > side
        if rng.random() < _DUPLICATE_SHARE:
            rows.append(row)
            info.traps["duplicate"] += 1
    info.traps["multi_face"] += len(faces) > 1
    for trap, share, low, high in (
        ("low_score", _LOW_SCORE_SHARE, 5.0, 50.0),
        ("exactly_50", _EXACTLY_50_SHARE, 50.0, 50.0),
    ):
        box = _background_box(rng, side, faces) if rng.random() < share else None
        if box is not None:
            score = _score(rng, low, high)
            rows.append(Row(name, len(faces), box[1], box[0], box[2], box[3], score, labels[0]))
            info.traps[trap] += 1
    return name, _jpeg(img), rows, len(faces)


def _faceless_image(seed: int, index: int, trap: int, info: ExpwSampleInfo):
    """An image with no face; ``trap`` picks its only row: low score, 50, zero-size or outside."""
    rng = np.random.default_rng([seed, index])
    side = int(rng.choice(_SIDES))
    img = background(rng, side)
    label = int(rng.integers(len(CLASSES)))
    name = _name(label, index, rng)
    box = _background_box(rng, side, [])
    assert box is not None  # an empty image always has room
    kind = ("low_score", "exactly_50", "degenerate", "degenerate_outside")[trap % 4]
    score = {"low_score": _score(rng, 5.0, 50.0), "exactly_50": 50.0}.get(kind, 90.0)
    if kind == "degenerate":
        box = (box[0], box[1], box[0], box[1])
    elif kind == "degenerate_outside":
        box = (side + 5, 10, side + 40, 45)
    info.traps[kind] += 1
    info.traps["faceless"] += 1
    return name, _jpeg(img), [Row(name, 0, box[1], box[0], box[2], box[3], score, label)]


def _shuffled(rows: list[Row], faces: list[tuple[str, int]], seed: int) -> list[Row]:
    """Permute the labels of the drawn faces' rows; a duplicate row keeps its copy's label."""
    label = {(r.image, r.face_id): r.label for r in rows}
    permuted = np.random.default_rng([seed, _SHUFFLE_STREAM]).permutation([label[f] for f in faces])
    label.update({face: int(new) for face, new in zip(faces, permuted, strict=True)})
    return [Row(**{**r.__dict__, "label": label[(r.image, r.face_id)]}) for r in rows]


def write_expw_sample(
    out: Path, seed: int = 0, images: int = DEFAULT_IMAGES, shuffle_labels: bool = False
) -> ExpwSampleInfo:
    """Write the ExpW-layout sample under ``out`` (``image/origin/``, ``label/label.lst``).

    ``images`` face images plus a few trap-only and unlisted images; image ``i`` depends only on
    ``(seed, i)``, so a larger ``images`` adds images without changing the first ones.
    """
    info = ExpwSampleInfo(root=out)
    origin = out / "image" / "origin"
    rows: list[Row] = []
    files: list[tuple[str, bytes]] = []
    faces: list[tuple[str, int]] = []
    for index in range(images):
        name, data, image_rows, count = _face_image(seed, index, info)
        data = add_bystander(seed, index, name, data, image_rows, info.bystanders)
        files.append((name, data))
        rows.extend(image_rows)
        faces.extend((name, face_id) for face_id in range(count))
    for trap in range(_FACELESS_IMAGES):
        name, data, image_rows = _faceless_image(seed, images + trap, trap, info)
        files.append((name, data))
        rows.extend(image_rows)
    for extra in range(_UNLISTED_IMAGES):
        index = images + _FACELESS_IMAGES + extra
        rng = np.random.default_rng([seed, index])
        files.append((f"unlabeled_extra_{extra}.jpg", _jpeg(background(rng, _SIDES[0]))))
        info.traps["unlisted"] += 1
    if shuffle_labels:
        rows = _shuffled(rows, faces, seed)
    for name, data in files:
        path = origin / name
        if not path.is_file() or path.read_bytes() != data:
            atomic_write_bytes(path, data)
    atomic_write_text(out / "label" / "label.lst", "".join(row.line() + "\n" for row in rows))
    info.images = images
    info.rows = len(rows)
    return info


@dataclass
class SampleInfo:
    """What ``write_sample`` wrote: the ExpW part's counts and the Aff-Wild2 part's folder."""

    out: Path
    expw: ExpwSampleInfo
    affwild2: Path


def shuffle_affwild2_labels(root: Path, seed: int) -> int:
    """Permute the expression values (0..6) over all annotation lines under ``root/annotations``.

    ``-1`` (no face, or ignore) and ``7`` (Other) stay where they are; returns how many values
    were permuted. Used for the control, after ``write_affwild2_sample``.
    """
    files = sorted((root / "annotations").rglob("*.txt"))
    lines = {path: path.read_text().splitlines() for path in files}
    slots = [
        (path, index)
        for path in files
        for index, value in enumerate(lines[path])
        if index > 0 and value.strip() in {str(c) for c in range(len(CLASSES))}
    ]
    values = [lines[path][index] for path, index in slots]
    permuted = np.random.default_rng([seed, _SHUFFLE_STREAM]).permutation(values)
    for (path, index), value in zip(slots, permuted, strict=True):
        lines[path][index] = str(value)
    for path in files:
        atomic_write_text(path, "".join(f"{line}\n" for line in lines[path]))
    return len(slots)


def write_sample(
    out: Path, seed: int = 0, images: int = DEFAULT_IMAGES, shuffle_labels: bool = False
) -> SampleInfo:
    """Write the embedded sample: ``out/ExpW`` (drawn faces) and ``out/AffWild2`` (short videos).

    ``shuffle_labels`` writes the control: the ExpW faces' labels and the Aff-Wild2 frames'
    expression values permuted (same images, boxes and class histograms).
    """
    from yof_darknet.samples.affwild2 import write_affwild2_sample

    for folder in (out / "ExpW", out / "AffWild2"):
        refuse_linked_folders(folder)  # a link there could lead into real data
    expw = write_expw_sample(out / "ExpW", seed, images, shuffle_labels)
    write_affwild2_sample(out / "AffWild2", seed)
    if shuffle_labels:
        shuffle_affwild2_labels(out / "AffWild2", seed)
    return SampleInfo(out=out, expw=expw, affwild2=out / "AffWild2")
