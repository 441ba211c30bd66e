"""Shard completion records and the merge's check, on the Aff-Wild2 look-alike."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from tests.support.affwild2 import (
    Interrupted,
    InterruptingDetector,
    TruthDetector,
    copy_release,
)
from tests.support.expw import tree_digest
from yof_darknet.cli import main
from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.affwild2 import AffWild2Options, convert_affwild2
from yof_darknet.datasets.shards import (
    check_shards,
    problems_message,
    record_path,
    run_shard,
)
from yof_darknet.samples.affwild2 import write_affwild2_sample


def options(shard=None, **given) -> AffWild2Options:
    return AffWild2Options(detector="truth", shard=shard, **given)


@pytest.fixture
def raw(dataset_fixtures: Path, tmp_path: Path) -> Path:
    return copy_release(dataset_fixtures, tmp_path / "raw")


@pytest.fixture
def detector(dataset_fixtures):
    return lambda: TruthDetector(dataset_fixtures)


def shard(raw, out, index, count, detector, **given):
    return run_shard(raw, out, options((index, count), **given), detector_factory=detector)


def test_finished_shards_pass_the_check(raw, tmp_path, detector):
    out = tmp_path / "out"
    first = shard(raw, out, 0, 2, detector)
    shard(raw, out, 1, 2, detector)
    record = json.loads(record_path(out, (0, 2)).read_text())
    assert record["state"] == "finished"
    assert record["shard"] == [0, 2]
    assert record["settings"] == options().settings()
    assert record["counts"]["videos"] == 1
    assert record["counts"]["frames_labelled"] == len(first.items)
    assert record["counts"]["faces_kept"] == first.stats.kept
    assert len(record["inputs"]["sha256"]) == 64
    check = check_shards(raw, out, options())
    assert check.bad == {}
    assert check.summary().startswith("2/2 shards finished: 2 videos, 41 frames labelled")


def test_a_missing_shard_is_named_with_the_rerun_line(raw, tmp_path, detector):
    out = tmp_path / "out"
    shard(raw, out, 0, 2, detector)
    check = check_shards(raw, out, options())
    assert list(check.bad) == [1]
    assert "no record" in check.bad[1]
    message = problems_message(check, out)
    assert "shard 1/2: no record" in message
    assert "SHARD_COUNT=2 sbatch --array=1 scripts/slurm/affwild2-shards.sbatch" in message
    assert "--convert-missing" in message


def test_a_failed_shard_records_its_error(raw, tmp_path, dataset_fixtures):
    out = tmp_path / "out"
    with pytest.raises(Interrupted):
        shard(raw, out, 1, 2, lambda: InterruptingDetector(TruthDetector(dataset_fixtures), 3))
    record = json.loads(record_path(out, (1, 2)).read_text())
    assert record["state"] == "failed"
    assert record["error"] == "Interrupted: interrupted after 3 frames"
    check = check_shards(raw, out, options())
    assert "failed" in check.bad[1] and "interrupted after 3 frames" in check.bad[1]
    assert "no record" in check.bad[0]


def test_other_options_or_changed_inputs_are_refused(raw, tmp_path, detector):
    out = tmp_path / "out"
    shard(raw, out, 0, 2, detector, frame_stride=2)
    shard(raw, out, 1, 2, detector)
    check = check_shards(raw, out, options())
    assert check.bad == {0: "converted with other options: frame_stride 2 (merge: 1)"}
    # The second shard's video (9002-...) gets new annotations after its shard ran.
    annotation = next(raw.rglob("9002-25-320x180_left.txt"))
    annotation.write_text(annotation.read_text() + "4\n")
    check = check_shards(raw, out, options())
    assert list(check.bad) == [0, 1]
    assert "changed since it ran" in check.bad[1]


def test_records_of_two_shard_counts_or_garbage_stop_the_merge(raw, tmp_path, detector):
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match="no shard record"):
        check_shards(raw, out, options())
    shard(raw, out, 0, 2, detector)
    shard(raw, out, 0, 3, detector)
    with pytest.raises(DatasetError, match="records of runs with 2 and 3 shards"):
        check_shards(raw, out, options())
    record_path(out, (0, 3)).write_text("{")
    with pytest.raises(DatasetError, match=r"0000-of-0003\.json: not a shard record"):
        check_shards(raw, out, options())


BLOCKED_SHARD = """
import sys, time
from pathlib import Path
from yof_darknet.datasets.affwild2 import AffWild2Options
from yof_darknet.datasets.shards import run_shard

class Blocked:
    name = "truth"
    def detect(self, image):
        Path(sys.argv[3]).touch()  # the shard is converting: the test may signal it now
        time.sleep(600)

