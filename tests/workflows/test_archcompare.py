"""`compare-archs`: one row per architecture, timed in one run, trained runs scored."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from yof_darknet.cli import main
from yof_darknet.formats.cfg import parse_cfg
from yof_darknet.formats.weights import layer_param_counts, network_bflops
from yof_darknet.infer.weightsfile import write_random_weights
from yof_darknet.training.profiles import generate_cfg


def test_one_row_per_arch_with_the_trained_run_scored(tiny_data: Path, tmp_path: Path):
    run = tmp_path / "runs" / "sample-yolov7-tiny"
    (run / "weights").mkdir(parents=True)
    (run / "yolov7-tiny.cfg").write_text(generate_cfg(7, "sample", arch="yolov7-tiny"))
    write_random_weights(run / "yolov7-tiny.cfg", run / "weights" / "yolov7-tiny_final.weights")
    out = tmp_path / "out"
    args = ["compare-archs", "--arch", "yolov3-tiny", "--arch", "yolov7-tiny", "--size", "96",
            "--rounds", "1", "--runs", str(tmp_path / "runs"), "--data", str(tiny_data),
            "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "compare-archs.json").read_text())["rows"]
    assert [r["arch"] for r in rows] == ["yolov3-tiny", "yolov7-tiny"]
    for row in rows:
        sections = parse_cfg(generate_cfg(7, "paper", ["width=96", "height=96"], arch=row["arch"]))
        assert row["params"] == sum(layer_param_counts(sections))
        assert row["bflops"] == round(network_bflops(sections), 3)
        assert set(row["fps"]) == {"ort", "opencv"} and min(row["fps"].values()) > 0
    assert rows[0]["weights"] is None and rows[0]["map"] is None  # no yolov3-tiny run there
    assert rows[1]["weights"].endswith("yolov7-tiny_final.weights")
    assert 0 <= rows[1]["map"] <= 1
    table = (out / "compare-archs.md").read_text()
    assert f"| yolov3-tiny | {rows[0]['params']:,} | {rows[0]['bflops']:.3f} |" in table
