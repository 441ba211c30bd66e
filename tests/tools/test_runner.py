"""runner: running programs, and what an unexplained death of darknet most likely means."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from yof_darknet.tools.runner import Streaming, death_message, run, run_logged

PY = sys.executable


def test_run_captures_text_with_stdin_closed(tmp_path):
    code = (
        "import sys; sys.stdout.buffer.write(b'ok \\xff'); "
        "print(sys.stdin.read() == '', file=sys.stderr)"
    )
    done = run([PY, "-c", code], cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok \ufffd", "True\n")
    with pytest.raises(subprocess.TimeoutExpired):
        run([PY, "-c", "import time; time.sleep(30)"], timeout=0.5)
    with pytest.raises(OSError):
        run([str(tmp_path / "missing")])


def test_run_logged_keeps_both_streams_in_the_log(tmp_path):
    log = tmp_path / "logs" / "map.log"
    code, text = run_logged(
        [
            PY,
            "-c",
            "import sys; print('out', flush=True); print('err', file=sys.stderr); sys.exit(3)",
        ],
        tmp_path,
        log,
    )
    assert code == 3 and text == log.read_text() and text.split() == ["out", "err"]


def test_streaming_hands_over_both_streams_and_the_answer(tmp_path):
    code = "import sys; print(input()); print('e', file=sys.stderr)"
    stream = Streaming([PY, "-c", code], cwd=tmp_path, answer=b"yes\n")
    seen: dict[str, bytes] = {"o": b"", "e": b""}
    while stream.open_streams:
        got = stream.next_chunk(timeout=30)
        assert got is not None
        seen[got[0]] += got[1]
    assert stream.wait() == 0 and seen == {"o": b"yes\n", "e": b"e\n"}


def test_stop_ends_the_whole_process_group(tmp_path: Path):
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pid_file)!r}, 'w').write(str(child.pid)); print('ready', flush=True); "
        "time.sleep(60)"
    )
    stream = Streaming([PY, "-c", code], cwd=tmp_path)
    said = b""
    while not said.endswith(b"\n"):  # a line can come in several chunks
        got = stream.next_chunk(timeout=30)
        assert got is not None and got[0] == "o"
        said += got[1]
    assert said == b"ready\n"
    assert stream.next_chunk(timeout=0.1) is None  # silence
    stream.stop()
    assert stream.wait() != 0
    child = int(pid_file.read_text())
    for _ in range(100):  # the child is reaped by init once it is gone
        if not Path(f"/proc/{child}").exists() or "zombie" in _state(child):
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists() or "zombie" in _state(child)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return "zombie"


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
