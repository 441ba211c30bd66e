"""Running other programs (darknet, system tools): the one place that starts a subprocess.

Three ways, by how long a program runs and who reads its output:

* ``run``: a short run (probes, ``ldd``, ``nvidia-smi``), output captured as text;
* ``run_logged``: a long run whose whole output goes to a log file (``detector map``/``valid``);
* ``Streaming``: a long run read as it comes, stdout and stderr on separate pipes (training);
* ``start_background``: a run at the lowest priority beside another, its output in a log.

The long runs get their own process group, so that stopping them (Ctrl-C, a failure seen in the
output) stops their children too, and ``OMP_NUM_THREADS`` set to the CPUs the task was given
(``cluster.thread_env``), so that an OpenMP darknet does not start a thread per core of the node.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from yof_darknet.core.fileio import open_output
from yof_darknet.tools.cluster import thread_env

_STOP_GRACE_S = 10.0


def run(
    args: Sequence[str], *, cwd: Path | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` to the end with stdin closed; stdout and stderr come back as text (bytes that
    are not UTF-8 replaced). Raises ``OSError`` when it cannot start, ``TimeoutExpired``."""
    return subprocess.run(
        list(args),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        check=False,
    )


def stop_group(process: subprocess.Popen) -> None:
    """SIGINT to the process group, SIGKILL if it is still there after a grace period."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def run_logged(args: Sequence[str], cwd: Path, log: Path) -> tuple[int, str]:
    """Run ``args`` in ``cwd``, its whole output (stdout and stderr) in ``log``; Ctrl-C stops it.

    Returns the exit code and the log's text. Raises ``OSError`` when it cannot start.
    """
    with open_output(log) as sink:  # never through a link left at the log's path
        process = subprocess.Popen(
            list(args), cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True, env=thread_env(),
        )  # fmt: skip
        try:
            code = process.wait()
        except KeyboardInterrupt:
            stop_group(process)
            raise
    return code, log.read_text(errors="replace")


def start_background(
    args: Sequence[str], cwd: Path, log: Path, *, nice: bool = True
) -> subprocess.Popen:
    """Start ``args`` (at the lowest CPU priority, nice 19, unless ``nice`` is False) in its own
    process group, its output appended to ``log``; return at once (``stop_group`` ends it)."""
    with open_output(log, append=True) as sink:
        return subprocess.Popen(
            list(args), cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True, env=thread_env(), preexec_fn=_lowest_priority if nice else None,
        )  # fmt: skip


def _lowest_priority() -> None:
    os.nice(19)


def _pump(name: str, pipe: IO[bytes], chunks: queue.Queue) -> None:
    while True:
        chunk = os.read(pipe.fileno(), 65536)
        chunks.put((name, chunk))
        if not chunk:
            return


class Streaming:
    """A program running in its own process group, its output read chunk by chunk as it comes.

    Two threads read stdout (``"o"``) and stderr (``"e"``); ``next_chunk`` hands the chunks over
    in the order they arrived (a line can be cut anywhere between two chunks). ``answer`` is
    written to its stdin, which is then closed (else stdin is ``/dev/null``).
    """

    def __init__(self, args: Sequence[str], *, cwd: Path, answer: bytes | None = None) -> None:
        self.process = subprocess.Popen(
            list(args),
            cwd=cwd,
            stdin=subprocess.DEVNULL if answer is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=thread_env(),
        )
        if answer is not None and self.process.stdin is not None:
            self.process.stdin.write(answer)
            self.process.stdin.close()
        self._chunks: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.open_streams = 2
        for name, pipe in (("o", self.process.stdout), ("e", self.process.stderr)):
            threading.Thread(target=_pump, args=(name, pipe, self._chunks), daemon=True).start()

    def next_chunk(self, timeout: float) -> tuple[str, bytes] | None:
        """The next ``(stream, chunk)`` (an empty chunk: that stream ended), or ``None`` after
        ``timeout`` seconds without output."""
        try:
            name, chunk = self._chunks.get(timeout=timeout)
        except queue.Empty:
            return None
        self.open_streams -= not chunk
        return name, chunk

    def stop(self) -> None:
        stop_group(self.process)

    def wait(self) -> int:
        return self.process.wait()


def death_message(code: int, tail: Sequence[str]) -> str:
    """What an unexplained exit of darknet most likely means."""
    last = " | ".join(tail[-3:])
    said = f"; its last output: {last}" if last else " and printed nothing"
    if code < 0 or code > 128:  # a signal (the shell's 128 + n when a wrapper died of it)
        number = -code if code < 0 else code - 128
        name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
        if number == signal.SIGKILL:
            cause = (
                "most likely the kernel's out-of-memory killer (see `dmesg` or `journalctl -k`: "
                "raise subdivisions, lower batch or width/height) or a job limit (SLURM "
                "--mem/--time)"
            )
        elif number == signal.SIGSEGV:
            cause = "a crash (a Darknet bug, a cfg it cannot handle, or a broken build)"
        else:
            cause = "something outside stopped it"
        return f"darknet was killed by {name}{said}: {cause}"
    if not last:
        return (
            f"darknet exited with code {code} and printed nothing: it could not start (check "
            "`yof-darknet doctor`) or was stopped from outside"
        )
    return f"darknet exited with code {code}{said}"
