"""`yof-darknet map`: every path that needs no darknet, and the refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from yof_darknet.cli import main


@pytest.fixture()
def dataset(darknet_fixtures: Path, tmp_path: Path) -> Path:
    """A copy of the fixture dataset with ExpW / Aff-Wild2 sub-lists beside its test list."""
    source = darknet_fixtures / "dataset"
    target = tmp_path / "dataset"
    shutil.copytree(source / "JPEGImages", target / "JPEGImages")
    shutil.copytree(source / "labels" / "valid", target / "labels" / "valid")
    for name in ("obj.names", "valid.txt", "obj.data"):
        shutil.copy(source / name, target / name)
    lines = (source / "valid.txt").read_text().splitlines()
    (target / "test_expw.txt").write_text("\n".join(lines[:12]) + "\n")
    (target / "test_affwild2.txt").write_text("\n".join(lines[12:]) + "\n")
    return target


def test_from_log(darknet_fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    log = darknet_fixtures / "alexeyab" / "train_map.stdout.txt"
    result = CliRunner().invoke(main, ["map", "--from-log", str(log), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| **mAP** | 33.93 | **60.08** | +26.15 | | | |" in result.stdout
    assert "training iteration 400" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["table2.csv", "table2.json", "table2.md"]
    assert json.loads((out / "table2.json").read_text())["flavor"] == "alexeyab"


def test_from_log_refuses_a_pjreddie_log(darknet_fixtures: Path, tmp_path: Path) -> None:
    log = darknet_fixtures / "debian" / "unsupported_map.stdout.txt"
    result = CliRunner().invoke(main, ["map", "--from-log", str(log), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "printed nothing" in result.stderr
    assert not (tmp_path / "table2.md").exists()


def test_results_per_dataset_and_report(
    darknet_fixtures: Path, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    results = darknet_fixtures / "alexeyab" / "results_voc"
    args = ["map", "--data", str(dataset / "obj.data"), "--results", str(results)]
    result = CliRunner().invoke(main, [*args, "--out", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert round(data["map"] * 100, 2) == 59.66
    assert len(data["classes"]) == 7 and data["flavor"] is None
    assert "detector valid" in data["method"] and "clips boxes" in data["method"]
    expw, affwild2 = data["datasets"]["expw"], data["datasets"]["affwild2"]
    assert expw["ground_truth"] + affwild2["ground_truth"] == data["ground_truth"] == 30
    assert expw["detections"] + affwild2["detections"] == data["detections"] == 794
    assert sorted(p.name for p in out.iterdir()) == [
        "confusion_matrix.csv", "confusion_matrix.png", "pr_curves.png",
        "table2.csv", "table2.json", "table2.md",
    ]  # fmt: skip
    assert "### Per dataset" in (out / "table2.md").read_text()


def test_points_and_iou_options(darknet_fixtures: Path, dataset: Path, tmp_path: Path) -> None:
    results = darknet_fixtures / "alexeyab" / "results_voc"
    args = ["map", "--data", str(dataset / "obj.data"), "--results", str(results), "--points"]
    result = CliRunner().invoke(main, [*args, "11", "--out", str(tmp_path), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "combined,,mAP,33.93,60.40," in result.stdout
    result = CliRunner().invoke(main, [*args, "101", "--iou", "0.75", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "IoU > 0.75, 101-point interpolated PR curve" in result.stdout


def test_missing_test_image_is_refused(dataset: Path, tmp_path: Path) -> None:
    (dataset / "JPEGImages" / "valid" / "valid_005.jpg").unlink()
    args = ["map", "--data", str(dataset / "obj.data"), "--results", str(tmp_path)]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "1 of 20 test images cannot be scored" in result.stderr
    assert "valid.txt:6: image not found" in result.stderr


def test_weights_are_required_without_log_or_results(dataset: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["map", "--data", str(dataset / "obj.data"),
                                       "--out", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 1
    assert "weights file not found" in result.stderr
