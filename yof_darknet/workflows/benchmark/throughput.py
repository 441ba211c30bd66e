"""The stream test: 1, 2, 4... copies of one video through one detector at once
(:func:`yof_darknet.infer.streams.run_streams`: decoding, pre-processing and the network
overlapped), the frames per second of all streams together and each stream's latency; with
one network worker using every thread, and with two workers of half the threads each
(``detect --workers 2``: two frames side by side)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yof_darknet.workflows.benchmark.machine import LoadMeter
from yof_darknet.workflows.benchmark.rows import Row


@dataclass(frozen=True)
class StreamsResult:
    streams: int
    workers: int  # network workers (each with threads / workers CPU threads)
    frames: int
    fps: float  # all streams together, per wall second
    cpu_ms: float  # this process's CPU milliseconds per frame
    latency_ms: float  # median over every stream's frames, decoded -> detections
    latency_p95_ms: float
    others: float  # share of the CPUs other processes used meanwhile


def write_clip(frames: Sequence[np.ndarray], count: int, path: Path) -> Path:
    """A ``count``-frame MJPG video of ``frames`` (cycled, each shifted a little so that no two
    frames in a row are the same), for the stream test."""
    import cv2

    from yof_darknet.core.fileio import atomic_path

    height, width = frames[0].shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (width, height))
        for index in range(count):
            writer.write(np.roll(frames[index % len(frames)], 4 * index, axis=1))
        writer.release()
    return path


def measure_streams(
    row: Row, video: Path, counts: Sequence[int], frames: int, threads: int
) -> list[StreamsResult]:
    """One :class:`StreamsResult` per stream count and worker setup (the row's detector with
    ``threads`` threads; and, for ONNX Runtime rows with 2+ threads, two workers of half the
    threads each), ``frames`` frames per stream."""
    import cv2

    from yof_darknet.infer.detector import Detector
    from yof_darknet.infer.streams import StreamStats, run_streams

    setups: list[list] = [[row.detector]]
    if row.model is not None and threads >= 2 and row.name.startswith("ort-"):
        spinning = not row.name.endswith("nospin")
        setups.append([Detector(model=row.model, threads=threads // 2, device="cpu",
                                spinning=spinning) for _ in range(2)])  # fmt: skip
    results = []
    for count in counts:
        for workers in setups:
            captures = [cv2.VideoCapture(str(video)) for _ in range(count)]
            stats = StreamStats([0] * count, [[] for _ in range(count)], [0] * count)
            meter = LoadMeter()
            try:
                for _ in run_streams(captures, workers, max_frames=frames, stats=stats):
                    pass
            finally:
                for capture in captures:
                    capture.release()
            _, cpu, others = meter.stop()
            latencies = [x for stream in stats.latencies for x in stream]
            total = sum(stats.frames)
            results.append(StreamsResult(
                streams=count, workers=len(workers), frames=total, fps=stats.fps,
                cpu_ms=1000 * cpu / max(total, 1),
                latency_ms=1000 * statistics.median(latencies) if latencies else 0.0,
                latency_p95_ms=1000 * float(np.percentile(latencies, 95)) if latencies else 0.0,
                others=others,
            ))  # fmt: skip
    return results
