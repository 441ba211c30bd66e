"""`make darknet` (scripts/build-darknet.sh): submodule + build, offline failure, flags."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT

PINNED = "59596d7880f6504768df41d6daa586f5cb2b932f"
# a stand-in for AlexeyAB's Makefile: the "binary" prints the make variables it was built with
FAKE_MAKEFILE = (
    "darknet:\n"
    "\tprintf '#!/bin/sh\\necho GPU=$(GPU) OPENCV=$(OPENCV) AVX=$(AVX) OPENMP=$(OPENMP)\\n'"
    " > darknet\n"
    "\tchmod +x darknet\n"
)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(cwd: Path, *args: str) -> str:
    names = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")
    env = {**os.environ, **dict.fromkeys(names, "test")}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _superproject(tmp_path: Path, url: str, commit: str) -> Path:
    """A repo with our build scripts and a third_party/darknet gitlink to ``url`` at ``commit``."""
    root = tmp_path / "super"
    (root / "scripts").mkdir(parents=True)
    for name in ("build-darknet.sh", "darknet-flags.sh"):
        shutil.copy2(ROOT / "scripts" / name, root / "scripts" / name)
    _git(root, "init", "-q")
    (root / ".gitmodules").write_text(
        f'[submodule "third_party/darknet"]\n\tpath = third_party/darknet\n\turl = {url}\n'
    )
    _git(root, "update-index", "--add", "--cacheinfo", f"160000,{commit},third_party/darknet")
    return root


def _upstream(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "upstream"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "Makefile").write_text(FAKE_MAKEFILE)
    _git(repo, "add", "Makefile")
    _git(repo, "commit", "-q", "-m", "fake darknet")
    return repo, _git(repo, "rev-parse", "HEAD")


def _build(root: Path, **env: str) -> subprocess.CompletedProcess:
    allow_file = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.file.allow"}
    allow_file["GIT_CONFIG_VALUE_0"] = "always"
    return subprocess.run(
        ["scripts/build-darknet.sh"],
        cwd=root,
        env={**os.environ, **allow_file, "JOBS": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_repository_pins_alexeyab_darknet():
    gitmodules = (ROOT / ".gitmodules").read_text()
    assert "path = third_party/darknet" in gitmodules
    assert "url = https://github.com/AlexeyAB/darknet" in gitmodules
    staged = _git(ROOT, "ls-files", "-s", "--", "third_party/darknet")
    assert staged.split()[:2] == ["160000", PINNED]


def test_build_initialises_the_submodule_and_builds_with_given_flags(tmp_path):
    upstream, commit = _upstream(tmp_path)
    root = _superproject(tmp_path, str(upstream), commit)
    done = _build(root, DARKNET_FLAGS="GPU=0 OPENCV=1 AVX=0 OPENMP=0")
    assert done.returncode == 0, done.stderr
    binary = root / "third_party" / "darknet" / "darknet"
    output = subprocess.run([binary], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "GPU=0 OPENCV=1 AVX=0 OPENMP=0"
    assert _git(root / "third_party" / "darknet", "rev-parse", "HEAD") == commit


def test_build_uses_the_detected_flags_by_default(tmp_path):
    upstream, commit = _upstream(tmp_path)
    root = _superproject(tmp_path, str(upstream), commit)
    done = _build(root)
    assert done.returncode == 0, done.stderr
    lines = subprocess.check_output([root / "scripts/darknet-flags.sh"], text=True).splitlines()
    detected = dict(line.split("=", 1) for line in lines)
    built = subprocess.check_output([root / "third_party/darknet/darknet"], text=True).split()
    assert built == [f"{key}={detected[key]}" for key in ("GPU", "OPENCV", "AVX", "OPENMP")]


def test_build_offline_says_what_to_do(tmp_path):
    root = _superproject(tmp_path, str(tmp_path / "unreachable.git"), PINNED)
    done = _build(root)
    assert done.returncode != 0
    assert "DARKNET=/path/to/darknet" in done.stderr
    assert "apt install darknet" in done.stderr
    assert PINNED in done.stderr


def test_flag_detection_prints_one_known_flag_per_line():
    lines = subprocess.check_output([ROOT / "scripts" / "darknet-flags.sh"], text=True).splitlines()
    flags = dict(line.split("=", 1) for line in lines)
    assert {"GPU", "CUDNN", "CUDNN_HALF", "OPENCV", "AVX", "OPENMP", "LIBSO"} <= set(flags)
    pkg_config = shutil.which("pkg-config")
    has_opencv = (
        bool(pkg_config)
        and subprocess.run([pkg_config, "--exists", "opencv4"], check=False).returncode == 0
    )
    assert flags["OPENCV"] == ("1" if has_opencv else "0")
    cpu_has_avx = re.search(r"(?<!\w)avx(?!\w)", Path("/proc/cpuinfo").read_text()) is not None
    assert flags["AVX"] == ("1" if cpu_has_avx else "0")
    if flags["GPU"] == "0":
        assert flags["CUDNN"] == "0"
