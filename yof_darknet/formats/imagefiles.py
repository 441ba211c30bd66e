"""Image files and image lists read by their bytes, whatever their names.

A file name that is not UTF-8 reaches Python as a ``str`` with lone surrogates (``os.fsdecode``);
handed to OpenCV (``cv2.imread``, ``cv2.VideoCapture``) such a ``str`` crashes the process
(SIGSEGV), and a list holding such a name fails ``read_text()``. So images are read with
``np.fromfile`` + ``cv2.imdecode``, videos through a link with an ASCII name, and lists as bytes
split at ``\\n`` as Darknet splits them (``fgetl``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

EXIF_ORIENTATION = 0x0112
_EDGE_SPACE = " \t\r\f\v"  # ASCII whitespace only: Darknet strips no other


def read_list(path: Path) -> list[str]:
    """The non-blank lines of an image list, edge whitespace stripped; names that are not UTF-8
    come back as the file system decodes them (``os.fsdecode``), so they open the same file."""
    data = Path(path).read_bytes().removeprefix(b"\xef\xbb\xbf")
    lines = (os.fsdecode(raw.strip(_EDGE_SPACE.encode())) for raw in data.split(b"\n"))
    return [line for line in lines if line]


def read_image(path: Path | str, flags: int | None = None) -> np.ndarray | None:
    """The image at ``path`` decoded by OpenCV (``cv2.IMREAD_COLOR`` unless ``flags``), or None
    when it cannot be read or decoded; any file name works."""
    import cv2

    try:
        data = np.fromfile(path, dtype=np.uint8)
    except (OSError, ValueError):
        return None
    if data.size == 0:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR if flags is None else flags)


def opencv_safe(path: Path | str) -> bool:
    """Whether OpenCV may be handed ``path`` as a string (it crashes on names not UTF-8)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@contextlib.contextmanager
def opencv_path(path: Path | str) -> Iterator[str]:
    """A string naming ``path`` that OpenCV can open: the path itself, or (a name that is not
    UTF-8) a link with an ASCII name in a temporary folder, removed afterwards."""
    if opencv_safe(path):
        yield str(path)
        return
    with tempfile.TemporaryDirectory(prefix="yof-link-") as folder:
        link = Path(folder) / f"file{Path(path).suffix if opencv_safe(Path(path).suffix) else ''}"
        link.symlink_to(os.path.abspath(path))
        yield str(link)


def exif_orientation(path: Path | str) -> int:
    """The EXIF orientation (1..8) stored in the image's header, 1 when it has none (or the
    file is not an image Pillow knows). Decoders disagree on such images: OpenCV's ``imread``
    turns them upright, Darknet's stb_image does not, ``imagesize`` 2.x reports the turned size."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            value = image.getexif().get(EXIF_ORIENTATION, 1)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
