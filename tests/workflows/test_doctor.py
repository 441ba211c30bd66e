"""`yof-darknet doctor` and the `weights --inspect` command."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from yof_darknet.cli import main
from yof_darknet.tools.darknet import FLAVORS, INSTALL_HINT, Darknet
from yof_darknet.training.profiles import generate_cfg
from yof_darknet.workflows.doctor import gpu_mismatch


def test_doctor_reports_debian_darknet(debian_darknet):
    result = CliRunner().invoke(main, ["doctor", "--darknet", str(debian_darknet)])
    lines = result.output.splitlines()
    darknet = next(line for line in lines if "darknet:" in line)
    assert darknet.startswith("ok ") and "pjreddie" in darknet and "CPU only" in darknet
    assert any("no `detector map`" in line for line in lines)  # the note with the fix
    for name in ("opencv-python:", "onnxruntime:", "engines:", "face detector:"):
        assert any(name in line for line in lines), name
    assert "Darknet importer present" in result.output
    assert result.exit_code == (0 if lines[-1] == "ready" else 1)


def test_doctor_without_darknet_says_how_to_get_one(tmp_path):
    result = CliRunner().invoke(main, ["doctor", "--darknet", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "NO  darknet" in result.output
    assert "fix: run `make darknet`" in result.output
    assert result.output.count(INSTALL_HINT) == 1  # the fix once, not again in the detail
    assert result.output.splitlines()[-1].startswith("not ready")


def test_doctor_checks_the_face_detector_only_when_affwild2_is_converted(tmp_path):
    without = CliRunner().invoke(main, ["doctor", "--no-affwild2", "--darknet", str(tmp_path)])
    assert "face detector" not in without.output
    assert "onnxruntime:" in without.output
    with_it = CliRunner().invoke(main, ["doctor", "--darknet", str(tmp_path)])
    assert "face detector:" in with_it.output


@pytest.mark.parametrize("flavor", FLAVORS)
def test_gpu_mismatch_is_named_for_every_flavor(flavor):
    common = dict(version="x", has_map=True, has_dont_show=True, has_map_flag=True)
    cpu = Darknet(Path("/dn"), flavor, has_calc_anchors=True, gpu=False, **common)
    gpu = replace(cpu, gpu=True)
    found = ["GPU 0: NVIDIA H100 (UUID: GPU-1)"]
    message = gpu_mismatch(cpu, found)
    assert message.startswith("a GPU is present (GPU 0: NVIDIA H100") and flavor in message
    assert "CPU-only" in message and "CUDA" in message
    assert "no GPU is visible" in gpu_mismatch(gpu, []) and flavor in gpu_mismatch(gpu, [])
    assert gpu_mismatch(gpu, found) == "" and gpu_mismatch(cpu, []) == ""


def test_weights_inspect_warns_about_finished_weights(tmp_path):
    cfg = tmp_path / "run.cfg"
    cfg.write_text(generate_cfg(7, "paper"))
    weights = tmp_path / "yolov3-tiny.weights"
    weights.write_bytes(struct.pack("<3iQ", 0, 2, 0, 32_013_312))
    result = CliRunner().invoke(main, ["weights", "--inspect", str(weights), "--cfg", str(cfg)])
    assert result.exit_code == 0
    assert "version 0.2.0, seen 32013312 images" in result.output
    assert "already trained 500208 iterations" in result.output
