"""Darknet label files: their lines (``class cx cy w h``), reading them, and where they are.

Darknet reads an image list and derives each label path from the image path by string rewriting.
The forks rewrite differently (``label_path``); we put ``x.txt`` beside ``x.jpg`` and refuse any
output path on which either fork would look elsewhere (``check_label_path``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from yof_darknet.core.errors import DatasetError, YofError
from yof_darknet.formats.safenames import list_line_problem

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_DARKNET_PATH_MAX = 4095  # both forks copy paths into 4096-byte buffers


def _replace_first(text: str, old: str, new: str) -> str:
    """C ``find_replace`` of both forks: the first occurrence only."""
    return text.replace(old, new, 1)


def pjreddie_label_path(image_path: str) -> str:
    """Label path as pjreddie's darknet (Debian's package) derives it (``fill_truth_detection``).

    >>> pjreddie_label_path("/data/images/drawings/a.jpg")  # 'raw' inside 'drawings' too
    '/data/labels/dlabelsings/a.txt'
    """
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
    """Label path as AlexeyAB's darknet derives it (``replace_image_to_label``, utils.c).

    >>> alexeyab_label_path("/data/VOC/JPEGImages/a.jpg")
    '/data/VOC/labels/a.txt'
    >>> alexeyab_label_path("/data/images/drawings/a.JPEG")
    '/data/images/drawings/a.txt'
    """
    path = image_path
    for old, new in _ALEXEYAB_DIRS:
        path = _replace_first(path, old, new)
    path = path.strip(" \t")
    for ext in _ALEXEYAB_EXTENSIONS:
        if path.endswith(ext):  # find_replace_extension: only at the end
            path = path[: -len(ext)] + ".txt"
            break
    return path


def label_path(image: Path | str, fork: str = "alexeyab") -> Path:
    """The label file ``fork``'s darknet reads for ``image``: ``"alexeyab"`` (the default: the
    fork ``detector map`` and training use), ``"pjreddie"``, or ``"hank-ai"`` (beside the image:
    only the extension changes).

    >>> label_path("/data/VOC/JPEGImages/a.jpg")
    PosixPath('/data/VOC/labels/a.txt')
    >>> label_path("/data/images/a.jpg", "pjreddie")
    PosixPath('/data/labels/a.txt')
    >>> label_path("/data/JPEGImages/a.jpg", "hank-ai")
    PosixPath('/data/JPEGImages/a.txt')
    """
    if fork == "hank-ai":
        return Path(image).with_suffix(".txt")
    rules = {"alexeyab": alexeyab_label_path, "pjreddie": pjreddie_label_path}
    return Path(rules[fork](str(image)))


class Label(NamedTuple):
    """One line of a label file: the class and the box, normalised to the image (0..1)."""

    class_id: int
    cx: float
    cy: float
    w: float
    h: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.cx, self.cy, self.w, self.h


def parse_label_line(line: str) -> Label | None:
    """``class cx cy w h`` as Darknet reads it; ``None`` for a blank line, ``ValueError`` else.

    >>> parse_label_line("3 0.5 0.25 0.1 0.2")
    Label(class_id=3, cx=0.5, cy=0.25, w=0.1, h=0.2)
    >>> parse_label_line("  ") is None
    True
    >>> parse_label_line("3 0.5 0.25")
    Traceback (most recent call last):
    ValueError: expected 'class cx cy w h', got '3 0.5 0.25'
    """
    fields = line.split()
    if not fields:
        return None
    try:
        if len(fields) == 5:
            return Label(int(fields[0]), *(float(value) for value in fields[1:]))
    except ValueError:
        pass
    raise ValueError(f"expected 'class cx cy w h', got {line!r}")


def read_labels(
    path: Path, classes: int | None = None, *, error: type[YofError] = DatasetError
) -> list[Label]:
    """Every label of the file ``path``; a malformed line, or a class outside ``0..classes-1``
    when ``classes`` is given, raises ``error`` naming the file and line."""
    labels = []
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            label = parse_label_line(line)
        except ValueError as exc:
            raise error(f"{path}:{number}: {exc}") from None
        if label is None:
            continue
        if classes is not None and not 0 <= label.class_id < classes:
            raise error(f"{path}:{number}: class {label.class_id} is outside 0..{classes - 1}")
        labels.append(label)
    return labels


def label_path_problem(image: Path) -> str | None:
    """Why either fork would not find ``image``'s label beside it, or Darknet must not be
    handed ``image`` in a list (``safenames.list_line_problem``), or ``None``."""
    text = str(image)
    suffix = image.suffix
    expected = text[: len(text) - len(suffix)] + ".txt"
    if suffix not in (".jpg", ".png"):
        return "write images as .jpg or .png (lower case) for Darknet"
    if len(text) > _DARKNET_PATH_MAX:
        return f"path longer than Darknet's {_DARKNET_PATH_MAX} bytes"
    if "\n" in text or text != text.strip():
        return "a newline or edge whitespace breaks Darknet's image lists"
    problem = list_line_problem(text)
    if problem is not None:
        return f"the path {problem}; choose an output folder whose path has none of them"
    for fork, derive in (("pjreddie", pjreddie_label_path), ("AlexeyAB", alexeyab_label_path)):
        got = derive(text)
        if got != expected:
            return (
                f"{fork}'s darknet would read its label from {got} instead of {expected} "
                "(it rewrites 'images', 'JPEGImages', 'raw' and '.jpg'/'.png' anywhere in the "
                "path); choose an output folder whose path has none of them"
            )
    return None


# Darknet's option parser (``read_data_cfg``: ``strip`` in utils.c, both forks) deletes every
# space, tab and newline of an obj.data line before it splits key and value.
_STRIPPED = (" ", "\t", "\n", "\r")


def darknet_path_problem(path: Path | str) -> str | None:
    """Why Darknet could not use ``path`` in an ``obj.data`` (or None): whitespace anywhere."""
    text = os.path.abspath(path)
    found = sorted({repr(c) for c in text if c in _STRIPPED})
    if found:
        return (
            f"the path {text!r} holds whitespace ({', '.join(found)}); Darknet's obj.data "
            "parser deletes every space and tab in a line, so it would open another path. "
            "Use a folder whose full path has no whitespace"
        )
    return None


def check_label_path(image: Path) -> Path:
    """Return ``image``'s label path, or raise if either fork would look for it elsewhere."""
    problem = label_path_problem(image)
    if problem is not None:
        raise DatasetError(f"{str(image)!r}: {problem}")
    return image.with_suffix(".txt")


def xyxy_to_cxcywh_norm(
    xyxy: Sequence[float], image_wh: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Pixel box (x1, y1, x2, y2) → Darknet's normalised (cx, cy, w, h).

    >>> xyxy_to_cxcywh_norm((10, 20, 30, 60), (100, 200))
    (0.2, 0.2, 0.2, 0.2)
    """
    x1, y1, x2, y2 = xyxy
    width, height = image_wh
    return ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)


def label_line(class_id: int, xyxy: Sequence[float], image_wh: tuple[int, int]) -> str:
    """One Darknet label line, ``class cx cy w h`` with 6 decimals (no newline).

    >>> label_line(3, (10, 20, 30, 60), (100, 200))
    '3 0.200000 0.200000 0.200000 0.200000'
    """
    cx, cy, w, h = xyxy_to_cxcywh_norm(xyxy, image_wh)
    return f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"
