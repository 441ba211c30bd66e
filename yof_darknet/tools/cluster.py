"""What a cluster task was given: its shard of an array job, its CPUs and its GPUs.

Every stage that splits work or starts threads asks here instead of ``os.cpu_count()``, which
counts the whole node: on a shared SLURM node that oversubscribes the cores other jobs hold.

- ``array_shard``: ``--shard auto`` → ``(index, count)`` from the SLURM array variables
  (``SLURM_ARRAY_TASK_ID``, ``_MIN``/``_MAX``/``_STEP`` and ``_COUNT``). ``--array=0-15``,
  ``1-16`` and ``0-30:2`` all map onto shards 0..N-1; a list with holes (``--array=3,7``, a
  re-run of two tasks) does not say N, so it is an error that says to name the shard count.
- ``available_cpus``: the CPUs this process may run on (``os.sched_getaffinity``), never more than
  ``SLURM_CPUS_PER_TASK`` (with ``TaskPlugin=task/none`` SLURM does not pin the task, so the
  affinity alone would be the whole node).
- ``split_cpus``: worker processes and threads per worker within those CPUs.
- ``visible_gpus``: ``train --gpus auto`` → ``"0,1"``, the GPUs SLURM (``--gres=gpu:N``) or
  ``CUDA_VISIBLE_DEVICES`` left visible, numbered as CUDA numbers them inside the job.
- ``sigterm_interrupts``: SIGTERM (``scancel``, a job's time limit, ``kill``) stops a stage as
  Ctrl-C does, so it cleans up and says what it left instead of dying mid-write.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator, Mapping

from yof_darknet.core.errors import ClusterError

AUTO = "auto"


def _int_var(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ClusterError(f"{name}={value!r} is not an integer") from None


def array_shard(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(index, count)`` of this SLURM array task, 0-based.

    >>> array_shard({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "0",
    ...              "SLURM_ARRAY_TASK_MAX": "15", "SLURM_ARRAY_TASK_COUNT": "16"})
    (3, 16)
    >>> array_shard({"SLURM_ARRAY_TASK_ID": "16", "SLURM_ARRAY_TASK_MIN": "1",
    ...              "SLURM_ARRAY_TASK_MAX": "16"})
    (15, 16)
    >>> array_shard({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "0",
    ...              "SLURM_ARRAY_TASK_MAX": "6", "SLURM_ARRAY_TASK_STEP": "2"})
    (2, 4)
    >>> array_shard({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"})
    (2, 4)
    """
    env = os.environ if env is None else env
    task = _int_var(env, "SLURM_ARRAY_TASK_ID")
    if task is None:
        raise ClusterError(
            "--shard auto: SLURM_ARRAY_TASK_ID is not set, so this is not a task of a SLURM "
            "array job; submit it with sbatch --array=0-<N-1> (scripts/slurm/), or pass "
            "--shard I/N"
        )
    low, high = _int_var(env, "SLURM_ARRAY_TASK_MIN"), _int_var(env, "SLURM_ARRAY_TASK_MAX")
    step = _int_var(env, "SLURM_ARRAY_TASK_STEP") or 1
    given = _int_var(env, "SLURM_ARRAY_TASK_COUNT")
    where = (
        f"SLURM array task {task} of {low}-{high}" + (f":{step}" if step != 1 else "")
        if low is not None and high is not None
        else f"SLURM array task {task} of {given}"
    )
    if low is None or high is None:
        if given is None:
            raise ClusterError(
                f"--shard auto: {where}: neither SLURM_ARRAY_TASK_MIN/MAX nor "
                "SLURM_ARRAY_TASK_COUNT is set; pass --shard I/N"
            )
        low, high, step = 0, given - 1, 1
    span = high - low
    count = span // step + 1 if step > 0 and span >= 0 and span % step == 0 else None
    if count is None or (given is not None and given != count):
        raise ClusterError(
            f"--shard auto: {where} ({given} tasks) does not map onto shards 0..N-1 (the array "
            "is a list with holes, e.g. a re-run of some tasks); name the count: --shard "
            "$SLURM_ARRAY_TASK_ID/N (the templates take SHARD_COUNT=N)"
        )
    if (task - low) % step or not 0 <= (task - low) // step < count:
        raise ClusterError(f"--shard auto: {where}: the task id lies outside the array")
    return (task - low) // step, count


def available_cpus(env: Mapping[str, str] | None = None) -> int:
    """CPUs this task may use: its CPU affinity, capped by ``SLURM_CPUS_PER_TASK``.

    >>> available_cpus({"SLURM_CPUS_PER_TASK": "1"})
    1
    >>> available_cpus({}) == len(os.sched_getaffinity(0))
    True
    """
    env = os.environ if env is None else env
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    given = _int_var(env, "SLURM_CPUS_PER_TASK")
    if given is not None and given < 1:
        raise ClusterError(f"SLURM_CPUS_PER_TASK={given}: expected 1 or more")
    return min(cpus, given) if given else cpus


def split_cpus(workers: int | None, cpus: int) -> tuple[int, int]:
    """``(workers, threads per worker)`` within ``cpus``; ``workers=None`` means one per CPU.

    Never more workers than CPUs, and the threads of all workers together fit the CPUs.

    >>> split_cpus(None, 4)
    (4, 1)
    >>> split_cpus(2, 4)
    (2, 2)
    >>> split_cpus(8, 4)
    (4, 1)
    >>> split_cpus(3, 8)
    (3, 2)
    """
    workers = min(workers or cpus, cpus)
    return workers, max(1, cpus // workers)


def visible_gpus(env: Mapping[str, str] | None = None) -> str:
    """Darknet's ``-gpus`` list for the GPUs this job sees: ``"0,1,...,N-1"``.

    Inside a job CUDA numbers the visible devices from 0 whatever their ids on the node, so
    the list counts ``CUDA_VISIBLE_DEVICES`` (set by SLURM's ``--gres=gpu:N``), else
    ``SLURM_GPUS_ON_NODE``.

    >>> visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"})
    '0,1'
    >>> visible_gpus({"SLURM_GPUS_ON_NODE": "4"})
    '0,1,2,3'
    """
    env = os.environ if env is None else env
    devices = [d for d in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    count = len(devices) if devices else _int_var(env, "SLURM_GPUS_ON_NODE") or 0
    if count < 1:
        raise ClusterError(
            "--gpus auto: no GPU was given to this job (CUDA_VISIBLE_DEVICES and "
            "SLURM_GPUS_ON_NODE are unset or empty); submit with --gres=gpu:N or pass --gpus 0,1"
        )
    return ",".join(str(i) for i in range(count))


def thread_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` for a child process (darknet) with ``OMP_NUM_THREADS`` set to this task's CPUs,
    unless the user already chose it: OpenMP builds otherwise start one thread per node core.

    >>> thread_env({"SLURM_CPUS_PER_TASK": "1"})["OMP_NUM_THREADS"]
    '1'
    >>> thread_env({"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"]
    '3'
    """
    env = dict(os.environ if env is None else env)
    env.setdefault("OMP_NUM_THREADS", str(available_cpus(env)))
    return env


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` as Ctrl-C does (in the main thread;
    elsewhere the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
