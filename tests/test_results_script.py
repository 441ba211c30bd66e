"""scripts/results.py: records that say how each number was made, and the page rendered from
them. A run folder's table2.json is written here by the real `map` writer."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from yof_darknet.core.expressions import CLASSES
from yof_darknet.evaluate.table import Table2, write_table
from yof_darknet.formats.mapresult import ClassAP, MapResult

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("results_script", ROOT / "scripts" / "results.py")
results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(results)


def _run_folder(root: Path) -> Path:
    classes = tuple(
        ClassAP(id=i, name=name, ap=0.1 * (i + 1), tp=i, fp=1, gt=10)
        for i, name in enumerate(CLASSES)
    )
    result = MapResult(
        classes=classes, map=0.4, iou_thresh=0.5, points=0, conf_thresh=0.25, precision=0.5,
        recall=0.25, f1=None, tp=21, fp=7, fn=49, avg_iou=0.6, detections=100, ground_truth=70,
        source="evaluator",
    )  # fmt: skip
    run = root / "runs" / "try"
    write_table(Table2(combined=result, method="our evaluator", flavor="pjreddie"), run / "map")
    (run / "results.csv").write_text("iteration,loss\n1,9.0\n340,1.2\n")
    return run


def test_a_recorded_run_reaches_the_page_with_how_it_was_made(tmp_path):
    run = _run_folder(tmp_path)
    record = results.run_record(run, "try", "A try", "make reproduce RUN=try")
    assert record["table2"]["map"] == 0.4 and record["iterations"] == 340
    assert record["machine"] and record["date"] and record["commit"]
    path = results.write_record(record, tmp_path / "records")
    loaded = results.load_records(tmp_path / "records")
    assert [r["id"] for r in loaded] == ["try"] and path.name == "try.json"
    page = results.render_page(loaded)
    assert "| [try](#try) | A try | 40.00 |" in page
    assert "| sadness | 31.18 | 50.00 | 4 | 1 | 10 |" in page  # paper's AP beside ours
    assert "- command: `make reproduce RUN=try`" in page
    assert "- iterations trained: 340" in page


def test_a_record_without_its_provenance_is_refused(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"id": "bad", "kind": "bench", "title": "x"}))
    with pytest.raises(SystemExit, match=r"bad.json: record without command, machine, date"):
        results.load_records(tmp_path)


def test_a_run_without_table_ii_names_the_command_that_makes_it(tmp_path):
    with pytest.raises(SystemExit, match=r"map/table2.json: not found.*make reproduce"):
        results.run_record(tmp_path, "x", "x", "make reproduce")


def test_the_readme_block_is_replaced_between_its_markers_only():
    text = f"before\n{results.BEGIN}\nold\n{results.END}\nafter\n"
    assert results.replace_block(text, "NEW") == "before\nNEW\nafter\n"
    with pytest.raises(SystemExit, match=r"no '<!-- results\.py: table2 begin -->'"):
        results.replace_block("no block", "NEW")


def test_the_readme_table_has_the_papers_row_and_one_row_per_record():
    block = results.render_readme_table(results.load_records())
    rows = [line for line in block.splitlines() if line.startswith("| ")]
    paper = rows[1]
    assert paper.startswith("| paper, Table II | 43.23 | 6.91 |") and paper.endswith("**33.93** |")
    assert len(rows) == 2 + len(results.README_RECORDS)


def test_a_benchmark_record_renders_the_commands_own_table(tmp_path):
    """A `benchmark.json` of `yof-darknet benchmark` becomes a record whose table on the page
    and in the detection guide's speed block is the one the command printed."""
    from dataclasses import asdict

    from yof_darknet.workflows.benchmark.report import Report, RowResult, render_markdown

    row = RowResult(
        engine="ort-int8", runs="ONNX Runtime", precision="int8", size=416, median_ms=12.5,
        p95_ms=14.0, pre_ms=1.9, forward_ms=9.0, post_ms=1.5, fps=80.0, cpu_ms=21.0,
        forward_cpu_ms=17.7, memory_mib=40.0, gmac=2.72, share_wall=0.8, share_cpu=0.86,
        others=0.01, quiet_frames=40, quiet_median_ms=12.5, map=0.5, face_ap=None,
    )  # fmt: skip
    report = Report(
        model={"cfg": "y.cfg", "weights": "y.weights", "data": ""}, machine="AMD EPYC; 2 CPU(s)",
        flags=["avx2"], threads=2, date="2026-12-07 21:00 UTC", rounds=40, frames="8 frames",
        peaks={"int8": {"mac_per_cpu_s": 1.8e11, "mac_per_s": 3.6e11, "ceiling": 3.6e11,
                        "size": 1024}},
        load={"median": 0.01, "max": 0.04, "before": 0.3, "after": 0.4}, rows=[row],
        ratios=["416: ort-int8 is 2.00x OpenCV DNN"],
    )  # fmt: skip
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(asdict(report)))
    record = results.benchmark_record(path, "bench-engines", "make bench", "make bench")
    assert record["kind"] == "benchmark" and record["load_average"] == [0.3, 0.4]
    table_row = next(line for line in render_markdown(report).splitlines() if "ort-int8 |" in line)
    assert table_row in results.render_page([record])
    block = results.render_speed_block([record])
    assert block.startswith(results.SPEED_BEGIN) and block.endswith(results.SPEED_END)
    assert table_row in block and "`make bench`" in block
