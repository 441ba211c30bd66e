"""Running other programs (darknet, system tools): the one place that starts a subprocess.

A long run (training, ``detector map``) gets its own process group, so that stopping it stops
its children too.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence

_STOP_GRACE_S = 10.0


def stop_group(process: subprocess.Popen) -> None:
    """SIGINT to darknet's process group, SIGKILL if it is still there after a grace period."""
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
