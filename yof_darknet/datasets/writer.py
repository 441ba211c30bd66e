"""Darknet's dataset layout: label lines, atomic writes, and label paths both forks can find.

Darknet reads an image list and derives each label path from the image path by string rewriting.
The two forks rewrite differently (see ``pjreddie_label_path`` and ``alexeyab_label_path``); we put
``x.txt`` beside ``x.jpg`` and refuse any output path on which either fork would look elsewhere.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from yof_darknet.errors import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_DARKNET_PATH_MAX = 4095  # both forks copy paths into 4096-byte buffers


@dataclass(frozen=True)
class Item:
    """One image of the converted dataset.

    ``image`` is its absolute path in the Darknet layout (the label sits beside it as ``.txt``);
    ``dataset`` is ``"expw"`` or ``"affwild2"``; ``group`` is the unit a split may not cut
    (the image for ExpW, the video for Aff-Wild2 with ``--split-by videos``, else the frame).
    """

    image: Path
    dataset: str
    group: str


def _replace_first(text: str, old: str, new: str) -> str:
    """C ``find_replace`` of both forks: the first occurrence only."""
    return text.replace(old, new, 1)


def pjreddie_label_path(image_path: str) -> str:
    """Label path as pjreddie's darknet (Debian's package) derives it (``fill_truth_detection``)."""
    path = image_path
    for old, new in (
        ("images", "labels"),
        ("JPEGImages", "labels"),
        ("raw", "labels"),
        (".jpg", ".txt"),
        (".png", ".txt"),
        (".JPG", ".txt"),
        (".JPEG", ".txt"),
    ):
        path = _replace_first(path, old, new)
    return path


_ALEXEYAB_DIRS = (
    ("/images/train2017/", "/labels/train2017/"),
    ("/images/val2017/", "/labels/val2017/"),
    ("/JPEGImages/", "/labels/"),
    ("/images/train2014/", "/labels/train2014/"),
    ("/images/val2014/", "/labels/val2014/"),
)
_ALEXEYAB_EXTENSIONS = (
    ".jpg", ".JPG", ".jpeg", ".JPEG", ".png", ".PNG", ".bmp", ".BMP", ".ppm", ".PPM",
    ".tiff", ".TIFF",
)  # fmt: skip


def alexeyab_label_path(image_path: str) -> str:
    """Label path as AlexeyAB's darknet derives it (``replace_image_to_label``, utils.c)."""
    path = image_path
    for old, new in _ALEXEYAB_DIRS:
        path = _replace_first(path, old, new)
    path = path.strip(" \t")
    for ext in _ALEXEYAB_EXTENSIONS:
        if path.endswith(ext):  # find_replace_extension: only at the end
            path = path[: -len(ext)] + ".txt"
            break
    return path


def check_label_path(image: Path) -> Path:
    """Return ``image``'s label path, or raise if either fork would look for it elsewhere."""
    text = str(image)
    expected = str(image.with_suffix(".txt"))
    if image.suffix not in (".jpg", ".png"):
        raise DatasetError(f"{image}: write images as .jpg or .png (lower case) for Darknet")
    if len(text) > _DARKNET_PATH_MAX:
        raise DatasetError(f"{image}: path longer than Darknet's {_DARKNET_PATH_MAX} bytes")
    if "\n" in text or text != text.strip():
        raise DatasetError(f"{image!r}: newline or edge whitespace breaks Darknet's image lists")
    for fork, derive in (("pjreddie", pjreddie_label_path), ("AlexeyAB", alexeyab_label_path)):
        got = derive(text)
        if got != expected:
            raise DatasetError(
                f"{image}: {fork}'s darknet would read its label from {got} instead of "
                f"{expected} (it rewrites 'images', 'JPEGImages', 'raw' and '.jpg'/'.png' "
                "anywhere in the path); choose an output folder whose path has none of them"
            )
    return Path(expected)


def xyxy_to_cxcywh_norm(
    xyxy: Sequence[float], image_wh: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Pixel box (x1, y1, x2, y2) → Darknet's normalised (cx, cy, w, h)."""
    x1, y1, x2, y2 = xyxy
    width, height = image_wh
    return ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)


def label_line(class_id: int, xyxy: Sequence[float], image_wh: tuple[int, int]) -> str:
    """One Darknet label line, ``class cx cy w h`` with 6 decimals (no newline)."""
    cx, cy, w, h = xyxy_to_cxcywh_norm(xyxy, image_wh)
    return f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def place_image(source: Path, target: Path, *, copy: bool = False) -> None:
    """Put ``source`` at ``target`` as a symlink (default) or a copy; the source is never touched.

    An existing correct target is left alone, so re-runs are cheap.
    """
    source = source.resolve()
    if target.is_symlink() and not copy:
        if Path(os.readlink(target)) == source:
            return
    elif target.exists() and copy and target.stat().st_size == source.stat().st_size:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    if copy:
        shutil.copyfile(source, tmp)
    else:
        tmp.symlink_to(source)
    os.replace(tmp, target)
