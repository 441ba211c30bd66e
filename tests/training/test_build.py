"""`make darknet` (scripts/build-darknet.sh): submodule + build, offline failure, flags; and
scripts/ensure-darknet.sh (`make reproduce`/`make test`): use, build or install a darknet."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.expw import make_expw

PINNED = "59596d7880f6504768df41d6daa586f5cb2b932f"
# a stand-in for AlexeyAB's Makefile: the "binary" prints the make variables it was built with
FAKE_MAKEFILE = (
    "darknet:\n"
    "\tprintf '#!/bin/sh\\necho GPU=$(GPU) OPENCV=$(OPENCV) AVX=$(AVX) OPENMP=$(OPENMP)\\n'"
    " > darknet\n"
    "\tchmod +x darknet\n"
    "\tprintf '%s\\n' '$(ARCH)' > arch.txt\n"
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
    for name in ("build-darknet.sh", "darknet-flags.sh", "ensure-darknet.sh", "gpu-check.sh"):
        shutil.copy2(ROOT / "scripts" / name, root / "scripts" / name)
    shutil.copy2(ROOT / "Makefile", root / "Makefile")
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


def _build(root: Path, *command: str, **env: str) -> subprocess.CompletedProcess:
    allow_file = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.file.allow"}
    allow_file["GIT_CONFIG_VALUE_0"] = "always"
    environment = {**os.environ, **allow_file, "JOBS": "1", **env}
    environment.pop("DARKNET", None)
    return subprocess.run(
        list(command) or ["scripts/build-darknet.sh"],
        cwd=root,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _path_without(tmp_path: Path, *hidden: str) -> str:
    """A PATH with every program of this machine's PATH except ``hidden`` (darknet, apt-get...)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not Path(folder).is_dir():
            continue
        for program in Path(folder).iterdir():
            target = bin_dir / program.name
            if program.name not in hidden and not target.exists() and os.access(program, os.X_OK):
                target.symlink_to(program)
    return str(bin_dir)


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


def test_make_darknet_passes_arch_whole(tmp_path):
    upstream, commit = _upstream(tmp_path)
    root = _superproject(tmp_path, str(upstream), commit)
    flags = "GPU=0 CUDNN=0 ARCH=-gencode arch=compute_80,code=sm_80"
    done = _build(root, "make", "darknet", f"DARKNET_FLAGS={flags}")
    assert done.returncode == 0, done.stderr
    arch = (root / "third_party" / "darknet" / "arch.txt").read_text()
    assert arch == "-gencode arch=compute_80,code=sm_80\n"


def test_ensure_builds_the_submodule_when_no_darknet_is_found(tmp_path):
    upstream, commit = _upstream(tmp_path)
    root = _superproject(tmp_path, str(upstream), commit)
    path = _path_without(tmp_path, "darknet", "apt-get", "sudo")
    done = _build(root, "scripts/ensure-darknet.sh", PATH=path, DARKNET_FLAGS="GPU=0 OPENCV=0")
    assert done.returncode == 0, done.stderr
    assert "took path: built AlexeyAB's darknet from the submodule" in done.stderr
    assert (root / "third_party" / "darknet" / "darknet").is_file()
    again = _build(root, "scripts/ensure-darknet.sh", PATH=path)
    assert again.returncode == 0, again.stderr
    assert "using third_party/darknet/darknet" in again.stderr


def test_ensure_without_submodule_or_package_manager_says_what_to_do(tmp_path):
    root = _superproject(tmp_path, str(tmp_path / "unreachable.git"), PINNED)
    path = _path_without(tmp_path, "darknet", "apt-get", "sudo")
    done = _build(root, "scripts/ensure-darknet.sh", PATH=path)
    assert done.returncode == 1
    message = done.stderr
    assert message.count("error:") == 1
    assert "could not be fetched" in message and "apt-get cannot be used" in message
    assert "sudo apt-get install darknet" in message
    assert "DARKNET=/path/to/darknet" in message
    assert PINNED in message


