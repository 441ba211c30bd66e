"""Bystanders for the embedded sample's ExpW part: real faces that no ``label.lst`` row names.

Real ExpW images often show more people than rows (the paper's Fig. 1). A share of the sample's
face images (``SHARE``, drawn from their own random stream so the drawn faces do not change) get
one public-domain portrait from ``yof_darknet/assets/faces`` (see SOURCES.md there), shrunk and
pasted where it covers no row's box. RetinaFace finds these faces, and
``datasets --unannotated`` has work to do on the sample: ``ExpwSampleInfo.bystanders`` holds
each one's photo, place and face box (where RetinaFace finds the face in the pasted photo).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from yof_darknet.samples.affwild2 import ASSETS
from yof_darknet.samples.affwild2 import PHOTO_FACES as FACE_BOXES

SHARE = 0.5  # of the face images try one; most drawn faces are large, so ~6 % of those tries fit
WIDTHS = (76, 70, 64, 58)  # pasted photo width in px, largest that fits first; at 52 px
# (a 22 px face) RetinaFace MobileNet misses some faces
GAP = 3  # px between a bystander and any row's box
_STREAM = 104_729  # seeds the bystanders apart from the drawing


@lru_cache(maxsize=2)
def _photo(name: str) -> np.ndarray:
    import cv2

    image = cv2.imread(str(ASSETS / f"{name}.jpg"), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(ASSETS / f"{name}.jpg")
    return image


def _free(box: tuple[int, int, int, int], boxes: Sequence[tuple[int, int, int, int]]) -> bool:
    return all(
        box[2] + GAP <= b[0] or b[2] + GAP <= box[0] or box[3] + GAP <= b[1] or b[3] + GAP <= box[1]
        for b in boxes
    )


def place_bystander(
    rng: np.random.Generator, side: tuple[int, int], rows_ltrb: Sequence[tuple[int, int, int, int]]
) -> tuple[str, tuple[int, int, int, int]] | None:
    """A photo name and where to paste it (l, t, r, b) in an image of ``side`` (w, h), touching
    no row box; None when there is no room."""
    name = str(rng.choice(sorted(FACE_BOXES)))
    photo_h, photo_w = _photo(name).shape[:2]
    width, height = side
    for paste_w in WIDTHS:
        paste_h = round(paste_w * photo_h / photo_w)
        if paste_w > width or paste_h > height:
            continue
        for _ in range(60):
            left = int(rng.integers(0, width - paste_w + 1))
            top = int(rng.integers(0, height - paste_h + 1))
            box = (left, top, left + paste_w, top + paste_h)
            if _free(box, rows_ltrb):
                return name, box
    return None


@dataclass(frozen=True)
class Bystander:
    """One pasted photo: which, where (``paste_ltrb``, px) and its face box (``face_xyxy``)."""

    photo: str
    paste_ltrb: tuple[int, int, int, int]
    face_xyxy: tuple[float, float, float, float]


def add_bystander(
    seed: int, index: int, name: str, jpeg: bytes, rows: Sequence, bystanders: dict
) -> bytes:
    """``jpeg`` (image ``index`` of the sample, named ``name``) with a pasted bystander when its
    random draw says so and there is room; it is recorded as ``bystanders[name]``.

    ``rows`` are the image's ``label.lst`` rows (anything with ``left top right bottom``).
    """
    import cv2

    rng = np.random.default_rng([seed, index, _STREAM])
    if rng.random() >= SHARE:
        return jpeg
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None  # the sample's own JPEG
    height, width = image.shape[:2]
    boxes = [(r.left, r.top, r.right, r.bottom) for r in rows]
    placed = place_bystander(rng, (width, height), boxes)
    if placed is None:
        return jpeg
    photo_name, (left, top, right, bottom) = placed
    photo = _photo(photo_name)
    scale = (right - left) / photo.shape[1]
    image[top:bottom, left:right] = cv2.resize(
        photo, (right - left, bottom - top), interpolation=cv2.INTER_AREA
    )
    x1, y1, x2, y2 = FACE_BOXES[photo_name]
    face = (
        round(left + x1 * scale, 1),
        round(top + y1 * scale, 1),
        round(left + x2 * scale, 1),
        round(top + y2 * scale, 1),
    )
    bystanders[name] = Bystander(photo_name, placed[1], face)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return data.tobytes()


def paste_bystander(
    rng: np.random.Generator, image: np.ndarray, rows_ltrb: Sequence[tuple[int, int, int, int]]
) -> Bystander | None:
    """Paste a portrait into ``image`` (BGR, in place) where it touches no row box; its record,
    or None when there is no room."""
    import cv2

    height, width = image.shape[:2]
    placed = place_bystander(rng, (width, height), rows_ltrb)
    if placed is None:
        return None
    photo_name, (left, top, right, bottom) = placed
    photo = _photo(photo_name)
    scale = (right - left) / photo.shape[1]
    image[top:bottom, left:right] = cv2.resize(
        photo, (right - left, bottom - top), interpolation=cv2.INTER_AREA
    )
    x1, y1, x2, y2 = FACE_BOXES[photo_name]
    face = (left + x1 * scale, top + y1 * scale, left + x2 * scale, top + y2 * scale)
    return Bystander(photo_name, placed[1], tuple(round(v, 1) for v in face))
