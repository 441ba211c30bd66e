"""`yof-darknet doctor` and the `weights --inspect` command."""

from __future__ import annotations

import struct

from click.testing import CliRunner

from yof_darknet.cli import main
from yof_darknet.darknet.profiles import generate_cfg


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
    assert result.output.splitlines()[-1].startswith("not ready")


def test_weights_inspect_warns_about_finished_weights(tmp_path):
    cfg = tmp_path / "run.cfg"
    cfg.write_text(generate_cfg(7, "paper"))
    weights = tmp_path / "yolov3-tiny.weights"
    weights.write_bytes(struct.pack("<3iQ", 0, 2, 0, 32_013_312))
    result = CliRunner().invoke(main, ["weights", "--inspect", str(weights), "--cfg", str(cfg)])
    assert result.exit_code == 0
    assert "version 0.2.0, seen 32013312 images" in result.output
    assert "already trained 500208 iterations" in result.output
