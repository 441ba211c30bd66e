"""What ``detect`` reads: an image, a folder of images, a darknet image list (.txt), a video
file, a camera or a stream URL."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from yof_darknet.core.errors import InferenceError
from yof_darknet.formats.imagefiles import read_list

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
)


@dataclass(frozen=True)
class Source:
    """``kind`` is ``images`` (``images`` listed, paths relative to ``root``), ``video`` (a file,
    every frame processed) or ``live`` (a camera index or stream URL: stale frames are dropped)."""

    kind: str
    name: str
    images: list[Path] = field(default_factory=list)
    root: Path | None = None
    path: Path | None = None
    camera: int | None = None
    url: str | None = None


def resolve_source(text: str) -> Source:
    """Classify the SOURCE argument; folders are listed recursively, sorted by relative path."""
    path = Path(text)
    if path.is_dir():
        images = sorted(
            (p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=lambda p: p.relative_to(path).as_posix(),
        )
        if not images:
            raise InferenceError(
                f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder"
            )
        return Source("images", str(path), images=images, root=path)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            return Source("images", str(path), images=[path], root=path.parent)
        if suffix in VIDEO_SUFFIXES:
            return Source("video", str(path), path=path)
        if suffix == ".txt":
            return _image_list(path)
        image_types, video_types = (
            ", ".join(sorted(IMAGE_SUFFIXES)),
            ", ".join(sorted(VIDEO_SUFFIXES)),
        )
        raise InferenceError(
            f"{path}: unknown file type {suffix!r}; give an image ({image_types}), a video "
            f"({video_types}) "
            "or a list of images (.txt)"
        )
    if text.isdigit():
        return Source("live", f"camera{int(text)}", camera=int(text))
    if "://" in text:
        return Source("live", text, url=text)
    raise InferenceError(f"{text}: no such file or folder (and not a camera index like 0)")


def _image_list(path: Path) -> Source:
    """A darknet image list (``train.txt``/``test.txt``): one path per line; relative paths are
    taken from the current folder as darknet does, else from the list's folder."""
    images = []
    for line in read_list(path):
        image = Path(line)
        if not image.is_absolute() and not image.exists():
            image = path.parent / image
        images.append(image.absolute())
    if not images:
        raise InferenceError(f"{path}: the image list is empty")
    folders = [str(image.parent) for image in images if image.exists()] or [str(path.parent)]
    root = Path(os.path.commonpath(folders))
    return Source("images", str(path), images=images, root=root)


def display_problem() -> str | None:
    """Why a window cannot be opened here, or ``None`` when one can. Checked before any
    ``cv2.imshow``: OpenCV's Qt backend aborts the whole process when there is no display."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return (
            "--show needs a display, but neither DISPLAY nor WAYLAND_DISPLAY is set "
            "(a headless machine or an ssh session without -X); use --save DIR or --json FILE"
        )
    return None
