"""Table II outputs: markdown, CSV, JSON (DESIGN.md schema)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from yof_darknet.evaluate.ap import EvalParams, evaluate
from yof_darknet.evaluate.run import subset
from yof_darknet.evaluate.table import Table2, render, write_table
from yof_darknet.formats.maplog import read_map_log


def test_table_from_a_darknet_log(darknet_fixtures: Path, tmp_path: Path) -> None:
    result = read_map_log(darknet_fixtures / "alexeyab" / "map_default.stdout.txt")
    table = Table2(result, "Darknet's own `detector map`", "alexeyab")
    paths = write_table(table, tmp_path)
    markdown = paths["md"].read_text()
    assert "| anger | 43.23 | 52.65 | +9.42 | 0 | 0 |  |" in markdown
    assert "| **mAP** | 33.93 | **50.48** | +16.55 | | | |" in markdown
    assert "area under the PR curve" in markdown and "IoU > 0.50" in markdown
    assert render(table, "md") == markdown
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert len(rows) == 8
    assert rows[1] == {"subset": "combined", "class_id": "1", "class": "disgust",
                       "paper_ap": "6.91", "ap": "27.61", "difference": "+20.70", "tp": "1",
                       "fp": "0", "gt": ""}  # fmt: skip
    assert rows[7]["class"] == "mAP" and rows[7]["ap"] == "50.48"
    data = json.loads(paths["json"].read_text())
    assert data["flavor"] == "alexeyab"
    assert (data["iou_thresh"], data["points"], data["map"]) == (0.5, 0, 0.504813)
    assert data["classes"][0] == {"id": 0, "name": "anger", "ap": 0.5265, "tp": 0, "fp": 0,
                                  "gt": None, "f1": None, "avg_iou": None}  # fmt: skip
    assert data["paper"]["map"] == 0.3393 and data["paper"]["ap"]["anger"] == 0.4323
    assert data["datasets"] == {}


def test_per_dataset_section(dump, truth) -> None:
    names = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
    combined, _, _ = evaluate(dump, truth, EvalParams(), names)
    first, second = (subset(dump, truth, idx) for idx in ([0, 1, 2, 3, 4], [5, 6, 7, 8, 9, 10]))
    datasets = {
        "expw": evaluate(*first, EvalParams(), names)[0],
        "affwild2": evaluate(*second, EvalParams(), names)[0],
    }
    table = Table2(combined, "our evaluator", None, datasets)
    markdown = render(table, "md")
    assert "| Expression | Combined AP (%) | ExpW AP (%) | Aff-Wild2 AP (%) |" in markdown
    assert f"| **mAP** | 50.48 | {datasets['expw'].map * 100:.2f} |" in markdown
    data = json.loads(render(table, "json"))
    assert set(data["datasets"]) == {"expw", "affwild2"}
    assert data["datasets"]["expw"]["ground_truth"] == sum(1 for i in truth.image if i < 5)
    rows = list(csv.DictReader(io.StringIO(render(table, "csv"))))
    assert [r["subset"] for r in rows].count("affwild2") == 8


def test_other_classes_leave_the_paper_out(dump, truth) -> None:
    names = ("cat", "dog", "cow", "hen", "pig", "fox", "owl")
    combined, _, _ = evaluate(dump, truth, EvalParams(), names)
    rafdb = evaluate(*subset(dump, truth, [0, 1, 2]), EvalParams(), names)[0]
    table = Table2(combined, "our evaluator", None, {"rafdb": rafdb, "own": rafdb})
    markdown = render(table, "md")
    assert "Paper" not in markdown and "33.93" not in markdown
    assert "| Class | Our AP (%) | TP | FP | GT |" in markdown
    assert f"| **mAP** | **{combined.map * 100:.2f}** | | | |" in markdown
    assert "the paper's Table II is left out" in markdown
    assert "| Class | Combined AP (%) | RAF-DB AP (%) | Own photos AP (%) |" in markdown
    rows = list(csv.DictReader(io.StringIO(render(table, "csv"))))
    assert {r["paper_ap"] for r in rows} == {""} and {r["difference"] for r in rows} == {""}
    assert json.loads(render(table, "json"))["paper"] is None


def test_the_paper_is_compared_only_for_its_classes_in_its_order(dump, truth) -> None:
    names = ("disgust", "anger", "fear", "happiness", "sadness", "surprise", "neutral")
    combined, _, _ = evaluate(dump, truth, EvalParams(), names)
    assert "Paper AP" not in render(Table2(combined, "our evaluator"), "md")
