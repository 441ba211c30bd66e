"""The shipped SLURM templates on a real single-node cluster (tests/support/slurm.py): the Aff-Wild2
sample converted by a 2-task array job, merged by a dependent job, equals a plain run."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support import ROOT
from tests.support.affwild2 import tree_files
from tests.support.skips import NO_SLURM
from tests.support.slurm import Cluster, SlurmUnavailable, start_cluster, stop_cluster
from yof_darknet.cli import main
from yof_darknet.samples.affwild2 import write_affwild2_sample

TEST_FRAMES = "6"
# Aff-Wild2 options of the shards and the merge (which refuses shards converted otherwise);
# 8 frames per video keep the job short.
CONVERT = ("--max-frames-per-video", "8")


@pytest.fixture(scope="module")
def cluster():
    installed = all(shutil.which(name) for name in ("slurmctld", "slurmd", "munged"))
    try:
        cluster = start_cluster()
    except SlurmUnavailable as exc:
        if installed and os.geteuid() == 0:
            raise  # root with SLURM installed: it must start
        pytest.skip(f"{NO_SLURM} (uid {os.geteuid()}): {exc}")
    yield cluster
    stop_cluster(cluster)


def read_log(folder: Path, pattern: str) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob(pattern)))


def without_folder(folder: Path) -> dict[str, bytes]:
    """Every output file, with the output folder's own path written as OUT in the text ones."""
    files = tree_files(folder)
    return {
        name: data.replace(str(folder).encode(), b"OUT")
        for name, data in files.items()
        if not name.startswith("shards/") and name != "stats.json"
    }


def test_array_job_then_merge_job_equal_a_plain_run(cluster: Cluster, tmp_path):
    raw = tmp_path / "AffWild2"
    write_affwild2_sample(raw)
    out = tmp_path / "cluster"
    env = cluster.env | {
        "AFFWILD2": str(raw),
        "OUT": str(out),
        "DATASETS_ARGS": " ".join(CONVERT),
        "MERGE_ARGS": f"--test-per-dataset {TEST_FRAMES}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    submit = ROOT / "scripts" / "slurm" / "submit.sh"
    printed = cluster.run(str(submit), "--shards", "2", "--no-train", cwd=tmp_path, env=env)
    jobs = dict(line.split() for line in printed.splitlines())
    assert set(jobs) == {"shards", "merge"}
    assert cluster.wait(jobs["merge"]) == ["COMPLETED"], read_log(tmp_path, "yof-*.out")
    assert cluster.job_states(jobs["shards"]) == ["COMPLETED", "COMPLETED"]

    shard_logs = read_log(tmp_path, "yof-affwild2-*.out")
    assert "--shard auto: shard 0/2 (SLURM array task 0)" in shard_logs
    assert "--shard auto: shard 1/2 (SLURM array task 1)" in shard_logs
    records = [json.loads(p.read_text()) for p in sorted((out / "shards/affwild2").glob("*"))]
    assert [(r["shard"], r["state"]) for r in records] == [
        ([0, 2], "finished"),
        ([1, 2], "finished"),
    ]
    assert {r["slurm"]["SLURM_ARRAY_JOB_ID"] for r in records} == {jobs["shards"]}
    assert sum(r["counts"]["videos"] for r in records) == 2
    merge_log = read_log(tmp_path, "yof-merge-*.out")
    assert "2/2 shards finished: 2 videos, 16 frames labelled" in merge_log
    assert "2 videos (2 resumed)" in merge_log  # the merge converted nothing itself

    plain = tmp_path / "plain"
    args = ["--affwild2", str(raw), "--out", str(plain), "--test-per-dataset", TEST_FRAMES]
    result = CliRunner().invoke(main, ["datasets", *args, *CONVERT])
    assert result.exit_code == 0, result.output
    assert without_folder(out) == without_folder(plain)
    merged, alone = (json.loads((o / "stats.json").read_text()) for o in (out, plain))
    assert merged["options"]["shards"] == {"count": 2, "finished": 2, "converted_here": []}
    for stats in (merged, alone):
        stats["datasets"]["affwild2"]["details"].pop("videos_resumed")
    assert json.dumps(merged["datasets"]).replace(str(out), "OUT") == json.dumps(
        alone["datasets"]
    ).replace(str(plain), "OUT")


def test_a_failed_task_cancels_the_merge_and_its_rerun_completes_it(cluster: Cluster, tmp_path):
    raw = tmp_path / "AffWild2"
    write_affwild2_sample(raw)
    out = tmp_path / "cluster"
    blocker = out / "affwild2" / "102-25-320x180"  # shard 1's video folder, taken by a file
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder\n")
    env = cluster.env | {
        "AFFWILD2": str(raw),
        "OUT": str(out),
        "DATASETS_ARGS": " ".join(CONVERT),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    submit = ROOT / "scripts" / "slurm" / "submit.sh"
    printed = cluster.run(str(submit), "--shards", "2", "--no-train", cwd=tmp_path, env=env)
    jobs = dict(line.split() for line in printed.splitlines())
    assert sorted(cluster.wait(jobs["shards"])) == ["COMPLETED", "FAILED"]
    assert cluster.wait(jobs["merge"]) == ["CANCELLED"]  # afterok can no longer be met
    assert not (out / "train.txt").exists()

    merge = ["datasets", "--merge", "--affwild2", str(raw), "--out", str(out), *CONVERT]
    refused = CliRunner().invoke(main, merge)
    assert refused.exit_code == 1
    assert "shard 1/2: failed" in refused.output
    assert "NotADirectoryError" in refused.output
    rerun = "SHARD_COUNT=2 sbatch --array=1 scripts/slurm/affwild2-shards.sbatch"
    assert rerun in refused.output

    blocker.unlink()
    script = str(ROOT / "scripts" / "slurm" / "affwild2-shards.sbatch")
    again = cluster.run("sbatch", "--parsable", "--array=1", script, cwd=tmp_path,
                        env=env | {"SHARD_COUNT": "2"}).strip()  # fmt: skip
    log = f"yof-affwild2-{again}_*.out"
    assert cluster.wait(again) == ["COMPLETED"], read_log(tmp_path, log)
    assert "shard 1/2: 1 videos done" in read_log(tmp_path, log)  # SHARD_COUNT: not auto
    result = CliRunner().invoke(main, [*merge, "--test-per-dataset", TEST_FRAMES])
    assert result.exit_code == 0, result.output
    assert "2/2 shards finished: 2 videos, 16 frames labelled" in result.output
    assert "2 videos (2 resumed)" in result.output
