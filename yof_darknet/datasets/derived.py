"""Derived copies: the image Darknet reads when the raw file cannot be used as it is.

One path for every reason a converted image differs from its raw file (``Recipe``):

- ``orientation`` 2..8 (EXIF): an upright copy, the stored pixels turned as the tag says, boxes
  turned with them (``orient_box``). Copies carry no EXIF, so every decoder reads them alike;
- ``max_side`` (``datasets --max-side N``): a long side above N is shrunk to N (area
  interpolation); labels are normalised to the image, so they do not change;
- ``recode``: a format or JPEG flavour Darknet builds read differently (``images``);
- ``mask`` (``--unannotated mask``): faces painted over (``unannotated.mask_image``), in the
  stored pixels' coordinates, before the turn.

A JPEG source gives a JPEG copy (quality 95, as Aff-Wild2 frames); any other source, and every
masked copy, a PNG (lossless). The raw file is only read.

Resume: ``derived.json`` beside the copies records each one's source (path, size, modification
time), recipe and size; a copy whose record matches is not written again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.fileio import atomic_write_bytes, atomic_write_text
from yof_darknet.formats.imagefiles import read_image

MANIFEST = "derived.json"
MANIFEST_VERSION = 1
JPEG_QUALITY = 95
# EXIF orientation -> (transpose, mirror left-right, mirror top-bottom), applied in that order,
# turns the stored pixels upright (EXIF 2.32, tag 0x0112; Pillow's ImageOps.exif_transpose).
_TURNS = {
    1: (False, False, False),
    2: (False, True, False),
    3: (False, True, True),
    4: (False, False, True),
    5: (True, False, False),
    6: (True, True, False),
    7: (True, True, True),
    8: (True, False, True),
}


def orient_size(size_wh: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The upright image's (width, height)."""
    return (size_wh[1], size_wh[0]) if _TURNS[orientation][0] else size_wh


def orient_box(
    xyxy: Sequence[float], size_wh: tuple[int, int], orientation: int
) -> tuple[float, float, float, float]:
    """A box in stored pixels (``x1 y1 x2 y2`` of an image stored ``size_wh``) in the upright
    image's pixels.

    >>> orient_box((10, 20, 30, 60), (100, 200), 6)  # turned 90 degrees clockwise
    (140, 10, 180, 30)
    """
    x1, y1, x2, y2 = xyxy
    transpose, mirror_x, mirror_y = _TURNS[orientation]
    width, height = size_wh
    if transpose:
        x1, y1, x2, y2, width, height = y1, x1, y2, x2, height, width
    if mirror_x:
        x1, x2 = width - x2, width - x1
    if mirror_y:
        y1, y2 = height - y2, height - y1
    return x1, y1, x2, y2


def orient_pixels(image: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixel array ``image`` (H, W[, C]) turned upright."""
    transpose, mirror_x, mirror_y = _TURNS[orientation]
    if transpose:
        image = image.swapaxes(0, 1)
    if mirror_x:
        image = image[:, ::-1]
    if mirror_y:
        image = image[::-1]
    return np.ascontiguousarray(image)


def shrunk_size(size_wh: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size_wh`` with its long side brought down to ``max_side`` (0: unchanged).

    >>> shrunk_size((1920, 1080), 640)
    (640, 360)
    """
    width, height = size_wh
    if not max_side or max(width, height) <= max_side:
        return size_wh
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


@dataclass(frozen=True)
class Recipe:
    """How a derived copy is made from its raw file (``suffix``: ``.jpg`` or ``.png``)."""

    suffix: str
    orientation: int = 1
    max_side: int = 0
    recode: str | None = None
    mask: tuple[tuple[tuple[float, ...], ...], tuple[tuple[float, ...], ...]] | None = None

    def record(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.__dict__))


def _stored_pixels(source: Path) -> np.ndarray:
    """The raw file's stored pixels (BGR, no EXIF turn): OpenCV, or Pillow for formats
    OpenCV lacks."""
    import cv2

    image = read_image(source, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is not None:
        return image
    from PIL import Image

    try:
        with Image.open(source) as opened:
            return np.asarray(opened.convert("RGB"))[:, :, ::-1].copy()
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{source}: cannot decode it for a derived copy ({exc})") from exc


def derive(source: Path, recipe: Recipe) -> bytes:
    """The encoded derived copy of ``source``."""
    import cv2

    image = _stored_pixels(source)
    if recipe.mask is not None:
        from yof_darknet.datasets.unannotated import mask_image

        image = mask_image(image, *recipe.mask)
    image = orient_pixels(image, recipe.orientation)
    height, width = image.shape[:2]
    size = shrunk_size((width, height), recipe.max_side)
    if size != (width, height):
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if recipe.suffix == ".jpg" else []
    ok, data = cv2.imencode(recipe.suffix, image, params)
    if not ok:
        raise DatasetError(f"{source}: OpenCV could not encode its derived copy")
    return data.tobytes()


def _source_key(source: Path) -> list[Any]:
    info = os.stat(source)
    return [os.fsdecode(source), info.st_size, info.st_mtime_ns]


class DerivedCopies:
    """The derived copies of one output folder and their record (``derived.json``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / MANIFEST
        self.known: dict[str, Any] = {}
        self.current: dict[str, Any] = {}
        self.written = 0
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(record, dict) and record.get("version") == MANIFEST_VERSION:
            self.known = record.get("copies", {})

    def write(self, source: Path, target: Path, recipe: Recipe) -> None:
        """Make ``target`` the copy of ``source`` by ``recipe`` unless it already is."""
        entry = {"source": _source_key(source), "recipe": recipe.record()}
        known = self.known.get(target.name)
        if known is not None and {k: known.get(k) for k in entry} == entry:
            try:
                if not target.is_symlink() and target.stat().st_size == known.get("bytes"):
                    self.current[target.name] = known
                    return
            except OSError:
                pass
        data = derive(source, recipe)
        atomic_write_bytes(target, data)
        self.current[target.name] = {**entry, "bytes": len(data)}
        self.written += 1

    def save(self) -> None:
        """Record this run's copies (only them: a copy no longer made is no longer listed)."""
        if self.current == self.known and self.path.is_file():
            return
        record = {"version": MANIFEST_VERSION, "copies": dict(sorted(self.current.items()))}
        atomic_write_text(self.path, json.dumps(record, indent=1) + "\n")
