"""A run's network record: the cfg its weights belong to, and the check of another cfg."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.darknet import write_weights
from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import apply_setting, dump_cfg, parse_cfg, read_cfg
from yof_darknet.formats.network import RECORD, check_network, write_network_record
from yof_darknet.training.profiles import TEMPLATE, generate_cfg
from yof_darknet.training.train import prepare_run

ANCHORS = "11,12,  20,25,  33,40,  52,61,  90,100,  160,170"  # as k-means picks them


def _run(tmp_path: Path, tiny_data: Path) -> tuple[Path, Path]:
    """A run folder as `train` leaves it: the run cfg (its own anchors), the record, weights."""
    run = tmp_path / "runs" / "r"
    cfg, _ = prepare_run(tiny_data, run, profile="sample", overrides=[f"yolo.anchors={ANCHORS}"])
    write_network_record(run, cfg, read_cfg(cfg))
    weights = run / "weights" / "yolov3-tiny_final.weights"
    write_weights(weights, cfg, seen=0)
    return cfg, weights


def test_the_record_holds_what_the_weights_depend_on(tmp_path, tiny_data):
    cfg, _ = _run(tmp_path, tiny_data)
    record = json.loads((cfg.parent / RECORD).read_text())
    sections = read_cfg(cfg)
    assert record["cfg"] == cfg.name
    assert (record["width"], record["height"]) == (int(sections[0].get("width")),) * 2
    assert record["classes"] == [7, 7] and record["masks"] == [[3, 4, 5], [0, 1, 2]]
    assert record["anchors"][0] == [float(v) for v in ANCHORS.split(",")]


def test_the_template_with_a_runs_weights_is_refused(tmp_path, tiny_data):
    cfg, weights = _run(tmp_path, tiny_data)
    assert check_network(cfg, read_cfg(cfg), weights) == []
    template = parse_cfg(generate_cfg(7, "sample"))  # same layers, the COCO anchors
    with pytest.raises(DarknetError, match=f"anchors .* Give --cfg {cfg}"):
        check_network(TEMPLATE, template, weights)
    other = read_cfg(cfg)
    apply_setting(other, "yolo.classes", "6")
    with pytest.raises(DarknetError, match="classes"):
        check_network(tmp_path / "six.cfg", other, weights)
    resized = read_cfg(cfg)
    apply_setting(resized, "width", "608")
    (notes,) = check_network(tmp_path / "big.cfg", resized, weights)
    assert "608x" in notes and "trained at" in notes
    copy = tmp_path / "copy.cfg"  # a copy of the run cfg elsewhere: the same network
    copy.write_text(dump_cfg(read_cfg(cfg)))
    assert check_network(copy, read_cfg(copy), weights) == []


def test_weights_outside_a_run_are_not_checked(tmp_path):
    cfg = tmp_path / "a.cfg"
    cfg.write_text(generate_cfg(7, "sample"))
    weights = tmp_path / "elsewhere" / "a.weights"
    weights.parent.mkdir()
    write_weights(weights, cfg, seen=0)
    assert check_network(cfg, read_cfg(cfg), weights) == []
