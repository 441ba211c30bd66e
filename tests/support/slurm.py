"""A real single-node SLURM cluster for the tests: munged, slurmctld and slurmd from Debian's
``munge`` and ``slurm-wlm`` (installed by ``.ci/run``), configured in a temporary folder.

Everything lives in that folder (config, munge key and socket, state, spool, logs, pid files) and
listens on free localhost ports, so the machine's own SLURM or munge, if any, is left alone. The
node claims 8 CPUs and 16 GB (``SlurmdParameters=config_overrides``) so the shipped templates'
resource requests fit on any machine; ``TaskPlugin=task/none`` does not pin tasks, so the toolkit
must cap its threads by ``SLURM_CPUS_PER_TASK`` itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo", "squeue")
NODE = "yofnode"
FINAL_STATES = {
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
    "BOOT_FAIL", "DEADLINE",
}  # fmt: skip


class SlurmUnavailable(RuntimeError):
    """SLURM cannot run here (not installed, or its daemons would not start as this user)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(root: Path, user: str) -> str:
    host = socket.gethostname().split(".")[0]
    return f"""\
ClusterName=yoftest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge.sock
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname={host} CPUs=8 RealMemory=16384 State=UNKNOWN
PartitionName=yoftest Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""


def _clean_env(conf: Path) -> dict[str, str]:
    """This environment without the SLURM variables of any job the tests themselves run in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    return env | {"SLURM_CONF": str(conf)}


@dataclass
class Cluster:
    """A started cluster: ``env`` points the SLURM commands at it."""

    root: Path
    env: dict[str, str]

    def run(self, *args: str, **kwargs) -> str:
        done = subprocess.run(
            args, env=kwargs.pop("env", self.env), capture_output=True, text=True, **kwargs
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: exit {done.returncode}: {done.stderr}")
        return done.stdout

    def job_states(self, job: str) -> list[str]:
        """The state of the job, one per array task."""
        text = self.run("scontrol", "-o", "show", "job", job)
        return [field.split("=", 1)[1] for field in text.split() if field.startswith("JobState=")]

    def wait(self, job: str, timeout: float = 300) -> list[str]:
        """Poll until every task of ``job`` reaches a final state; returns those states."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.job_states(job)
            if states and all(state in FINAL_STATES for state in states):
                return states
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"SLURM job {job} still {states} after {timeout} s:\n{self.logs()}"
                )
            time.sleep(0.3)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-20:])
            for path in sorted((self.root / "log").glob("*.log"))
        )


def _wait_for_idle_node(cluster: Cluster, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["sinfo", "-h", "-n", NODE, "-o", "%T"], env=cluster.env, capture_output=True,
            text=True,
        )  # fmt: skip
        if done.returncode == 0 and done.stdout.strip() == "idle":
            return
        time.sleep(0.2)
    raise SlurmUnavailable(
        f"node {NODE} did not come up idle within {timeout} s:\n{cluster.logs()}"
    )


def start_cluster() -> Cluster:
    """munged + slurmctld + slurmd in a new temporary folder; ``stop_cluster`` ends exactly these
    and removes the folder."""
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing:
        raise SlurmUnavailable(
            f"{', '.join(missing)} not found: apt-get install slurm-wlm munge (.ci/run does)"
        )
    # munged wants every folder above its socket searchable by all: pytest's tmp folders are not.
    root = Path(tempfile.mkdtemp(prefix="yof-slurm-"))
    root.chmod(0o755)
    for folder in ("state", "spool", "log"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    conf = root / "slurm.conf"
    conf.write_text(_config(root, user))
    cluster = Cluster(root, _clean_env(conf))
    key = root / "munge.key"
    commands = [
        ["mungekey", "--create", f"--keyfile={key}"],
        [
            "munged", f"--key-file={key}", f"--socket={root}/munge.sock",
            f"--pid-file={root}/munged.pid", f"--log-file={root}/log/munged.log",
            f"--seed-file={root}/munged.seed",
        ],
        ["slurmctld", "-f", str(conf)],
        ["slurmd", "-f", str(conf), "-N", NODE],
    ]  # fmt: skip
    try:
        for command in commands:
            done = subprocess.run(command, env=cluster.env, capture_output=True, text=True)
            if done.returncode != 0:
                problem = f"{command[0]} exited {done.returncode}: {done.stderr.strip()}"
                raise SlurmUnavailable(f"{problem}\n{cluster.logs()}")
        _wait_for_idle_node(cluster)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie no init has reaped yet has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _pid(cluster: Cluster, daemon: str) -> int | None:
    """The pid of ``daemon`` from this cluster's pid file, if it still runs."""
    try:
        pid = int((cluster.root / f"{daemon}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _running(pid) else None


def _cancel_jobs(cluster: Cluster) -> None:
    """Cancel what a failed test left queued or running: a job's slurmstepd outlives slurmd."""
    cancel = ["scancel", "--full", "--quiet", f"--user={os.getuid()}"]
    subprocess.run(cancel, env=cluster.env, capture_output=True, timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        queue = subprocess.run(
            ["squeue", "-h"], env=cluster.env, capture_output=True, text=True, timeout=30
        )
        if queue.returncode != 0 or not queue.stdout.strip():
            return
        time.sleep(0.2)


def stop_cluster(cluster: Cluster) -> None:
    """Stop the daemons this cluster started (the pids in its own pid files); remove its folder."""
    if _pid(cluster, "slurmctld") is not None:
        _cancel_jobs(cluster)
    stopping: list[int] = []
    for name in ("slurmd", "slurmctld", "munged"):
        pid = _pid(cluster, name)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            stopping.append(pid)
    deadline = time.monotonic() + 15
    for pid in stopping:
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    shutil.rmtree(cluster.root, ignore_errors=True)
