"""A run's ``results.csv`` (one row per iteration) and ``results.png`` (loss and mAP curves).

``val_map`` and ``val_face_ap`` are joined by iteration from the run's ``checkpoints.csv`` (every
saved weights file scored on the validation list), beside the training's own columns (``map``,
``loss_rise``); the files are rewritten under a lock of their own (``owned.output_lock`` of
``results.csv``), since the training and ``map --checkpoints`` both rewrite them, in turn.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from yof_darknet.core.fileio import atomic_write_bytes, atomic_write_text
from yof_darknet.core.owned import output_lock
from yof_darknet.formats.checkpoints import (
    FILE_NAME,
    CheckpointRow,
    read_checkpoints,
    validation_curve,
)
from yof_darknet.formats.trainlog import Record, TrainLine

COLUMNS = ("iteration", "loss", "avg_loss", "lr", "seconds", "images", "map", "loss_rise")
VALIDATION_COLUMNS = ("val_map", "val_face_ap")


def _number(value: float) -> str:
    return repr(value) if math.isfinite(value) else str(value)


def write_results(
    path: Path, rows: Sequence[Record], validation: Mapping[int, CheckpointRow] | None = None
) -> None:
    """``results.csv``: ``map`` is empty except after iterations where darknet computed one;
    ``loss_rise`` (the loss watch's avg loss / running minimum) is empty where it was not
    judged (the first iterations of each darknet run); ``val_map``/``val_face_ap`` except at
    iterations whose checkpoint was scored."""
    validation = validation or {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((*COLUMNS, *VALIDATION_COLUMNS))
    for row in rows:
        line = row.line
        scored = validation.get(line.iteration)
        writer.writerow(
            [
                line.iteration,
                _number(line.loss),
                _number(line.avg_loss),
                _number(line.lr),
                _number(line.seconds),
                line.images,
                "" if row.map is None else _number(row.map),
                "" if row.loss_rise is None else _number(row.loss_rise),
                "" if scored is None else _number(scored.map),
                "" if scored is None else _number(scored.face_ap),
            ]
        )
    atomic_write_text(Path(path), out.getvalue())


def read_results(path: Path) -> list[Record]:
    """Rows of a ``results.csv`` written by ``write_results`` (empty list if there is none)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as handle:
        for item in csv.DictReader(handle):
            line = TrainLine(
                int(item["iteration"]),
                float(item["loss"]),
                float(item["avg_loss"]),
                float(item["lr"]),
                float(item["seconds"]),
                int(item["images"]),
            )
            rise = item.get("loss_rise")  # absent from the files of older versions
            rows.append(
                Record(
                    line,
                    float(item["map"]) if item["map"] else None,
                    float(rise) if rise else None,
                )
            )
    return rows


def plot_results(
    path: Path,
    rows: Sequence[Record],
    title: str = "",
    validation: Mapping[int, CheckpointRow] | None = None,
) -> None:
    """``results.png``: loss and average loss per iteration; on a second axis darknet's mAP and
    the validation mAP of every scored checkpoint."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no backend

    figure = Figure(figsize=(8, 4.5), dpi=100)
    axes = figure.add_subplot()
    iterations = [row.line.iteration for row in rows]
    axes.plot(iterations, [row.line.loss for row in rows], lw=0.6, alpha=0.5, label="loss")
    axes.plot(iterations, [row.line.avg_loss for row in rows], lw=1.5, label="avg loss")
    axes.set_xlabel("iteration")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    maps = [(row.line.iteration, row.map) for row in rows if row.map is not None]
    handles, labels = axes.get_legend_handles_labels()
    if maps or validation:
        right = axes.twinx()
        if maps:
            right.plot(*zip(*maps, strict=True), "o-", color="tab:red", label="mAP@0.50")
        if validation:
            points = sorted((i, r.map) for i, r in validation.items())
            right.plot(*zip(*points, strict=True), "s-", color="tab:green",
                       label="validation mAP (checkpoints)")  # fmt: skip
        right.set_ylabel("mAP@0.50")
        right.set_ylim(0, 1)
        more_handles, more_labels = right.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    if handles:
        axes.legend(handles, labels, loc="upper right")
    axes.set_title(title or "training")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    atomic_write_bytes(Path(path), buffer.getvalue())


def save_results(
    run_dir: Path, rows: Sequence[Record] | None = None, title: str | None = None
) -> None:
    """Rewrite the run's ``results.csv`` and ``results.png`` with the validation scores of
    ``checkpoints.csv`` joined in; ``rows`` None: the rows ``results.csv`` holds now."""
    run_dir = Path(run_dir)
    with output_lock(run_dir / "results.csv", folder=False, wait=lambda _: None):
        records = read_results(run_dir / "results.csv") if rows is None else rows
        curve = validation_curve(read_checkpoints(run_dir / FILE_NAME))
        write_results(run_dir / "results.csv", records, curve)
        plot_results(run_dir / "results.png", records, title or run_dir.name, curve)
