from __future__ import annotations

import os
import subprocess
import sys

import pytest

from yof_darknet.core.errors import ClusterError
from yof_darknet.tools.cluster import array_shard, available_cpus, thread_env, visible_gpus


def array(task: int, low: int, high: int, count: int, step: int = 1) -> dict[str, str]:
    """The variables sbatch sets in each task of ``--array=low-high[:step]``."""
    return {
        "SLURM_ARRAY_TASK_ID": str(task),
        "SLURM_ARRAY_TASK_MIN": str(low),
        "SLURM_ARRAY_TASK_MAX": str(high),
        "SLURM_ARRAY_TASK_COUNT": str(count),
        "SLURM_ARRAY_TASK_STEP": str(step),
    }


def test_every_task_of_an_array_gets_its_own_shard():
    assert [array_shard(array(t, 0, 15, 16)) for t in range(16)] == [(i, 16) for i in range(16)]
    assert [array_shard(array(t, 1, 4, 4)) for t in range(1, 5)] == [(i, 4) for i in range(4)]
    steps = [array_shard(array(t, 1, 7, 4, step=2)) for t in (1, 3, 5, 7)]
    assert steps == [(i, 4) for i in range(4)]


def test_outside_an_array_job_says_how_to_submit():
    with pytest.raises(ClusterError, match=r"not a task of a SLURM array job.*--shard I/N"):
        array_shard({"SLURM_JOB_ID": "12"})


@pytest.mark.parametrize(
    "env",
    [
        array(7, 3, 7, 2),  # --array=3,7: a re-run of two tasks
        array(4, 0, 6, 3, step=3),  # 0-6:3 names 0, 3, 6: 4 is none of them
        {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4"},
    ],
)
def test_arrays_that_do_not_map_onto_0_to_n_are_refused(env):
    with pytest.raises(ClusterError, match="--shard auto"):
        array_shard(env)


def test_a_list_with_holes_names_the_fix():
    with pytest.raises(ClusterError, match="SHARD_COUNT=N"):
        array_shard(array(7, 3, 7, 2))


def test_a_garbled_variable_is_named():
    with pytest.raises(ClusterError, match="SLURM_ARRAY_TASK_MAX='x'"):
        array_shard(array(0, 0, 1, 2) | {"SLURM_ARRAY_TASK_MAX": "x"})


def test_cpus_never_exceed_what_the_task_was_given():
    mine = len(os.sched_getaffinity(0))
    assert available_cpus({"SLURM_CPUS_PER_TASK": "1"}) == 1
    assert available_cpus({"SLURM_CPUS_PER_TASK": str(mine + 30)}) == mine
    assert available_cpus({}) == mine
    with pytest.raises(ClusterError, match="SLURM_CPUS_PER_TASK=0"):
        available_cpus({"SLURM_CPUS_PER_TASK": "0"})


def test_cpus_follow_the_affinity_of_a_pinned_process():
    first = min(os.sched_getaffinity(0))
    code = (
        f"import os; os.sched_setaffinity(0, {{{first}}}); "
        "from yof_darknet.tools.cluster import available_cpus; print(available_cpus({}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_gpus_auto_lists_the_visible_devices():
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "5", "SLURM_GPUS_ON_NODE": "1"}) == "0"
    with pytest.raises(ClusterError, match="--gres=gpu:N"):
        visible_gpus({"CUDA_VISIBLE_DEVICES": ""})


def test_darknet_gets_the_tasks_cpus_as_openmp_threads():
    assert thread_env({"SLURM_CPUS_PER_TASK": "1", "PATH": "/bin"}) == {
        "SLURM_CPUS_PER_TASK": "1",
        "PATH": "/bin",
        "OMP_NUM_THREADS": "1",
    }


def test_programs_started_by_the_runner_get_the_tasks_cpus(tmp_path, monkeypatch):
    from yof_darknet.tools.runner import Streaming, run_logged

    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    show = [sys.executable, "-c", "import os; print(os.environ['OMP_NUM_THREADS'])"]
    assert run_logged(show, tmp_path, tmp_path / "log") == (0, "1\n")
    streaming, stdout = Streaming(show, cwd=tmp_path), b""
    while streaming.open_streams:
        name, chunk = streaming.next_chunk(30) or ("timeout", b"")
        assert name != "timeout"
        stdout += chunk if name == "o" else b""
    assert streaming.wait() == 0
    assert stdout == b"1\n"
