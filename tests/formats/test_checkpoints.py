"""checkpoints.csv: round trip, the argmax (ties: earliest), the patience count, bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from yof_darknet.core.errors import EvaluationError
from yof_darknet.formats.checkpoints import (
    CheckpointRow,
    Settings,
    best_row,
    read_checkpoints,
    since_best,
    validation_curve,
    write_checkpoints,
)

SETTINGS = Settings("/data/val.txt", "ab" * 32, 0.5, 0)


def _row(iteration: int, value: float, file: str | None = None) -> CheckpointRow:
    return CheckpointRow(
        iteration, file or f"yolov3-tiny_{iteration}.weights", f"{iteration:064x}", 100,
        1_700_000_000_000_000_000 + iteration, value, value * 3, {"anger": value, "fear": 0.0},
        SETTINGS,
    )  # fmt: skip


def test_round_trip_sorted_by_iteration(tmp_path: Path) -> None:
    rows = [_row(300, 0.2), _row(100, 0.1), _row(200, 1 / 3, "yolov3-tiny.backup")]
    path = tmp_path / "checkpoints.csv"
    write_checkpoints(path, rows)
    assert read_checkpoints(path) == sorted(rows, key=lambda r: r.iteration)
    header = path.read_text().splitlines()[0].split(",")
    assert header[:7] == ["iteration", "file", "sha256", "size", "mtime_ns", "map", "face_ap"]
    assert header[7:9] == ["ap_anger", "ap_fear"]
    assert read_checkpoints(tmp_path / "none.csv") == []


@pytest.mark.parametrize(
    ("values", "best"),
    [
        ([0.1, 0.3, 0.2], 200),
        ([0.3, 0.1, 0.3], 100),  # a tie: the earliest
        ([0.0, 0.0, 0.0], 100),
    ],
)
def test_best_is_the_argmax_earliest_on_ties(values: list[float], best: int) -> None:
    rows = [_row(100 * (i + 1), v) for i, v in enumerate(values)]
    assert best_row(list(reversed(rows))).iteration == best
    assert best_row([]) is None


@pytest.mark.parametrize(
    ("values", "count"),
    [
        ([], 0),
        ([0.1, 0.2, 0.3], 0),
        ([0.3, 0.2, 0.1], 2),
        ([0.3, 0.2, 0.3, 0.1], 1),  # a tie restarts the count
        ([0.0, 0.0, 0.0, 0.0], 0),  # a warm-up at 0 never counts
        ([0.2, 0.5, 0.4, 0.45, 0.49], 3),
    ],
)
def test_since_best_counts_checkpoints_below_the_best(values: list[float], count: int) -> None:
    rows = [_row(100 * (i + 1), v) for i, v in enumerate(values)]
    assert since_best(list(reversed(rows))) == count


def test_curve_keys_by_iteration() -> None:
    curve = validation_curve([_row(200, 0.2), _row(100, 0.1)])
    assert list(curve) == [100, 200] and curve[200].map == 0.2


def test_a_malformed_row_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.csv"
    write_checkpoints(path, [_row(100, 0.1), _row(200, 0.2)])
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(",0.2,", ",zero,", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EvaluationError, match=r"checkpoints\.csv:3: malformed row"):
        read_checkpoints(path)
    path.write_text("iteration,map\n1,0.5\n")
    with pytest.raises(EvaluationError, match=r"not a checkpoints\.csv"):
        read_checkpoints(path)
