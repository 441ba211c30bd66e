"""Where ``detect`` writes: JSON lines, annotated images, annotated videos, all atomically
(written under a temporary name in the target folder and renamed when complete; a run stopped
by Ctrl-C or SIGTERM leaves what it wrote under a ``.partial`` name, never the final one).
A stream target (``/dev/stdout``, a FIFO, ``>(...)``: ``fileio.output_kind``) is written in
place. Annotated copies of images get names confined to the ``--save`` folder
(``saved_names``)."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, ClassVar

import cv2
import numpy as np

from yof_darknet.core.errors import InferenceError
from yof_darknet.core.fileio import (
    STREAM,
    OutputError,
    atomic_write_bytes,
    check_output_file,
    check_writable,
    commit,
    named,
    open_output,
    open_stream,
    real_entry,
    temporary_sibling,
)
from yof_darknet.infer.detector import Detection


def frame_record(
    source: str,
    frame: int,
    detections: Sequence[Detection],
    image_wh: tuple[int, int],
    tracks: Sequence[int] | None = None,
) -> dict:
    """The JSON object of one frame; boxes clipped to the image, in pixels, 0.1 px precision."""
    items = []
    for index, det in enumerate(detections):
        item = {
            "class": det.name,
            "score": round(det.score, 4),
            "box": [round(v, 1) for v in det.clipped(*image_wh)],
        }
        if tracks is not None:
            item["track"] = tracks[index]
        items.append(item)
    return {"source": source, "frame": frame, "detections": items}


def partial_name(path: Path) -> Path:
    """Where an output stopped before its end is left: ``out.json`` -> ``out.partial.json``."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def _finish(tmp: Path, path: Path, complete: bool) -> Path:
    """Rename a finished temporary onto ``path``, or an unfinished one onto its partial name."""
    final = path if complete else partial_name(path)
    commit(tmp, final)
    return final


class JsonLines:
    """One JSON object per line to ``target`` (a file path, a stream, or ``-`` for stdout).

    The numbers are strict JSON (``allow_nan=False``): no ``NaN`` or ``Infinity`` is written.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self._tmp: Path | None = None
        self._flush = True
        self.records = 0
        if target == "-":
            self._stream: IO[str] = sys.stdout
            return
        path = Path(target)
        if check_output_file(path) == STREAM:
            self._stream = io.TextIOWrapper(open_stream(path), encoding="utf-8")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temporary_sibling(path, "partial")
        self._stream = io.TextIOWrapper(open_output(self._tmp), encoding="utf-8")
        self._flush = False

    def write(self, record: dict) -> None:
        try:
            self._stream.write(json.dumps(record, allow_nan=False) + "\n")
            self.records += 1
            if self._flush:
                self._stream.flush()
        except OSError as exc:  # a full disk: the CLI names the file
            raise named(exc, self.target) from exc

    def close(self, *, complete: bool = True) -> Path | None:
        """Finish the output: renamed into place (``complete``: the run ended, or the user quit
        with q), else under its partial name, returned, or removed when it holds nothing (a
        stream is only closed)."""
        if self.target == "-":
            return None
        try:
            self._stream.close()
        except OSError as exc:
            if self._tmp is not None:
                self._tmp.unlink(missing_ok=True)
            raise named(exc, self.target) from exc
        if self._tmp is None:
            return None
        tmp, self._tmp = self._tmp, None
        if not complete and not self.records:
            tmp.unlink(missing_ok=True)
            return None
        final = _finish(tmp, Path(self.target), complete)
        return None if complete else final


def save_image(path: Path, image: np.ndarray) -> None:
    """Encode ``image`` in the format of ``path``'s suffix and write it atomically."""
    ok, data = cv2.imencode(path.suffix or ".jpg", image)
    if not ok:
        raise InferenceError(f"{path}: OpenCV cannot encode this image format")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data.tobytes())


class VideoSink:
    """An annotated video at ``path``, written frame by frame at ``fps`` and ``size`` (w, h)."""

    _FOURCC: ClassVar[dict[str, str]] = {
        ".avi": "MJPG",
        ".mp4": "mp4v",
        ".m4v": "mp4v",
        ".mov": "mp4v",
        ".mkv": "mp4v",
    }

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        if path.suffix.lower() not in self._FOURCC:
            path = path.with_suffix(".mp4")
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        check_writable(path)
        self._tmp = temporary_sibling(path, "partial")
        self._tmp.unlink(missing_ok=True)  # OpenCV would write through a link left there
        codec = self._FOURCC[path.suffix.lower()]
        fourcc = cv2.VideoWriter.fourcc(*codec)
        self._writer = cv2.VideoWriter(str(self._tmp), fourcc, fps, size)
        if not self._writer.isOpened():
            raise InferenceError(f"{path}: OpenCV cannot write this video (codec {codec})")
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        self._writer.write(frame)
        self.frames += 1

    def close(self, *, complete: bool = True) -> Path:
        """Finish the video: at its path, or (not ``complete``) at its partial name."""
        self._writer.release()
        return _finish(self._tmp, self.path, complete)


def saved_names(images: Sequence[Path], root: Path | None, folder: Path) -> list[Path]:
    """Where ``--save folder`` puts each image's annotated copy: its path below ``root`` (the
    images' common folder), or below the common folder of the images that exist when one lies
    outside ``root``. Paths are normalised first (``/d/a/../b/y.jpg`` is ``/d/b/y.jpg``), so no
    name climbs out of ``folder``; a missing image outside that folder (it is skipped) keeps its
    file name; a name met twice gets a number (``y_2.jpg``). Raises ``OutputError`` when a link
    inside ``folder`` would lead a copy outside it.
    """
    normal = [Path(os.path.normpath(os.path.abspath(p))) for p in images]
    found = [p for p, image in zip(normal, images, strict=True) if Path(image).exists()] or normal
    base = Path(os.path.normpath(os.path.abspath(root))) if root is not None else None
    if base is None or not all(_below(p, base) for p in found):
        base = Path(os.path.commonpath([str(p.parent) for p in found]))
    taken: set[Path] = set()
    targets = []
    for path in normal:
        relative = path.relative_to(base) if _below(path, base) else Path(path.name)
        name, number = relative, 1
        while name in taken:
            number += 1
            name = relative.with_name(f"{relative.stem}_{number}{relative.suffix}")
        taken.add(name)
        targets.append(folder / name)
    check_confined(targets, folder)
    return targets


def _below(path: Path, folder: Path) -> bool:
    return path != folder and path.is_relative_to(folder)


def check_confined(targets: Sequence[Path], folder: Path) -> None:
    """Raise ``OutputError`` when a target would be written outside ``folder`` (through a
    linked sub-folder, or a name that climbs out)."""
    real = os.path.realpath(folder)
    for target in targets:
        entry = real_entry(target)
        if not (entry.startswith(real.rstrip(os.sep) + os.sep)):
            raise OutputError(
                f"{target}: would be written outside {folder} (it leads to {entry}); remove "
                f"the link in {folder}, or choose another --save folder"
            )
