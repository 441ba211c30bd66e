"""Aff-Wild2 annotation throughput (decode + RetinaFace + JPEG/label write), frames/s.

A 640x480 video of the two sample portraits moving over a background, every frame labelled for
both people; converted with one process and a 2-thread RetinaFace session at --face-max-side 640
and 320, for two video lengths (the rate should not depend on the length); best of two runs.
"""

from __future__ import annotations

import os
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from yof_darknet.datasets.affwild2 import AffWild2Options, convert_affwild2
from yof_darknet.samples.affwild2 import Person, SampleVideo, write_video_tree
from yof_darknet.tools.faces import create_detector

LENGTHS = (100, 300)
REPEATS = 2  # best of: other jobs share the machine
MAX_SIDES = (640, 320)
THREADS = 2


def bench_video(frames: int) -> SampleVideo:
    """Collins (left) and Hopper (right) drifting and growing over ``frames`` frames."""
    return SampleVideo(
        stem=f"bench-30-640x480-{frames}",
        batch="batch1",
        split="Training_Set",
        suffix=".mp4",
        fourcc="mp4v",
        fps=30,
        size=(640, 480),
        frames=frames,
        persons=(
            Person("left", "eileen_collins", (20, 60), (90, 30), (1.2, 1.6), (4,) * frames, frames),
            Person(
                "right", "grace_hopper", (380, 70), (330, 40), (1.3, 1.1), (1,) * frames, frames
            ),
        ),
    )


def run(root: Path, out: Path, max_side: int) -> tuple[float, float, int, int]:
    """Wall and CPU seconds, frames written, faces kept for one conversion (detector built
    beforehand). CPU time counts every thread of this process: steadier on a shared machine."""
    options = AffWild2Options(face_max_side=max_side)
    detector = create_detector(threshold=0.8, max_side=max_side, threads=THREADS)
    start, cpu = time.perf_counter(), time.process_time()
    result = convert_affwild2(root, out, options, detector_factory=partial(lambda d: d, detector))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall, cpu, len(result.items), result.stats.kept


def main() -> None:
    """Measure on 2 cores: pin this process (and the threads it starts) to two of them."""
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, cores[:THREADS])
    try:
        measure()
    finally:
        os.sched_setaffinity(0, cores)


def measure() -> None:
    with tempfile.TemporaryDirectory(prefix="yof-bench-affwild2-") as tmp:
        per_frame: dict[tuple[int, int], tuple[float, float]] = {}  # wall, CPU seconds
        for frames in LENGTHS:
            root = Path(tmp) / f"raw{frames}"
            write_video_tree(root, bench_video(frames), np.random.default_rng(0))
            for max_side in MAX_SIDES:
                seconds, cpu, written, kept = min(
                    run(root, Path(tmp) / f"out{frames}-{max_side}-{repeat}", max_side)
                    for repeat in range(REPEATS)
                )
                per_frame[(frames, max_side)] = (seconds / frames, cpu / frames)
                print(
                    f"affwild2 640x480, {frames} frames, --face-max-side {max_side}: "
                    f"{frames / seconds:.1f} frames/s ({seconds:.2f} s wall, "
                    f"{1000 * cpu / frames:.1f} CPU ms/frame, {written} frames written, "
                    f"{kept}/{2 * frames} faces kept, {THREADS} threads)",
                    flush=True,
                )
        for max_side in MAX_SIDES:
            (wall_a, cpu_a), (wall_b, cpu_b) = (per_frame[(n, max_side)] for n in LENGTHS)
            print(
                f"affwild2 linearity at {max_side}: time per frame at {LENGTHS[1]} frames / at "
                f"{LENGTHS[0]} frames = {wall_b / wall_a:.2f} wall, {cpu_b / cpu_a:.2f} CPU "
                "(1.00 = linear in frames)"
            )
