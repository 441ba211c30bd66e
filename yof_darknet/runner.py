"""Running other programs (darknet, system tools): the one place that starts a subprocess.

A long run (training, ``detector map``) gets its own process group, so that stopping it stops
its children too.
"""

from __future__ import annotations

import os
import signal
import subprocess

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
