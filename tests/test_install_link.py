"""`make install` / `make uninstall` (scripts/install-link.sh): yof-darknet on PATH as a link to
the project's .venv command, never replacing or removing a file that is not such a link."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install-link.sh"


def _yof_command(tmp: Path) -> Path:
    """A stand-in for .venv/bin/yof-darknet: runs this interpreter's yof_darknet."""
    venv_bin = tmp / "clone" / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    command = venv_bin / "yof-darknet"
    command.write_text(f'#!/bin/sh\nexec {sys.executable} -m yof_darknet "$@"\n')
    command.chmod(0o755)
    return command


def _run(action: str, bindir: Path, target: Path, path: str = "/usr/bin:/bin"):
    env = {**os.environ, "BINDIR": str(bindir), "TARGET": str(target), "PATH": path}
    return subprocess.run([str(SCRIPT), action], capture_output=True, text=True, env=env)


def test_install_links_the_command_and_says_when_its_folder_is_not_on_path(tmp_path):
    target = _yof_command(tmp_path)
    bindir = tmp_path / "home" / ".local" / "bin"
    done = _run("install", bindir, target)
    assert done.returncode == 0, done.stderr
    link = bindir / "yof-darknet"
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert f'export PATH="{bindir}:$PATH"' in done.stdout
    version = subprocess.run([str(link), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "yof-darknet" in version.stdout
    on_path = _run("install", bindir, target, path=f"{bindir}:/usr/bin:/bin")
    assert on_path.returncode == 0 and "not on PATH" not in on_path.stdout


def test_install_and_uninstall_leave_a_foreign_file_alone(tmp_path):
    target = _yof_command(tmp_path)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    mine = bindir / "yof-darknet"
    mine.write_text("#!/bin/sh\necho my own\n")
    before = mine.read_bytes()
    refused = _run("install", bindir, target)
    assert refused.returncode == 1 and "move it away" in refused.stderr
    kept = _run("uninstall", bindir, target)
    assert kept.returncode == 1 and "left alone" in kept.stderr
    assert mine.read_bytes() == before and not mine.is_symlink()


def test_uninstall_removes_only_its_own_link(tmp_path):
    target = _yof_command(tmp_path)
    bindir = tmp_path / "bin"
    assert _run("install", bindir, target).returncode == 0
    done = _run("uninstall", bindir, target)
    assert done.returncode == 0, done.stderr
    assert not (bindir / "yof-darknet").exists()
    assert target.exists()
    assert "nothing to remove" in _run("uninstall", bindir, target).stdout


def test_install_refuses_when_the_venv_command_is_missing(tmp_path):
    done = _run("install", tmp_path / "bin", tmp_path / "no" / ".venv" / "bin" / "yof-darknet")
    assert done.returncode == 1 and "run make first" in done.stderr
    assert not (tmp_path / "bin").exists()
