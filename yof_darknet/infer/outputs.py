"""Where ``detect`` writes: JSON lines, annotated images, annotated videos, all atomically
(written under a temporary name in the target folder and renamed when complete)."""

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

from yof_darknet.errors import InferenceError
from yof_darknet.fileio import (
    atomic_write_bytes,
    check_writable,
    named,
    open_output,
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


class JsonLines:
    """One JSON object per line to ``target`` (a file path, or ``-`` for stdout)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._tmp: Path | None = None
        if target == "-":
            self._stream: IO[str] = sys.stdout
            return
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        check_writable(path)
        self._tmp = temporary_sibling(path, "partial")
        self._stream = io.TextIOWrapper(open_output(self._tmp), encoding="utf-8")

    def write(self, record: dict) -> None:
        try:
            self._stream.write(json.dumps(record) + "\n")
            if self._tmp is None:
                self._stream.flush()
        except OSError as exc:  # a full disk: the CLI names the file
            raise named(exc, self.target) from exc

    def close(self) -> None:
        """Finish the file (renamed into place; a run stopped by q/Ctrl-C keeps what it wrote)."""
        if self._tmp is None:
            return
        try:
            self._stream.close()
        except OSError as exc:
            self._tmp.unlink(missing_ok=True)
            raise named(exc, self.target) from exc
        os.replace(self._tmp, self.target)
        self._tmp = None


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
        fourcc = cv2.VideoWriter_fourcc(*codec)
        self._writer = cv2.VideoWriter(str(self._tmp), fourcc, fps, size)
        if not self._writer.isOpened():
            raise InferenceError(f"{path}: OpenCV cannot write this video (codec {codec})")
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        self._writer.release()
        os.replace(self._tmp, self.path)
