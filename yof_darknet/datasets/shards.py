"""Sharded Aff-Wild2 conversion: one completion record per shard, checked before a merge.

``run_shard`` converts one shard (``AffWild2Options.shard``) and keeps its record in
``OUT/shards/affwild2/<I>-of-<N>.json``, written atomically: ``running`` when the shard
starts, then ``finished`` (with its counts) or ``failed`` (with the error). Each record holds the
options that change what is written (``AffWild2Options.settings``) and the SHA-256 of the shard's
input list (``affwild2_files.jobs_digest``: every video and annotation file's path, size and
modification time).

``check_shards`` is what ``datasets --merge`` runs first: it recomputes every shard's input
list and names each shard that is missing, unfinished, failed, converted with other options, or
whose inputs changed since it ran. ``rerun_hint`` says how to re-submit just those.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.fileio import atomic_write_text
from yof_darknet.datasets.affwild2 import (
    DATASET,
    AffWild2Options,
    DetectorFactory,
    convert_affwild2,
)
from yof_darknet.datasets.affwild2_files import collect_jobs, jobs_digest, read_videos_list
from yof_darknet.datasets.stats import ConversionResult

RECORD_VERSION = 1
SHARD_TEMPLATE = "scripts/slurm/affwild2-shards.sbatch"
MAX_LISTED = 20  # problem lines in the merge's error (all are counted)
_SLURM_VARS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_CPUS_PER_TASK")


def record_dir(out: Path) -> Path:
    """Where the shard records of ``OUT`` live."""
    return Path(out) / "shards" / DATASET


def record_path(out: Path, shard: tuple[int, int]) -> Path:
    """``OUT/shards/affwild2/0003-of-0016.json`` for shard (3, 16)."""
    return record_dir(out) / f"{shard[0]:04d}-of-{shard[1]:04d}.json"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Terminated(Exception):
    """SIGTERM (scancel, or SLURM's time limit) reached the shard."""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into an exception, so a cancelled shard records that it failed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated("stopped by SIGTERM (scancel, or the job's time limit)")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_shard(
    root: Path,
    out: Path,
    options: AffWild2Options,
    *,
    detector_factory: DetectorFactory | None = None,
    progress: bool = False,
) -> ConversionResult:
    """Convert ``options.shard`` of ``root`` into ``out/affwild2`` and record how it ended."""
    if options.shard is None:
        raise ValueError("run_shard needs options.shard")
    path = record_path(out, options.shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "version": RECORD_VERSION,
        "dataset": DATASET,
        "shard": list(options.shard),
        "state": "running",
        "settings": options.settings(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "slurm": {name: os.environ[name] for name in _SLURM_VARS if name in os.environ},
        "started": _now(),
    }
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    start = time.monotonic()
    try:
        with _sigterm_raises():
            result = convert_affwild2(
                root, out / DATASET, options, detector_factory=detector_factory, progress=progress
            )
    except BaseException as exc:
        record |= {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
        record |= {"finished": _now(), "seconds": round(time.monotonic() - start, 1)}
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")
        raise
    details = result.stats.details
    record |= {
        "state": "finished",
        "finished": _now(),
        "seconds": round(time.monotonic() - start, 1),
        "inputs": details["shard_inputs"],
        "counts": {
            "videos": details["videos"],
            "videos_resumed": details["videos_resumed"],
            "frames_read": details["frames_read"],
            "frames_detected": details["frames_detected"],
            "frames_labelled": details["frames_labelled"],
            "faces_read": result.stats.read,
            "faces_kept": result.stats.kept,
        },
    }
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    return result


@dataclass
class ShardCheck:
    """What ``check_shards`` found: the shard count, finished records, one line per bad shard."""

    count: int
    finished: list[dict[str, Any]] = field(default_factory=list)
    bad: dict[int, str] = field(default_factory=dict)

    def summary(self) -> str:
        """``'16/16 shards finished: 550 videos, 1234567 frames labelled, 5.1 h of task time'``."""
        frames = sum(r["counts"]["frames_labelled"] for r in self.finished)
        videos = sum(r["counts"]["videos"] for r in self.finished)
        seconds = sum(r["seconds"] for r in self.finished)
        spent = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"
        return (
            f"{len(self.finished)}/{self.count} shards finished: {videos} videos, {frames} "
            f"frames labelled, {spent} of task time"
        )


def _read_records(folder: Path) -> tuple[dict[int, dict[int, dict[str, Any]]], list[str]]:
    """Shard count → index → record, and the files that are not records."""
    by_count: dict[int, dict[int, dict[str, Any]]] = {}
    unreadable: list[str] = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            index, count = (int(v) for v in record["shard"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            unreadable.append(f"{path}: not a shard record ({exc}); delete it")
            continue
        by_count.setdefault(count, {})[index] = record
    return by_count, unreadable


def _settings_difference(recorded: dict[str, Any], wanted: dict[str, Any]) -> str:
    return ", ".join(
        f"{key} {recorded.get(key)!r} (merge: {wanted.get(key)!r})"
        for key in sorted(set(recorded) | set(wanted))
        if recorded.get(key) != wanted.get(key)
    )


def _slurm_job(slurm: dict[str, str]) -> str:
    """`` (SLURM job 4242_3)``, as squeue and the log names show an array task."""
    if "SLURM_ARRAY_JOB_ID" in slurm and "SLURM_ARRAY_TASK_ID" in slurm:
        return f" (SLURM job {slurm['SLURM_ARRAY_JOB_ID']}_{slurm['SLURM_ARRAY_TASK_ID']})"
    return f" (SLURM job {slurm['SLURM_JOB_ID']})" if "SLURM_JOB_ID" in slurm else ""


def _problem(record: dict[str, Any] | None, wanted: dict[str, Any], digest: str) -> str | None:
    """Why a shard's record does not vouch for its part of the output (None: it does)."""
    if record is None:
        return "no record: never started, or its job failed before converting (see its log)"
    where = f"on {record.get('host')}" + _slurm_job(record.get("slurm", {}))
    if record.get("state") == "running":
        return (
            f"started {record.get('started')} {where} and never finished: still running, or "
            "killed (time limit, memory, node failure)"
        )
    if record.get("state") == "failed":
        return f"failed {record.get('finished')} {where}: {record.get('error')}"
    if record.get("state") != "finished":
        return f"unknown state {record.get('state')!r} in its record"
    difference = _settings_difference(record.get("settings", {}), wanted)
    if difference:
        return f"converted with other options: {difference}"
    if record.get("inputs", {}).get("sha256") != digest:
        return (
            "its videos or annotations changed since it ran (files added, removed or modified): "
            "convert it again"
        )
    return None


def check_shards(root: Path, out: Path, options: AffWild2Options) -> ShardCheck:
    """Check every shard's record in ``OUT/shards/affwild2`` against ``root`` and ``options``.

    Raises ``DatasetError`` when there is no record at all, when records of different shard
    counts are mixed, or when a record file is unreadable.
    """
    folder = record_dir(out)
    by_count, unreadable = _read_records(folder) if folder.is_dir() else ({}, [])
    if unreadable:
        raise DatasetError("; ".join(unreadable))
    if not by_count:
        raise DatasetError(
            f"{folder}: no shard record; run the shard jobs first (datasets --shard I/N or "
            f"{SHARD_TEMPLATE}), or add --convert-missing to convert everything in this job"
        )
    if len(by_count) > 1:
        counts = " and ".join(str(n) for n in sorted(by_count))
        raise DatasetError(
            f"{folder}: records of runs with {counts} shards; delete the records of the run "
            "you abandoned (the <I>-of-<N>.json files of its N), then merge again"
        )
    ((count, records),) = by_count.items()
    videos_list = read_videos_list(options.videos_list) if options.videos_list else None
    jobs, _ = collect_jobs(root, videos_list)
    wanted = options.settings()
    check = ShardCheck(count)
    for index in range(count):
        record = records.get(index)
        problem = _problem(record, wanted, jobs_digest(root, jobs[index::count]))
        if problem is None:
            check.finished.append(record)  # type: ignore[arg-type]
        else:
            check.bad[index] = problem
    return check


def array_spec(indices: list[int]) -> str:
    """SLURM's ``--array`` list for ``indices``.

    >>> array_spec([0, 1, 2, 5, 7, 8])
    '0-2,5,7-8'
    """
    ranges: list[list[int]] = []
    for index in sorted(indices):
        if ranges and index == ranges[-1][1] + 1:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def problems_message(check: ShardCheck, out: Path, *, fix: bool = True) -> str:
    """The merge's refusal: each bad shard, and (``fix``) how to convert just those."""
    lines = [f"shard {i}/{check.count}: {why}" for i, why in sorted(check.bad.items())]
    if len(lines) > MAX_LISTED:
        lines = [*lines[:MAX_LISTED], f"... and {len(lines) - MAX_LISTED} more"]
    message = f"{len(check.bad)} of {check.count} shards in {out} cannot be merged:\n  "
    message += "\n  ".join(lines)
    if fix:
        message += (
            f"\nre-run them with the same options (SHARD_COUNT={check.count} sbatch "
            f"--array={array_spec(list(check.bad))} {SHARD_TEMPLATE}, or datasets --shard I/"
            f"{check.count} each), then merge again; or add --convert-missing to convert them "
            "in the merge job"
        )
    return message
