from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.darknet import write_weights
from tests.support.expw import make_expw, tree_digest
from yof_darknet import __version__
from yof_darknet.cli import main
from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import parse_setting


def test_python_dash_m_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "yof_darknet", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert __version__ in out.stdout


def test_every_command_has_help():
    runner = CliRunner()
    assert main.commands, "no command registered"
    for name in main.commands:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


_FILE = str(Path(__file__))  # any existing file: the number is checked first
NON_FINITE = [
    ["detect", "x", "--weights", _FILE, "--cfg", _FILE, "--thresh", "nan"],
    ["detect", "x", "--weights", _FILE, "--cfg", _FILE, "--nms", "nan"],
    ["detect", "x", "--weights", _FILE, "--cfg", _FILE, "--smooth-alpha", "nan"],
    ["map", "--match-iou", "nan"],
    ["datasets", "--out", "o", "--min-face-score", "nan"],
    ["datasets", "--out", "o", "--min-face-score", "inf"],
    ["datasets", "--out", "o", "--face-threshold", "nan"],
]


@pytest.mark.parametrize("args", NON_FINITE, ids=lambda a: f"{a[0]} {a[-2]} {a[-1]}")
def test_non_finite_numbers_are_rejected(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{args[-2]}'" in result.output


def test_a_non_finite_cfg_setting_is_rejected():
    with pytest.raises(DarknetError, match=r"'nan' is not a finite number"):
        parse_setting("learning_rate=nan")
    with pytest.raises(DarknetError, match=r"'inf' is not a finite number"):
        parse_setting("scales=.1,inf")


def _datasets(expw: Path, out: Path, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "yof_darknet", "datasets", "--expw", str(expw),
               "--out", str(out), "--copy", "--test-per-dataset", "1"]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, **kwargs)


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


def _expw(root: Path) -> Path:
    rows = [f"p{i}.jpg 0 5 5 150 150 90.0 3" for i in range(4)]
    return make_expw(root, rows, {f"p{i}.jpg": (160, 160) for i in range(4)})


def _assert_one_red_line(done: subprocess.CompletedProcess, what: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: /") and what in lines[0], lines


def test_a_file_size_limit_is_one_line_naming_the_file_and_leaves_nothing_half_written(
    tmp_path,
):
    expw = _expw(tmp_path / "ExpW")  # 160x160 noise JPEGs: larger than the 20 kB limit
    before = tree_digest(expw)
    out = tmp_path / "out"
    done = _datasets(expw, out, preexec_fn=_limit_file_size)
    _assert_one_red_line(done, "File too large")
    assert "run the same command again" in done.stderr
    assert tree_digest(expw) == before
    assert not (out / "obj.data").exists()
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    assert _datasets(expw, out).returncode == 0  # the limit gone, the same command finishes
    assert (out / "obj.data").is_file()


def test_a_full_disk_is_one_line_naming_the_file(tmp_path):
    expw = _expw(tmp_path / "ExpW")
    out = tmp_path / "small"
    out.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(out)],
                             capture_output=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (the file-size limit test covers the CLI)")
    try:
        before = tree_digest(expw)
        done = _datasets(expw, out)
        _assert_one_red_line(done, "No space left on device; free some space")
        assert tree_digest(expw) == before
        assert not (out / "obj.data").exists()
        assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    finally:
        subprocess.run(["umount", str(out)], check=True)


def test_make_demo_takes_a_camera_index(tmp_path, darknet_fixtures):
    """`make demo DEMO_SOURCE=0`: a camera, not a missing file (no "run make reproduce"); the
    camera's absence is one line, without OpenCV's dozen warnings."""
    root = Path(__file__).resolve().parents[1]
    if shutil.which("make") is None or not (root / ".venv" / ".installed").is_file():
        pytest.skip("needs make and `make setup` in this checkout")
    cfg = darknet_fixtures / "dataset" / "yolov3-tiny-obj.cfg"
    weights = tmp_path / "w.weights"
    write_weights(weights, cfg, seen=0)
    done = subprocess.run(
        ["make", "-s", "-C", str(root), "demo", "DEMO_SOURCE=97", f"WEIGHTS={weights}",
         f"CFG={cfg}", f"DEMO_OUT={tmp_path / 'demo'}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0
    assert "make reproduce" not in done.stdout + done.stderr
    assert "camera 97" in done.stderr, done.stdout + done.stderr
    missing = subprocess.run(
        ["make", "-s", "-C", str(root), "demo", f"DEMO_SOURCE={tmp_path / 'nothere'}",
         f"WEIGHTS={weights}", f"CFG={cfg}"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "no such file or folder" in missing.stdout and "make reproduce" not in missing.stdout
