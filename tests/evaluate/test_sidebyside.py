"""Runs side by side: on Table IIs of real Darknet map logs, and on hand-made records."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from yof_darknet.core.errors import EvaluationError
from yof_darknet.evaluate.sidebyside import (
    read_record,
    same_test_list_problem,
    side_by_side,
)
from yof_darknet.evaluate.table import Table2, to_json
from yof_darknet.formats.maplog import read_map_log


def _record(folder: Path, combined: str, expw: str, affwild2: str) -> dict:
    logs = {name: read_map_log(folder / f"{log}.stdout.txt") for name, log in
            (("combined", combined), ("expw", expw), ("affwild2", affwild2))}  # fmt: skip
    datasets = {"expw": logs["expw"], "affwild2": logs["affwild2"]}
    return to_json(Table2(logs["combined"], "Darknet's own `detector map`", "alexeyab", datasets))


def _hand(aps: list[float], face: float | None = None, gt: int = 70, iou: float = 0.5) -> dict:
    """A table2.json by hand: seven classes, their mean as mAP, an optional face AP."""
    names = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
    record = {
        "method": "by hand",
        "classes": [{"name": n, "ap": ap} for n, ap in zip(names, aps, strict=True)],
        "map": sum(aps) / len(aps),
        "iou_thresh": iou,
        "points": 0,
        "ground_truth": gt,
    }
    if face is not None:
        record["face_ap"] = face
    return record


def test_per_subset_with_differences_on_real_map_logs(darknet_fixtures: Path) -> None:
    folder = darknet_fixtures / "alexeyab"
    keep = _record(folder, "map_default", "map_points11", "map_points101")
    mask = _record(folder, "map_iou075", "map_default", "map_points11")
    text = side_by_side({"keep": [keep], "mask": [mask]})
    sections = text.split("### ")[1:]
    assert [s.splitlines()[0] for s in sections] == ["Combined test set", "ExpW", "Aff-Wild2"]
    assert "| Expression | keep AP (%) | mask AP (%) | mask − keep (pp) |" in sections[0]
    pairs = {
        "Combined test set": (keep, mask),
        "ExpW": (keep["datasets"]["expw"], mask["datasets"]["expw"]),
        "Aff-Wild2": (keep["datasets"]["affwild2"], mask["datasets"]["affwild2"]),
    }
    for section in sections:
        before, after = pairs[section.splitlines()[0]]
        for old, new in zip(before["classes"], after["classes"], strict=True):
            row = f"| {old['name']} | {old['ap'] * 100:.2f} | {new['ap'] * 100:.2f} | "
            assert row + f"{(new['ap'] - old['ap']) * 100:+.2f} |" in section
        mean = f"| **mAP** | {before['map'] * 100:.2f} | {after['map'] * 100:.2f} | "
        assert mean + f"{(after['map'] - before['map']) * 100:+.2f} |" in section
    assert "face AP" not in text  # these logs hold no class-agnostic face AP
    assert text.rstrip().endswith("Numbers: Darknet's own `detector map`")


def test_only_subsets_every_run_holds_are_shown(darknet_fixtures: Path) -> None:
    folder = darknet_fixtures / "alexeyab"
    keep = _record(folder, "map_default", "map_points11", "map_points101")
    combined_only = to_json(Table2(read_map_log(folder / "map_iou075.stdout.txt"), "ours"))
    text = side_by_side({"keep": [keep], "mask": [combined_only]})
    assert text.count("### ") == 1 and "ExpW" not in text
    assert "Numbers: Darknet's own `detector map`; ours" in text


def test_repeated_runs_show_mean_range_and_spread() -> None:
    keep = [_hand([0.1] * 7), _hand([0.3] * 7)]
    mask = [_hand([0.2] * 7), _hand([0.2] * 6 + [0.5])]
    text = side_by_side(
        {"keep": keep, "mask": mask}, runs={"keep": ["cpu", "cpu-r2"], "mask": ["m", "m-r2"]}
    )
    assert "| keep AP (%) | mask AP (%) | mask − keep (pp, of the means) |" in text
    assert "| anger | 20.00 (10.00–30.00) | 20.00 (20.00–20.00) | +0.00 |" in text
    assert "| neutral | 20.00 (10.00–30.00) | 35.00 (20.00–50.00) | +15.00 |" in text
    masks = [r["map"] * 100 for r in mask]
    assert (
        f"- mask: m {masks[0]:.2f}, m-r2 {masks[1]:.2f}; mean {statistics.fmean(masks):.2f}, "
        f"standard deviation {statistics.stdev(masks):.2f}, range {masks[1] - masks[0]:.2f}"
    ) in text
    assert "- keep: cpu 10.00, cpu-r2 30.00; mean 20.00, standard deviation 14.14" in text


def test_the_control_ratio_and_the_face_ap_row_where_every_run_has_one() -> None:
    control = _hand([0.05] * 7, face=0.6)
    recipe = _hand([0.05] * 6 + [0.4], face=0.62)
    text = side_by_side({"control": [control], "recipe": [recipe]}, ratio=True)
    assert "| Expression | control AP (%) | recipe AP (%) | recipe − control (pp) | " in text
    assert "| recipe ÷ control |" in text
    assert "| neutral | 5.00 | 40.00 | +35.00 | 8.00× |" in text
    assert "| **mAP** | 5.00 | 10.00 | +5.00 | 2.00× |" in text
    assert "| face AP (any class) | 60.00 | 62.00 | +2.00 | 1.03× |" in text
    without = side_by_side({"control": [_hand([0.1] * 7)], "recipe": [recipe]}, ratio=True)
    assert "face AP" not in without


def test_runs_scored_otherwise_are_not_set_side_by_side() -> None:
    assert same_test_list_problem([_hand([0.1] * 7), _hand([0.2] * 7)]) is None
    other_list = same_test_list_problem([_hand([0.1] * 7), _hand([0.1] * 7, gt=71)])
    assert other_list == "scored on other test lists (70 vs 71 ground-truth faces)"
    other_iou = same_test_list_problem([_hand([0.1] * 7), _hand([0.1] * 7, iou=0.75)])
    assert other_iou == "scored with another IoU threshold (0.5 vs 0.75)"
    with pytest.raises(EvaluationError, match="at least two labels"):
        side_by_side({"keep": [_hand([0.1] * 7)]})


def test_a_missing_or_foreign_table2_json_is_named(tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="not found; score the run first"):
        read_record(tmp_path / "table2.json")
    (tmp_path / "table2.json").write_text(json.dumps({"flavor": "x"}))
    with pytest.raises(EvaluationError, match=r"not a table2\.json of `yof-darknet map`"):
        read_record(tmp_path / "table2.json")
