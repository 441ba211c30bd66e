"""Finding darknet and telling its flavor by probing (real Debian binary + fixture replays)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.darknet import replay_binary
from yof_darknet.core.errors import DarknetError
from yof_darknet.tools import darknet as binary
from yof_darknet.tools.darknet import find_darknet, probe

PROBE = "/nonexistent/yof-probe.data"


def _read(fixtures: Path, name: str) -> tuple[str, str]:
    return (
        (fixtures / f"{name}.stdout.txt").read_text(),
        (fixtures / f"{name}.stderr.txt").read_text(),
    )


def alexeyab_answers(fixtures: Path, gpu: bool = False) -> dict[str, tuple[str, str]]:
    out, err = _read(fixtures / "alexeyab", "usage_detector")
    opencv_line = err.splitlines(keepends=True)[0]
    if gpu:  # the banner of a CUDA build, in show_cuda_cudnn_info()'s format (dark_cuda.c)
        out = out.replace(" GPU isn't used \n", "")
        err = " CUDA-version: 12020 (12040), cuDNN: 8.9.7, CUDNN_HALF=1, GPU count: 1  \n" + err
    return {
        "version": (out, opencv_line + "Not an option: version\n"),
        "detector": (out, err),
        # what the real build printed (darknet detector calc_anchors PROBE, no -width)
        f"detector calc_anchors {PROBE}": (
            out + "\n num_of_clusters = 5, width = -1, height = -1 \nUsage: darknet detector "
            "calc_anchors data/voc.data -num_of_clusters 9 -width 416 -height 416 \n"
            "Error: set width and height \n",
            "",
        ),
    }


def test_debian_darknet_is_pjreddie_without_map(debian_darknet):
    found = probe(debian_darknet)
    assert found.flavor == "pjreddie"
    assert not (found.has_map or found.has_map_flag or found.has_dont_show)
    assert not found.has_calc_anchors
    assert not found.gpu
    assert found.version != ""
    assert not found.asks_yes_to_train_on_cpu


def test_pjreddie_replay_matches_the_real_usage(tmp_path, darknet_fixtures):
    usage = _read(darknet_fixtures / "debian", "usage_detector")
    fake = replay_binary(
        tmp_path / "debian",
        {"detector": usage, "version": ("", "Not an option: version\n")},
    )
    found = probe(fake)
    assert (found.flavor, found.has_map, found.has_calc_anchors) == ("pjreddie", False, False)


def test_alexeyab_cpu_build(tmp_path, darknet_fixtures):
    found = probe(replay_binary(tmp_path / "a", alexeyab_answers(darknet_fixtures)))
    assert found.flavor == "alexeyab"
    assert found.has_map and found.has_map_flag and found.has_dont_show and found.has_calc_anchors
    assert not found.gpu and found.cudnn is None
    assert found.opencv == "4.6.0"


def test_alexeyab_gpu_build(tmp_path, darknet_fixtures):
    found = probe(replay_binary(tmp_path / "g", alexeyab_answers(darknet_fixtures, gpu=True)))
    assert (found.flavor, found.gpu, found.cudnn, found.opencv) == (
        "alexeyab",
        True,
        "8.9.7",
        "4.6.0",
    )


def test_hankai_cpu_build_asks_yes(tmp_path, darknet_fixtures):
    version = _read(darknet_fixtures / "hankai", "version")
    found = probe(replay_binary(tmp_path / "h", {"version": version}))
    assert found.flavor == "hank-ai"
    assert found.version == "v5.1-104-gf684e1d7"
    assert found.has_map and found.has_map_flag and found.has_dont_show
    assert not found.gpu and found.opencv == "4.6.0"
    assert found.asks_yes_to_train_on_cpu


def test_something_else_is_refused(tmp_path):
    fake = replay_binary(tmp_path / "x", {"detector": ("hello\n", "")})
    with pytest.raises(DarknetError, match="does not answer like darknet"):
        probe(fake)


def test_find_order_explicit_env_submodule_path(tmp_path, darknet_fixtures, monkeypatch):
    alexeyab = replay_binary(tmp_path / "a", alexeyab_answers(darknet_fixtures))
    hankai = replay_binary(
        tmp_path / "h", {"version": _read(darknet_fixtures / "hankai", "version")}
    )
    debian = replay_binary(
        tmp_path / "p", {"detector": _read(darknet_fixtures / "debian", "usage_detector")}
    )
    monkeypatch.setenv("PATH", str(debian.parent))
    monkeypatch.setattr(binary, "SUBMODULE_BINARY", tmp_path / "missing" / "darknet")
    monkeypatch.delenv("DARKNET", raising=False)
    assert find_darknet().flavor == "pjreddie"
    monkeypatch.setattr(binary, "SUBMODULE_BINARY", hankai)
    assert find_darknet().flavor == "hank-ai"
    monkeypatch.setenv("DARKNET", str(alexeyab.parent))  # a folder holding `darknet` works too
    assert find_darknet().flavor == "alexeyab"
    assert find_darknet(debian).flavor == "pjreddie"


def test_missing_darknet_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("DARKNET", raising=False)
    monkeypatch.setattr(binary, "SUBMODULE_BINARY", tmp_path / "darknet")
    with pytest.raises(DarknetError, match=r"make darknet.*apt install darknet.*DARKNET="):
        find_darknet()
    monkeypatch.setenv("DARKNET", str(tmp_path / "nowhere"))
    with pytest.raises(DarknetError, match=r"DARKNET=.*nowhere: no darknet executable"):
        find_darknet()
