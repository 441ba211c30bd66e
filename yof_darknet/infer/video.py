"""Detection on a video file, a camera or a stream: capture, inference and the consumer (drawing,
window, writers) run in separate threads joined by small queues, as in darknet_video.py, so a
slow frame never stalls capture. With a single-stage :class:`Detector` the work of a frame is
split over the three: the capture thread also pre-processes (Darknet's resize), the inference
thread only runs the network, and decode + NMS happen in the consumer's thread, so on a video
file the three overlap and the network is never waiting for the others.

A live source (camera, URL) keeps only the newest captured frame: frames that arrive while the
network is busy are dropped, so what is shown is never late. A video file is read frame by frame
and nothing is dropped: the output has every frame.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import cv2
import numpy as np

from yof_darknet.core.errors import InferenceError
from yof_darknet.formats.imagefiles import opencv_path
from yof_darknet.infer.detector import Detection, Detector, FrameDetector
from yof_darknet.infer.sources import Source

_END = object()
_POLL_S = 0.1


def put_until_stopped(target: queue.Queue, item: object, stop: threading.Event) -> None:
    """Put ``item`` on ``target``, waiting while it is full, unless ``stop`` is set first."""
    while not stop.is_set():
        try:
            target.put(item, timeout=_POLL_S)
            return
        except queue.Full:
            continue


@dataclass
class Frame:
    """One processed frame: its index in the capture, the image, the detections, and the seconds
    the detector took."""

    index: int
    image: np.ndarray
    detections: list[Detection]
    seconds: float


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's log while it tries its capture backends: a missing camera makes each of
    them print a warning (a dozen lines before our one-line error). A user who set
    ``OPENCV_LOG_LEVEL`` sees them as asked."""
    if "OPENCV_LOG_LEVEL" in os.environ:
        yield
        return
    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def open_capture(source: Source) -> cv2.VideoCapture:
    """Open the video file, camera index or URL of ``source``."""
    target = source.camera if source.camera is not None else str(source.path or source.url)
    with _quiet_opencv():
        if isinstance(target, int):
            capture = cv2.VideoCapture(target)
        else:  # a name that is not UTF-8 crashes OpenCV: open a link (the file outlives it)
            with opencv_path(target) as name:
                capture = cv2.VideoCapture(name)
    if not capture.isOpened():
        hint = "; OPENCV_LOG_LEVEL=DEBUG shows what OpenCV tried"
        if source.camera is not None:
            raise InferenceError(
                f"camera {source.camera}: cannot be opened (no such camera, in use by another "
                f"program, or no permission: see ls -l /dev/video*){hint}"
            )
        raise InferenceError(f"{target}: OpenCV cannot open this video source{hint}")
    return capture


def stream_fps(capture: cv2.VideoCapture, default: float = 30.0) -> float:
    """The capture's frame rate, or ``default`` when it does not say (many cameras)."""
    fps = capture.get(cv2.CAP_PROP_FPS)
    return fps if fps and 0 < fps < 1000 else default


def stream_detections(
    capture: cv2.VideoCapture,
    detector: FrameDetector,
    *,
    live: bool,
    thresh: float,
    nms: float,
    queue_size: int = 2,
    batch: int = 1,
) -> Iterator[Frame]:
    """Yield a :class:`Frame` per processed frame, in capture order. Closing the generator (or
    an exception in a worker) stops both worker threads. ``batch`` > 1 runs that many frames of
    a video file through the network at once (live sources always run one: the newest)."""
    batch = 1 if live else batch
    # a Detector runs its three steps in three threads; another detector detects in one
    staged = detector if isinstance(detector, Detector) else None

    def _prepared(image: np.ndarray) -> tuple[np.ndarray, object]:
        assert staged is not None
        blob, placements = staged.prepare([image])
        return blob, placements[0]

    frames: queue.Queue = queue.Queue(maxsize=1 if live else max(queue_size, batch))
    results: queue.Queue = queue.Queue(maxsize=queue_size)
    stop = threading.Event()
    errors: list[BaseException] = []

    put = partial(put_until_stopped, stop=stop)

    def get(source: queue.Queue) -> Any:  # a queued item or _END
        while not stop.is_set():
            try:
                return source.get(timeout=_POLL_S)
            except queue.Empty:
                continue
        return _END

    def capture_loop() -> None:
        index = 0
        try:
            while not stop.is_set():
                ok, image = capture.read()
                if not ok:
                    break
                item = (index, image, *_prepared(image)) if staged is not None else (index, image)
                if live:
                    # the only producer: after taking the stale frame out, there is room.
                    with contextlib.suppress(queue.Empty):
                        frames.get_nowait()
                    frames.put_nowait(item)
                else:
                    put(frames, item)
                index += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            put(frames, _END)

    def infer_loop() -> None:
        try:
            ended = False
            while not ended:
                items: list[tuple[Any, ...]] = []
                while len(items) < batch and (item := get(frames)) is not _END:
                    items.append(item)
                ended = len(items) < batch
                if not items:
                    break
                started = time.perf_counter()
                if staged is not None:
                    blob = np.concatenate([item[2] for item in items])
                    raws = staged.engine.run(blob)
                    put(results, (items, raws, (time.perf_counter() - started) / len(items)))
                    continue
                found = detector.detect_batch([item[1] for item in items], thresh, nms)
                seconds = (time.perf_counter() - started) / len(items)
                for (index, image), detections in zip(items, found, strict=True):
                    put(results, Frame(index, image, detections, seconds))
        except BaseException as exc:
            errors.append(exc)
        finally:
            put(results, _END)

    workers = [
        threading.Thread(target=capture_loop, name="detect-capture", daemon=True),
        threading.Thread(target=infer_loop, name="detect-infer", daemon=True),
    ]
    for worker in workers:
        worker.start()
    try:
        while (item := get(results)) is not _END:
            if staged is None:
                yield item
                continue
            items, raws, seconds = item
            sizes = [(image.shape[1], image.shape[0]) for _, image, _, _ in items]
            placements = [placement for *_, placement in items]
            found = staged.finish(raws, placements, sizes, thresh, nms)
            for (index, image, _, _), detections in zip(items, found, strict=True):
                yield Frame(index, image, detections, seconds)
        if errors:
            raise errors[0]
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=5)
