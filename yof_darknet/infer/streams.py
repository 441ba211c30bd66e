"""Several video sources through one detector at once, in three overlapped stages: one reader
thread per source decodes a frame and pre-processes it (Darknet's resize into the network
input), one thread per network worker runs the network on the ready inputs in the order they
came, and the consumer decodes the boxes (+ NMS) and takes the result, each stream's frames in
order. OpenCV's decoder, the resize and ONNX
Runtime release the GIL, so the stages overlap on the cores.

Video files lose no frame: a reader waits while the queue of ready inputs (two per source) is
full. A camera or stream (``live``) drops the frames it cannot queue instead of waiting, so a
result is never more than that queue late.

    for frame in run_streams([open_capture(a), open_capture(b)], detector):
        print(frame.stream, frame.index, len(frame.detections), frame.latency)
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import cv2
import numpy as np

from yof_darknet.core.errors import InferenceError
from yof_darknet.infer.detector import Detection, Detector
from yof_darknet.infer.options import DetectOptions
from yof_darknet.infer.video import put_until_stopped

_END = object()
_POLL_S = 0.1


@dataclass
class StreamFrame:
    """One processed frame of stream ``stream``: its index in that stream, the image, the
    detections, and the seconds from the end of its decoding to its detections (``latency``)."""

    stream: int
    index: int
    image: np.ndarray
    detections: list[Detection]
    latency: float


@dataclass
class StreamStats:
    """What each stream and all together did: frames, per-frame latencies, wall seconds."""

    frames: list[int]
    latencies: list[list[float]]
    dropped: list[int]
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        """Frames per second over all streams together."""
        return sum(self.frames) / self.seconds if self.seconds > 0 else 0.0


def run_streams(
    captures: Sequence[cv2.VideoCapture],
    detector: Detector | Sequence[Detector],
    *,
    live: Sequence[bool] = (),
    thresh: float = 0.25,
    nms: float = 0.45,
    max_frames: int | None = None,
    stats: StreamStats | None = None,
) -> Iterator[StreamFrame]:
    """Yield a :class:`StreamFrame` per processed frame of any stream, as they finish; each
    stream's frames come in order. ``detector``: one, or several (one network thread each,
    e.g. two of one CPU thread each on two cores: frames run side by side instead of one
    frame's layers being split over the cores). ``max_frames``: stop each stream after that
    many. Closing the generator stops every thread; ``stats`` (if given) is filled as frames
    come. ``live``: per capture, whether it is a camera or stream (drops frames) rather than a
    file."""
    count = len(captures)
    workers = [detector] if isinstance(detector, Detector) else list(detector)
    first = workers[0]
    stats = stats if stats is not None else StreamStats([0] * count, [[] for _ in captures],
                                                        [0] * count)  # fmt: skip
    ready: queue.Queue = queue.Queue(maxsize=2 * count)
    done: queue.Queue = queue.Queue(maxsize=2 * count + len(workers))
    stop = threading.Event()
    errors: list[BaseException] = []

    put = partial(put_until_stopped, stop=stop)

    def read(stream: int, capture: cv2.VideoCapture) -> None:
        index = queued = 0
        try:
            while not stop.is_set() and (max_frames is None or index < max_frames):
                ok, image = capture.read()
                if not ok:
                    break
                decoded = time.perf_counter()
                blob, placements = first.prepare([image])
                item = (stream, queued, index, image, blob, placements[0], decoded)
                index += 1
                if stream < len(live) and live[stream]:
                    try:
                        ready.put_nowait(item)
                        queued += 1
                    except queue.Full:
                        stats.dropped[stream] += 1
                else:
                    put(ready, item)
                    queued += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            put(ready, (stream, _END))

    open_streams = [count]
    lock = threading.Lock()

    def infer(worker: Detector) -> None:
        try:
            while not stop.is_set():
                with lock:
                    if not open_streams[0]:
                        break
                try:
                    item = ready.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if item[1] is _END:
                    with lock:
                        open_streams[0] -= 1
                    continue
                raws = worker.engine.run(item[4])
                put(done, (*item[:4], raws, *item[5:]))
        except BaseException as exc:
            errors.append(exc)
        finally:
            put(done, _END)

    threads = [
        threading.Thread(target=read, args=(i, c), name=f"stream-{i}", daemon=True)
        for i, c in enumerate(captures)
    ]
    threads += [
        threading.Thread(target=infer, args=(w,), name=f"streams-infer-{n}", daemon=True)
        for n, w in enumerate(workers)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    waiting: list[dict[int, tuple]] = [{} for _ in captures]  # out of order, per stream
    expected = [0] * count
    try:
        ended = 0
        while ended < len(workers):
            try:
                item = done.get(timeout=_POLL_S)
            except queue.Empty:
                if errors:
                    break
                continue
            if item is _END:
                ended += 1
                continue
            waiting[item[0]][item[1]] = item
            stream = item[0]
            while expected[stream] in waiting[stream]:
                _, _, index, image, raws, placement, decoded = waiting[stream].pop(expected[stream])
                expected[stream] += 1
                size = (image.shape[1], image.shape[0])
                detections = first.finish(raws, [placement], [size], thresh, nms)[0]
                latency = time.perf_counter() - decoded
                stats.frames[stream] += 1
                stats.latencies[stream].append(latency)
                yield StreamFrame(stream, index, image, detections, latency)
        if errors:
            raise errors[0]
    finally:
        stop.set()
        stats.seconds = time.perf_counter() - started
        for thread in threads:
            thread.join(timeout=5)


def run_detect_streams(options: DetectOptions, sources: Sequence[str]) -> tuple[StreamStats, str]:
    """``detect`` on several video files, cameras or streams at once: JSON lines (``--json``,
    each record naming its source) and the statistics; the detector's description."""
    from yof_darknet.core.fileio import protected
    from yof_darknet.infer.outputs import JsonLines, frame_record
    from yof_darknet.infer.run import make_detector, model_paths
    from yof_darknet.infer.sources import resolve_source
    from yof_darknet.infer.video import open_capture
    from yof_darknet.tools.cluster import available_cpus

    refused = {"--show": options.show, "--save": options.save, "--timeline": options.timeline,
               "--temporal/--smooth": options.temporal or options.smooth,
               "--cascade": options.cascade, "--batch": options.batch > 1}  # fmt: skip
    if used := [flag for flag, value in refused.items() if value]:
        raise InferenceError(
            f"{', '.join(used)}: with several sources detect writes JSON lines only (--json); "
            "run one source at a time for the others"
        )
    resolved = [resolve_source(text) for text in sources]
    for source in resolved:
        if source.kind == "images":
            raise InferenceError(
                f"{source.name}: several sources must be videos, cameras or streams; give "
                "images one source at a time (a folder or a list holds many)"
            )
    models = model_paths(options)
    threads = options.threads or available_cpus()
    share = replace(options, threads=max(1, threads // options.workers))
    with protected(*models, options.names, *(s.path for s in resolved)):
        workers: list[Detector] = []
        for _ in range(options.workers):
            worker = make_detector(share)
            assert isinstance(worker, Detector)  # --cascade was refused above
            workers.append(worker)
        detector = workers[0]
        captures = [open_capture(source) for source in resolved]
        stats = StreamStats([0] * len(captures), [[] for _ in captures], [0] * len(captures))
        json_out = JsonLines(options.json) if options.json else None
        try:
            frames = run_streams(
                captures, workers, live=[s.kind == "live" for s in resolved],
                thresh=options.thresh, nms=options.nms, stats=stats,
            )  # fmt: skip
            for frame in frames:
                if json_out is not None:
                    height, width = frame.image.shape[:2]
                    record = frame_record(resolved[frame.stream].name, frame.index,
                                          frame.detections, (width, height))  # fmt: skip
                    json_out.write(record)
        finally:
            for capture in captures:
                capture.release()
            if json_out is not None:
                json_out.close()
    return stats, detector.description
