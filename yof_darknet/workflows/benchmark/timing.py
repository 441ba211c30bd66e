"""Rows timed frame by frame, interleaved: every round runs every row once on the same frame,
in an order that rotates from round to round, so that a burst of load elsewhere on the machine
slows every row alike and no row always runs right after the same other one.

Each timed frame is the work of ``Detector.detect`` split into its three parts, each timed on
the wall clock and in this process's CPU time: pre-processing (Darknet's resize into the
network input), the forward pass (``engine.run``) and decode + NMS. Before each frame the
benchmark sleeps ``pause_s``: ONNX Runtime's spinning threads would otherwise bill the next row.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from yof_darknet.workflows.benchmark.machine import LoadMeter
from yof_darknet.workflows.benchmark.rows import Row

PARTS = ("pre", "forward", "post")
QUIET = 0.05  # a frame is "quiet" when other processes used less than this share of the CPUs
WARMUP = 3


@dataclass
class Samples:
    """Seconds of each timed frame of one row (wall and CPU), and the others' load meanwhile."""

    wall: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PARTS})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PARTS})
    total: list[float] = field(default_factory=list)
    total_cpu: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)


def detect_once(row: Row, frame: np.ndarray, samples: Samples | None = None) -> None:
    """One frame through the row's detector, its parts timed into ``samples`` (if given)."""
    detector = row.detector
    size = [(frame.shape[1], frame.shape[0])]
    meter = LoadMeter()
    c0, t0 = time.process_time(), time.perf_counter()
    blob, placements = detector.prepare([frame])
    c1, t1 = time.process_time(), time.perf_counter()
    raws = detector.engine.run(blob)
    c2, t2 = time.process_time(), time.perf_counter()
    detector.finish(raws, placements, size, 0.25, 0.45)
    c3, t3 = time.process_time(), time.perf_counter()
    *_, others = meter.stop()
    if samples is None:
        return
    spans = ((t1 - t0, c1 - c0), (t2 - t1, c2 - c1), (t3 - t2, c3 - c2))
    for part, (w, c) in zip(PARTS, spans, strict=True):
        samples.wall[part].append(w)
        samples.cpu[part].append(c)
    samples.total.append(t3 - t0)
    samples.total_cpu.append(c3 - c0)
    samples.others.append(others)


def warm_up(row: Row, frames: Sequence[np.ndarray]) -> None:
    for index in range(WARMUP):
        detect_once(row, frames[index % len(frames)])


def time_rows(
    rows: Sequence[Row],
    frames: Sequence[np.ndarray],
    rounds: int,
    pause_s: float,
    progress: Callable[[int], None] = lambda _: None,
) -> dict[str, Samples]:
    """{row key: its samples} of ``rounds`` interleaved rounds."""
    samples = {row.key: Samples() for row in rows}
    for index in range(rounds):
        shift = index % len(rows)
        frame = frames[index % len(frames)]
        for row in [*rows[shift:], *rows[:shift]]:
            time.sleep(pause_s)
            detect_once(row, frame, samples[row.key])
        progress(index + 1)
    return samples


@dataclass(frozen=True)
class Summary:
    """Medians (and the p95 of the end-to-end latency) of one row's samples, in seconds."""

    total: float
    p95: float
    parts: dict[str, float]
    cpu: float  # CPU seconds per frame, end to end
    forward_cpu: float
    others: float  # median share of the CPUs other processes used during its frames
    frames: int
    quiet_total: float | None  # median end to end over the quiet frames (None: none)
    quiet_frames: int


def summarize(samples: Samples) -> Summary:
    quiet = [t for t, o in zip(samples.total, samples.others, strict=True) if o < QUIET]
    return Summary(
        total=statistics.median(samples.total),
        p95=float(np.percentile(samples.total, 95)),
        parts={p: statistics.median(samples.wall[p]) for p in PARTS},
        cpu=statistics.median(samples.total_cpu),
        forward_cpu=statistics.median(samples.cpu["forward"]),
        others=statistics.median(samples.others),
        frames=len(samples.total),
        quiet_total=statistics.median(quiet) if quiet else None,
        quiet_frames=len(quiet),
    )
