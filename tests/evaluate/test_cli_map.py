"""`yof-darknet map`: every path that needs no darknet, and the refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.darknet import write_weights
from yof_darknet.cli import main
from yof_darknet.training.profiles import generate_cfg


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
    assert "| **mAP** | 33.93 | **50.48** | +16.55 | | | |" in result.stdout
    assert "training iteration 1000" in result.stdout
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
    assert round(data["map"] * 100, 2) == 50.90
    assert len(data["classes"]) == 7 and data["flavor"] is None
    assert "detector valid" in data["method"] and "clips boxes" in data["method"]
    expw, affwild2 = data["datasets"]["expw"], data["datasets"]["affwild2"]
    assert expw["ground_truth"] + affwild2["ground_truth"] == data["ground_truth"] == 30
    assert expw["detections"] + affwild2["detections"] == data["detections"] == 1593
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
    assert "combined,,mAP,33.93,53.16," in result.stdout
    result = CliRunner().invoke(main, [*args, "101", "--match-iou", "0.75", "--out", str(tmp_path)])
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
    assert "no model to score: give --weights" in result.stderr and "None" not in result.stderr


@pytest.fixture()
def model(darknet_fixtures: Path, dataset: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The fixture's 7-class cfg, weights that fit it, and a darknet that records any call."""
    cfg = dataset / "yolov3-tiny-obj.cfg"
    shutil.copy(darknet_fixtures / "dataset" / cfg.name, cfg)
    weights = tmp_path / "fits.weights"
    write_weights(weights, cfg, seen=0)
    called = tmp_path / "darknet-was-called"
    fake = tmp_path / "bin" / "darknet"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ntouch {called}\nexit 1\n")
    fake.chmod(0o755)
    return cfg, weights, fake


def _map(dataset: Path, cfg: Path, weights: Path, darknet: Path, out: Path):
    args = ["map", "--data", str(dataset / "obj.data"), "--cfg", str(cfg),
            "--weights", str(weights), "--darknet", str(darknet), "--out", str(out)]  # fmt: skip
    return CliRunner().invoke(main, args)


def _cut(weights: Path, target: Path, keep: int) -> Path:
    target.write_bytes(weights.read_bytes()[:keep])
    return target


@pytest.mark.parametrize("engine", ["darknet", "python"])
@pytest.mark.parametrize("case", ["truncated", "one float short", "zero bytes", "80 classes",
                                  "another network"])  # fmt: skip
def test_weights_that_do_not_fit_the_cfg_are_refused_before_darknet_runs(
    model, dataset, tmp_path, case, engine
):
    cfg, weights, fake = model
    if case == "truncated":
        wrong = _cut(weights, tmp_path / "cut.weights", weights.stat().st_size // 2)
    elif case == "one float short":
        wrong = _cut(weights, tmp_path / "cut.weights", weights.stat().st_size - 4)
    elif case == "zero bytes":
        wrong = _cut(weights, tmp_path / "empty.weights", 0)
    else:
        other = tmp_path / "other.cfg"
        text = generate_cfg(80, "paper")  # COCO's yolov3-tiny
        if case == "another network":  # same heads, one more filter in the first layer
            text = generate_cfg(7, "paper").replace("filters=16", "filters=32", 1)
        other.write_text(text)
        wrong = tmp_path / "other.weights"
        write_weights(wrong, other, seen=0)
    args = ["map", "--data", str(dataset / "obj.data"), "--cfg", str(cfg), "--weights",
            str(wrong), "--darknet", str(fake), "--engine", engine,
            "--out", str(tmp_path / "o")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    expected = "too short for a darknet weights file" if case == "zero bytes" else "belong to"
    assert expected in result.stderr and str(wrong) in result.stderr
    assert not (tmp_path / "darknet-was-called").exists()
    assert not (tmp_path / "o" / "table2.md").exists()


def test_a_cfg_whose_heads_disagree_with_obj_data_is_refused(model, dataset, tmp_path):
    _, _, fake = model
    cfg = tmp_path / "coco.cfg"
    cfg.write_text(generate_cfg(80, "paper"))
    weights = tmp_path / "coco.weights"
    write_weights(weights, cfg, seen=0)
    result = _map(dataset, cfg, weights, fake, tmp_path / "o")
    assert result.exit_code == 1
    assert "[yolo] classes=80 but" in result.stderr and "classes=7" in result.stderr
    broken = tmp_path / "broken.cfg"  # classes=7 but the layer before keeps COCO's filters
    broken.write_text(generate_cfg(7, "paper").replace("filters=36", "filters=255"))
    result = _map(dataset, broken, weights, fake, tmp_path / "o")
    assert result.exit_code == 1 and "filters=255" in result.stderr
    assert not (tmp_path / "darknet-was-called").exists()


def test_obj_data_without_valid_is_an_error_naming_the_file(model, dataset, tmp_path):
    cfg, weights, fake = model
    obj = dataset / "obj.data"
    obj.write_text("".join(line + "\n" for line in obj.read_text().splitlines()
                           if not line.startswith("valid")))  # fmt: skip
    result = _map(dataset, cfg, weights, fake, tmp_path / "o")
    assert result.exit_code == 1
    assert f"{obj}: no valid= line" in result.stderr
    assert not (tmp_path / "darknet-was-called").exists()


def test_names_path_with_spaces_is_refused_before_darknet_runs(model, dataset, tmp_path):
    cfg, weights, fake = model
    spaced = tmp_path / "my names" / "obj.names"
    spaced.parent.mkdir()
    shutil.copy(dataset / "obj.names", spaced)
    obj = dataset / "obj.data"
    obj.write_text(obj.read_text().replace("names=obj.names", f"names={spaced}"))
    result = _map(dataset, cfg, weights, fake, tmp_path / "o")
    assert result.exit_code == 1
    assert "holds whitespace" in result.stderr and "deletes every space" in result.stderr
    assert not (tmp_path / "darknet-was-called").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--select", "best"], "--select chooses among the checkpoints of a run: add"),
        (["--checkpoints", "RUN", "--select", "final"], "--select picks the weights of Table II"),
        (["--checkpoints", "RUN", "--weights", "W"], "--weights cannot apply with --checkpoints"),
        (["--checkpoints", "RUN", "--from-log", "W"], "--from-log cannot apply with --checkpoints"),
        (["--checkpoints", "RUN"], "RUN: not a run folder (no obj.data); give runs/NAME"),
    ],
)
def test_checkpoint_refusals(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "RUN").mkdir()
    (tmp_path / "W").write_bytes(b"")
    given = [str(tmp_path / a) if a in ("RUN", "W") else a for a in args]
    result = CliRunner().invoke(main, ["map", *given])
    assert result.exit_code != 0
    assert message.replace("RUN", str(tmp_path / "RUN")) in result.output
