"""Cluster planning: Aff-Wild2 annotation frames/s per CPU and per task, and the time to annotate
the whole dataset (about 2.8 million frames in about 550 videos) on 1, 8 and 32 array tasks.

Frames are 1280x720 (Aff-Wild2's common size; its videos range from 480p to 1080p), two people
in every frame, every frame labelled: the worst case, since frames nobody is labelled in are only
decoded. Each conversion runs as a SLURM task would, through ``SLURM_CPUS_PER_TASK`` and the
CPU affinity (``cluster.split_cpus``: workers x threads), with the default ``--face-max-side 640``
and with 320.

The estimate: a task's rate is its CPUs times the rate of one CPU measured in CPU time (steady on
a shared machine, where wall time also counts other jobs' use of the cores), which assumes the
workers of a task scale linearly (they share nothing but the disk); the dataset's time is its
frames over the tasks' summed rate, for shards that are perfectly even. The 2-worker run here
shows how close to linear two workers come on this machine.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from yof_darknet.datasets.affwild2 import AffWild2Options, convert_affwild2
from yof_darknet.samples.affwild2 import Person, SampleVideo, write_video_tree

FRAMES = 120
DATASET_FRAMES = 2_800_000
DATASET_VIDEOS = 550
TASKS = (1, 8, 32)
CPUS_PER_TASK = 4  # as in scripts/slurm/affwild2-shards.sbatch
MAX_SIDES = (640, 320)
LABELS = ((4,) * FRAMES, (1,) * FRAMES)  # Happiness, Anger: every frame labelled


def video(stem: str) -> SampleVideo:
    """Collins (left) and Hopper (right), faces about 250-300 px tall, drifting over 720p."""
    return SampleVideo(
        stem=stem,
        batch="batch1",
        split="Training_Set",
        suffix=".mp4",
        fourcc="mp4v",
        fps=30,
        size=(1280, 720),
        frames=FRAMES,
        persons=(
            Person("left", "eileen_collins", (80, 120), (260, 60), (2.4, 2.8), LABELS[0], FRAMES),
            Person("right", "grace_hopper", (760, 140), (680, 80), (2.5, 2.2), LABELS[1], FRAMES),
        ),
    )


def convert(root: Path, out: Path, cpus: int, max_side: int) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (this process and its workers) and frames written, for a task
    given ``cpus`` CPUs (``--workers auto``)."""
    os.environ["SLURM_CPUS_PER_TASK"] = str(cpus)
    options = AffWild2Options(face_max_side=max_side, workers=cpus)
    start, cpu = time.perf_counter(), _cpu_seconds()
    result = convert_affwild2(root, out, options)
    return time.perf_counter() - start, _cpu_seconds() - cpu, len(result.items)


def _cpu_seconds() -> float:
    own, children = os.times(), os.times()
    return own.user + own.system + children.children_user + children.children_system


def main() -> None:
    cores = sorted(os.sched_getaffinity(0))
    saved = os.environ.get("SLURM_CPUS_PER_TASK")
    try:
        measure(cores)
    finally:
        os.sched_setaffinity(0, cores)
        if saved is None:
            os.environ.pop("SLURM_CPUS_PER_TASK", None)
        else:
            os.environ["SLURM_CPUS_PER_TASK"] = saved


def measure(cores: list[int]) -> None:
    print(f"load average {os.getloadavg()[0]:.1f} on {len(cores)} CPU(s) at the start", flush=True)
    with tempfile.TemporaryDirectory(prefix="yof-bench-cluster-") as tmp:
        one, two = Path(tmp) / "one", Path(tmp) / "two"
        rng = np.random.default_rng(0)
        write_video_tree(one, video("bench-a-1280x720"), rng)
        for stem in ("bench-a-1280x720", "bench-b-1280x720"):
            write_video_tree(two, video(stem), rng)
        for max_side in MAX_SIDES:
            os.sched_setaffinity(0, cores[:1])
            wall, cpu, written = convert(one, Path(tmp) / f"out1-{max_side}", 1, max_side)
            per_cpu = written / cpu
            print(
                f"1 CPU, 1280x720, --face-max-side {max_side}: {written / wall:.1f} frames/s wall, "
                f"{1000 * cpu / written:.0f} CPU ms/frame = {per_cpu:.1f} frames per CPU-second",
                flush=True,
            )
            if len(cores) >= 2:
                os.sched_setaffinity(0, cores[:2])
                wall, cpu, written = convert(two, Path(tmp) / f"out2-{max_side}", 2, max_side)
                print(
                    f"2 CPUs (2 workers), --face-max-side {max_side}: {written / wall:.1f} "
                    f"frames/s wall, {1000 * cpu / written:.0f} CPU ms/frame "
                    f"(load average now {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
            task = CPUS_PER_TASK * per_cpu
            plan = ", ".join(
                f"{n} task{'s' if n > 1 else ''}: {DATASET_FRAMES / (n * task) / 3600:.1f} h"
                for n in TASKS
            )
            print(
                f"plan at --face-max-side {max_side}, {CPUS_PER_TASK} CPUs per task = "
                f"{task:.0f} frames/s per task; {DATASET_FRAMES:,} frames "
                f"({DATASET_VIDEOS} videos): {plan}",
                flush=True,
            )