def test_ensure_uses_the_darknet_it_finds(tmp_path):
    root = _superproject(tmp_path, str(tmp_path / "unreachable.git"), PINNED)
    tool = tmp_path / "tools" / "darknet"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    on_path = _build(root, "scripts/ensure-darknet.sh", PATH=f"{tool.parent}:{os.environ['PATH']}")
    assert on_path.returncode == 0, on_path.stderr
    assert f"using {tool} (found on PATH)" in on_path.stderr
    given = _build(root, "scripts/ensure-darknet.sh", DARKNET=str(tool.parent))
    assert given.returncode == 0 and f"using DARKNET={tool.parent}" in given.stderr
    wrong = _build(root, "scripts/ensure-darknet.sh", DARKNET=str(tmp_path / "nothing"))
    assert wrong.returncode == 1 and "is not a darknet executable" in wrong.stderr


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
    # AlexeyAB's AVX=1 builds with -mavx2: it needs AVX2, not AVX alone
    cpu_has_avx2 = re.search(r"(?<!\w)avx2(?!\w)", Path("/proc/cpuinfo").read_text()) is not None
    assert flags["AVX"] == ("1" if cpu_has_avx2 else "0")
    if flags["GPU"] == "0":
        assert flags["CUDNN"] == "0"


def test_gpu_check_without_a_gpu_stops_before_building(tmp_path):
    root = _superproject(tmp_path, str(tmp_path / "unreachable.git"), PINNED)
    path = _path_without(tmp_path, "nvidia-smi")
    done = _build(root, "scripts/gpu-check.sh", PATH=path)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "gpu-check: no NVIDIA GPU visible (nvidia-smi is missing or lists none): this check "
        "needs one; nothing was built"
    )
    assert not (root / "third_party" / "darknet" / "darknet").exists()


@pytest.mark.skipif(
    Path("/usr/local/cuda/bin/nvcc").exists(), reason="gpu-check finds /usr/local/cuda's nvcc"
)
def test_gpu_check_with_a_gpu_but_no_nvcc_names_it(tmp_path):
    root = _superproject(tmp_path, str(tmp_path / "unreachable.git"), PINNED)
    path = _path_without(tmp_path, "nvidia-smi", "nvcc")
    (Path(path) / "nvidia-smi").write_text("#!/bin/sh\necho 'GPU 0: Test GPU (UUID: GPU-0)'\n")
    (Path(path) / "nvidia-smi").chmod(0o755)
    done = _build(root, "scripts/gpu-check.sh", PATH=path)
    assert done.returncode == 1
    assert done.stderr.startswith("gpu-check: nvcc not found")


def _make_gpu_check(root: Path, path: str, **variables: str) -> subprocess.CompletedProcess:
    """`make gpu-check VAR=...` in ``root`` (its .venv stamp taken as made: no setup)."""
    given = [f"{key}={value}" for key, value in variables.items()]
    return _build(root, "make", "-s", "-o", ".venv/.installed", "gpu-check", *given, PATH=path)


def test_make_gpu_check_hands_expw_to_the_real_data_stage(tmp_path):
    root = _superproject(tmp_path, str(tmp_path / "unreachable.git"), PINNED)
    path = _path_without(tmp_path, "nvidia-smi")
    expw = make_expw(tmp_path / "My ExpW", ["a.jpg 0 10 10 40 40 90.0 3"], {"a.jpg": (64, 64)})
    done = _make_gpu_check(root, path, EXPW=str(expw))
    assert done.returncode != 0
    said = [line for line in done.stderr.splitlines() if line.startswith("gpu-check:")]
    assert said == [
        "gpu-check: no NVIDIA GPU visible (nvidia-smi is missing or lists none): this check "
        f"needs one; nothing was built (nor the real-data stage on EXPW={expw})"
    ]
    assert not (root / "third_party" / "darknet" / "darknet").exists()


def test_make_gpu_check_refuses_an_expw_folder_that_is_not_one_before_anything_else(tmp_path):
    root = _superproject(tmp_path, str(tmp_path / "unreachable.git"), PINNED)
    path = _path_without(tmp_path, "nvidia-smi")
    missing = _make_gpu_check(root, path, EXPW=str(tmp_path / "nowhere"))
    said = [line for line in missing.stderr.splitlines() if line.startswith("gpu-check:")]
    assert missing.returncode != 0
    assert said == [
        f"gpu-check: EXPW={tmp_path / 'nowhere'}: no such folder (give ExpW's folder: "
        "label/label.lst, image/origin/)"
    ]
    (tmp_path / "empty").mkdir()
    empty = _make_gpu_check(root, path, EXPW=str(tmp_path / "empty"))
    assert empty.returncode != 0
    assert "gpu-check: EXPW=" in empty.stderr and "no label.lst in it" in empty.stderr
