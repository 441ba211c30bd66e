"""Darknet label files: label lines, and label paths both forks can find.

Darknet reads an image list and derives each label path from the image path by string rewriting.
The two forks rewrite differently (see ``pjreddie_label_path`` and ``alexeyab_label_path``); we put
``x.txt`` beside ``x.jpg`` and refuse any output path on which either fork would look elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from yof_darknet.errors import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_DARKNET_PATH_MAX = 4095  # both forks copy paths into 4096-byte buffers


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


def label_path_problem(image: Path) -> str | None:
    """Why either fork would not find ``image``'s label beside it, or ``None`` when both do."""
    text = str(image)
    suffix = image.suffix
    expected = text[: len(text) - len(suffix)] + ".txt"
    if suffix not in (".jpg", ".png"):
        return "write images as .jpg or .png (lower case) for Darknet"
    if len(text) > _DARKNET_PATH_MAX:
        return f"path longer than Darknet's {_DARKNET_PATH_MAX} bytes"
    if "\n" in text or text != text.strip():
        return "a newline or edge whitespace breaks Darknet's image lists"
    for fork, derive in (("pjreddie", pjreddie_label_path), ("AlexeyAB", alexeyab_label_path)):
        got = derive(text)
        if got != expected:
            return (
                f"{fork}'s darknet would read its label from {got} instead of {expected} "
                "(it rewrites 'images', 'JPEGImages', 'raw' and '.jpg'/'.png' anywhere in the "
                "path); choose an output folder whose path has none of them"
            )
    return None


def check_label_path(image: Path) -> Path:
    """Return ``image``'s label path, or raise if either fork would look for it elsewhere."""
    problem = label_path_problem(image)
    if problem is not None:
        raise DatasetError(f"{str(image)!r}: {problem}")
    return image.with_suffix(".txt")


# Substrings that either fork rewrites inside an image path (see pjreddie_label_path).
_REWRITTEN = ("JPEGImages", "images", "raw", ".jpg", ".png", ".JPG", ".JPEG")


def safe_stem(stem: str, key: str | None = None, *, hashed: bool = False) -> str:
    """A file or folder name neither fork rewrites: ``stem`` itself when already safe.

    Otherwise an underscore goes inside each substring a fork rewrites (``raw`` as in
    ``drawing`` → ``r_aw``) and 8 hex digits of the SHA-1 of ``key`` (default ``stem``) are
    appended, so that two originals never meet; ``hashed`` forces that form.
    """
    if not hashed and not any(token in stem for token in _REWRITTEN):
        return stem
    safe = stem
    for token in _REWRITTEN:
        safe = safe.replace(token, f"{token[0]}_{token[1:]}")
    digest = hashlib.sha1((stem if key is None else key).encode("utf-8", "surrogateescape"))
    return f"{safe}_{digest.hexdigest()[:8]}"


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
