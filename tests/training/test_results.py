"""A run's results.csv keeps the training's columns (darknet's mAP, the loss watch's loss_rise)
and the scorer's (val_map, val_face_ap), whichever of the two rewrites it."""

from __future__ import annotations

import csv
from pathlib import Path

from yof_darknet.formats.checkpoints import CheckpointRow, Settings, write_checkpoints
from yof_darknet.formats.trainlog import Record, TrainLine
from yof_darknet.training.results import COLUMNS, VALIDATION_COLUMNS, read_results, save_results

SETTINGS = Settings("/data/val.txt", "0" * 64, 0.5, 0)


def _records(count: int) -> list[Record]:
    """Iterations 1..count; the loss watch judged from iteration 3, darknet's mAP at 4."""
    return [
        Record(
            TrainLine(i, 10.0 / i, 12.0 / i, 0.001, 1.5, 8 * i),
            0.25 if i == 4 else None,
            1.0 + i / 10 if i >= 3 else None,
        )
        for i in range(1, count + 1)
    ]


def _checkpoint(iteration: int, value: float) -> CheckpointRow:
    name = f"tiny_{iteration}.weights"
    return CheckpointRow(iteration, name, f"{iteration:064x}", 100, 1, value, value * 2,
                         {"anger": value}, SETTINGS)  # fmt: skip


def _rows(run: Path) -> dict[int, dict[str, str]]:
    with (run / "results.csv").open() as handle:
        return {int(row["iteration"]): row for row in csv.DictReader(handle)}


def test_the_training_and_the_scorer_keep_each_others_columns(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    write_checkpoints(run / "checkpoints.csv", [_checkpoint(2, 0.125)])
    save_results(run, _records(4), "tiny")  # the training, at a save
    rows = _rows(run)
    assert list(rows[1]) == [*COLUMNS, *VALIDATION_COLUMNS]
    assert rows[2]["val_map"] == "0.125" and rows[2]["val_face_ap"] == "0.25"
    assert rows[3]["loss_rise"] == "1.3" and rows[4]["map"] == "0.25"
    assert rows[1]["loss_rise"] == rows[1]["val_map"] == rows[3]["val_map"] == ""

    # the scorer (map --checkpoints) scored another checkpoint and rewrites from the file
    write_checkpoints(run / "checkpoints.csv", [_checkpoint(2, 0.125), _checkpoint(4, 0.5)])
    save_results(run)
    again = _rows(run)
    assert again[4]["val_map"] == "0.5" and again[4]["val_face_ap"] == "1.0"
    assert [r["loss_rise"] for r in again.values()] == [r["loss_rise"] for r in rows.values()]
    assert [r["map"] for r in again.values()] == [r["map"] for r in rows.values()]
    assert read_results(run / "results.csv") == _records(4)

    # the training's next save: its new rows, the scorer's columns joined in again
    save_results(run, _records(5), "tiny")
    last = _rows(run)
    assert last[2]["val_map"] == "0.125" and last[4]["val_map"] == "0.5"
    assert last[5]["loss_rise"] == "1.5" and last[5]["val_map"] == ""
    assert (run / "results.png").stat().st_size > 0
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints.csv", "results.csv",
                                                      "results.png"]  # fmt: skip