run_shard(Path(sys.argv[1]), Path(sys.argv[2]), AffWild2Options(detector="truth", shard=(0, 2)),
          detector_factory=Blocked)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_cancelled_or_killed_shard_is_never_taken_as_finished(raw, tmp_path, signum):
    out, started = tmp_path / "out", tmp_path / "converting"
    process = subprocess.Popen(
        [sys.executable, "-c", BLOCKED_SHARD, str(raw), str(out), str(started)]
    )
    try:
        while not started.exists():
            assert process.poll() is None, "the shard ended before converting"
            time.sleep(0.05)
        process.send_signal(signum)
        process.wait(30)
    finally:
        process.kill()
    problem = check_shards(raw, out, options()).bad[0]
    if signum == signal.SIGTERM:
        assert problem.startswith("failed ")
        assert problem.endswith("Terminated: stopped by SIGTERM (scancel, or the job's time limit)")
    else:
        assert "never finished: still running, or killed" in problem


def test_workers_and_threads_never_exceed_the_tasks_cpus(
    raw, tmp_path, dataset_fixtures, monkeypatch
):
    pids: list[int] = []

    def factory() -> TruthDetector:  # local: a worker process could not unpickle it
        pids.append(os.getpid())
        return TruthDetector(dataset_fixtures)

    threads = cv2.getNumThreads()
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    try:
        result = convert_affwild2(raw, tmp_path / "out", options(workers=4),
                                  detector_factory=factory)  # fmt: skip
        assert pids == [os.getpid()]  # one worker, in this process
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(threads)
    assert result.stats.details["videos"] == 2


def run_cli(raw: Path, out: Path, *extra: str, env: dict[str, str] | None = None):
    args = ["datasets", "--affwild2", str(raw), "--out", str(out), *extra]
    return CliRunner().invoke(main, args, env=env)


def test_cli_refuses_contradictory_or_impossible_shard_options(raw, tmp_path):
    out = tmp_path / "out"
    result = run_cli(raw, out, "--convert-missing")
    assert result.exit_code == 2 and "--convert-missing goes with --merge" in result.output
    result = run_cli(raw, out, "--merge", "--shard", "0/2")
    assert result.exit_code == 2 and "use one" in result.output
    no_array = {name: None for name in os.environ if name.startswith("SLURM_")}
    result = run_cli(raw, out, "--shard", "auto", env=no_array)
    assert result.exit_code == 1 and "not a task of a SLURM array job" in result.output
    result = run_cli(raw, out, "--merge")
    assert result.exit_code == 1 and "no shard record" in result.output
    result = run_cli(raw, out, "--workers", "many")
    assert result.exit_code == 2 and "give a number or auto" in result.output
    assert not out.exists() or not (out / "train.txt").exists()


def _datasets(raw: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "yof_darknet", "datasets", "--affwild2", str(raw), "--out",
            str(out), *extra]  # fmt: skip


def _recorded(lock: Path) -> bool:
    """Whether a run holds ``lock``: it writes its record there once it has locked it."""
    try:
        return lock.stat().st_size > 0
    except FileNotFoundError:
        return False


def _freeze_once_holding(process: subprocess.Popen, lock: Path) -> None:
    """Stop ``process`` (SIGSTOP) as soon as it holds ``lock`` (its record is in it: written
    once locked): it stays in the middle of its run while the others try."""
    deadline = time.monotonic() + 300
    while not _recorded(lock):
        assert process.poll() is None and time.monotonic() < deadline, "it ended before locking"
        time.sleep(0.005)
    process.send_signal(signal.SIGSTOP)


def test_shards_share_one_out_and_keep_other_runs_out(tmp_path):
    """SLURM array tasks with --shard write one --out side by side; a run without --shard (an
    array task that forgot it, a second terminal) or the same shard twice is refused while a
    shard runs, naming it; the merge then finds every shard finished. (The embedded sample's
    videos: real faces for RetinaFace.)"""
    raw = tmp_path / "AffWild2"
    write_affwild2_sample(raw)
    out = tmp_path / "out"
    before = tree_digest(raw)
    first = subprocess.Popen(_datasets(raw, out, "--shard", "0/2"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _freeze_once_holding(first, out / ".yof-lock.shard-0-of-2")
        run = {
            name: subprocess.run(
                _datasets(raw, out, *extra), capture_output=True, text=True, timeout=600
            )
            for name, extra in (
                ("other", ["--shard", "1/2"]),
                ("same", ["--shard", "0/2"]),
                ("plain", []),
            )
        }
    finally:
        first.send_signal(signal.SIGCONT)
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    assert run["other"].returncode == 0, run["other"].stderr
    for name in ("same", "plain"):
        assert run[name].returncode == 1, run[name].stderr
        assert f"another run is writing there (pid {first.pid} on " in run[name].stderr
        assert "--shard 0/2" in run[name].stderr
    assert "give each --shard auto" in run["plain"].stderr
    merged = subprocess.run(_datasets(raw, out, "--merge", "--test-per-dataset", "5"),
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert merged.returncode == 0, merged.stderr
    listed = [Path(p) for name in ("train.txt", "test.txt") for p in
              (out / name).read_text().split()]  # fmt: skip
    assert listed and all(p.is_file() and p.with_suffix(".txt").is_file() for p in listed)
    assert not list(out.glob(".yof-lock*"))
    assert tree_digest(raw) == before
