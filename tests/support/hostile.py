"""Hostile raw inputs built from copies of real ones: names, EXIF turns, undecodable bytes.

The source pixels are real ExpW photos (``../shared/real/ExpW``) where that folder exists, else
the shared fixtures' ExpW images (format-exact stand-ins), so the tests run everywhere.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.support import SHARED

REAL_EXPW = SHARED / "real" / "ExpW"
FIXTURE_EXPW = SHARED / "fixtures" / "datasets" / "ExpW"
# The name the adversarial round used: no space or "/", yet a whole command through ${IFS}.
HOSTILE = "inj$(touch${IFS}X).jpg"


def real_jpegs(count: int) -> list[Path]:
    """``count`` real JPEG files (ExpW photos, or the fixtures' images where those are absent)."""
    for folder in (REAL_EXPW / "image" / "origin", FIXTURE_EXPW / "image" / "origin"):
        found = sorted(folder.glob("*.jpg"))[:count] if folder.is_dir() else []
        if len(found) == count:
            return found
    pytest.skip(f"no real JPEGs: neither {REAL_EXPW} nor {FIXTURE_EXPW} holds {count}")


def real_pixels(index: int = 0) -> np.ndarray:
    """The stored pixels (BGR) of a real photo."""
    return cv2.imdecode(
        np.fromfile(real_jpegs(index + 1)[index], np.uint8),
        cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION,
    )


def jpeg_bytes(image_bgr: np.ndarray, orientation: int | None = None, **save) -> bytes:
    """JPEG bytes of ``image_bgr`` as stored pixels, with an EXIF orientation tag if given."""
    picture = Image.fromarray(image_bgr[:, :, ::-1])
    buffer = io.BytesIO()
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        save["exif"] = exif.tobytes()
    picture.save(buffer, "JPEG", quality=95, **save)
    return buffer.getvalue()


def truncated(data: bytes) -> bytes:
    """A JPEG cut in the middle of its scan: a valid header, pixel data that does not decode."""
    return data[: len(data) // 2]


def header_only_png(width: int = 32, height: int = 24) -> bytes:
    ok, data = cv2.imencode(".png", np.zeros((height, width, 3), np.uint8))
    assert ok
    data = data.tobytes()
    return data[: data.index(b"IDAT") - 4]  # signature and IHDR only


def gif_bytes(image_bgr: np.ndarray, frames: int = 1) -> bytes:
    pictures = [
        Image.fromarray(np.roll(image_bgr, 7 * k, axis=1)[:, :, ::-1]) for k in range(frames)
    ]
    buffer = io.BytesIO()
    pictures[0].save(buffer, "GIF", save_all=frames > 1, append_images=pictures[1:])
    return buffer.getvalue()


def write_expw(root: Path, images: dict[str, bytes], rows: list[str] | list[bytes]) -> Path:
    """An ExpW tree (label/label.lst, image/origin/) holding ``images`` under their names (names
    may be bytes-as-str from ``os.fsdecode``) and ``rows``."""
    origin = root / "image" / "origin"
    origin.mkdir(parents=True)
    for name, data in images.items():
        (origin / name).write_bytes(data)
    lines = [row if isinstance(row, bytes) else os.fsencode(row) for row in rows]
    (root / "label").mkdir()
    (root / "label" / "label.lst").write_bytes(b"".join(line + b"\n" for line in lines))
    return root


def coloured_block(image_bgr: np.ndarray, colour=(0, 0, 255), tolerance: int = 60):
    """(x1, y1, x2, y2) of the pixels within ``tolerance`` of ``colour`` (None if none)."""
    close = np.abs(image_bgr.astype(int) - np.array(colour)).max(axis=2) < tolerance
    ys, xs = np.nonzero(close)
    if not len(xs):
        return None
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
