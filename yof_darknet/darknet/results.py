"""A run's ``results.csv`` (one row per iteration) and ``results.png`` (loss and mAP curves)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from yof_darknet.fileio import atomic_write_bytes, atomic_write_text
from yof_darknet.formats.trainlog import Record, TrainLine

COLUMNS = ("iteration", "loss", "avg_loss", "lr", "seconds", "images", "map", "loss_rise")


def _number(value: float) -> str:
    return repr(value) if math.isfinite(value) else str(value)


def write_results(path: Path, rows: Sequence[Record]) -> None:
    """``results.csv``: ``map`` is empty except after iterations where darknet computed one;
    ``loss_rise`` (the loss watch's avg loss / running minimum) is empty where it was not
    judged (the first iterations of each darknet run)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        line = row.line
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


def plot_results(path: Path, rows: Sequence[Record], title: str = "") -> None:
    """``results.png``: loss and average loss per iteration, mAP@0.50 on a second axis."""
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
    if maps:
        right = axes.twinx()
        right.plot(*zip(*maps, strict=True), "o-", color="tab:red", label="mAP@0.50")
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
