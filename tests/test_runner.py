"""runner: what an unexplained death of darknet most likely means."""

from __future__ import annotations

import signal
import subprocess

import pytest

from yof_darknet.runner import death_message


@pytest.mark.parametrize(
    ("code", "tail", "says"),
    [
        (-signal.SIGKILL, [], "killed by SIGKILL and printed nothing: most likely the kernel's "
                              "out-of-memory killer"),
        (128 + signal.SIGKILL, ["1: 3.2 avg"], "killed by SIGKILL; its last output: 1: 3.2 avg"),
        (-signal.SIGSEGV, [], "killed by SIGSEGV and printed nothing: a crash"),
        (1, [], "exited with code 1 and printed nothing: it could not start"),
        (2, ["a", "b"], "exited with code 2; its last output: a | b"),
    ],
)  # fmt: skip
def test_death_messages(code, tail, says):
    assert says in death_message(code, tail)


def test_a_real_process_killed_by_a_signal_is_named():
    process = subprocess.Popen(["sleep", "30"])
    process.send_signal(signal.SIGKILL)
    assert death_message(process.wait(), []).startswith("darknet was killed by SIGKILL")
