"""What Darknet's ``map`` cannot show: which expression is taken for which, and the PR curves.

The confusion matrix counts faces at ``conf_thresh`` (0.25, as Darknet's TP/FP line). Each
predicted box keeps its most probable class; boxes are matched to ground truth of any class by
IoU > ``iou_thresh`` (the most probable box first, one box per face). Rows are the true
expression plus ``background`` (a detection with no face under it); columns are the predicted
expression plus ``background`` (a face nobody detected).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from yof_darknet.core.fileio import atomic_write_bytes, atomic_write_text
from yof_darknet.evaluate.ap import (
    Accumulation,
    Detections,
    GroundTruth,
    best_ground_truth,
)
from yof_darknet.formats.mapresult import MapResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

BACKGROUND = "background"


def best_class_per_box(dets: Detections) -> Detections:
    """One record per predicted box (same image and coordinates): its most probable class."""
    if len(dets) == 0:
        return dets
    b = dets.box
    order = np.lexsort((-dets.score, b[:, 3], b[:, 2], b[:, 1], b[:, 0], dets.image))
    key = np.column_stack([dets.image[order].astype(np.float64), b[order].astype(np.float64)])
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(key[1:] != key[:-1], axis=1)
    return dets.select(np.sort(order[first]))


def confusion_matrix(
    dets: Detections,
    gts: GroundTruth,
    num_classes: int,
    conf_thresh: float = 0.25,
    iou_thresh: float = 0.5,
) -> np.ndarray:
    """(C+1, C+1) int64 counts: ``[true, predicted]``, index C = background."""
    boxes = best_class_per_box(dets.select(dets.score > np.float32(conf_thresh)))
    boxes = boxes.select(np.argsort(-boxes.score, kind="stable"))
    matches = best_ground_truth(boxes, gts, iou_thresh, same_class=False)
    claimed = np.zeros(len(gts), dtype=bool)
    matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    first = np.zeros(len(boxes), dtype=bool)
    has = np.nonzero(matches.gt_index >= 0)[0]
    _, where = np.unique(matches.gt_index[has], return_index=True)
    first[has[where]] = True
    gt_hit = matches.gt_index[first]
    claimed[gt_hit] = True
    # numpy's stubs take an integer array as ufunc.at's index, not the tuple of them it accepts
    np.add.at(matrix, (gts.class_id[gt_hit], boxes.class_id[first]), 1)
    np.add.at(matrix, (num_classes, boxes.class_id[~first]), 1)  # type: ignore[arg-type]
    np.add.at(matrix, (gts.class_id[~claimed], num_classes), 1)  # type: ignore[arg-type]
    return matrix


def confusion_csv(matrix: np.ndarray, names: Sequence[str]) -> str:
    """The matrix as CSV: header ``true\\predicted``, the class names, ``background``."""
    labels = [*names, BACKGROUND]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["true\\predicted", *labels])
    for label, row in zip(labels, matrix, strict=True):
        writer.writerow([label, *(int(v) for v in row)])
    return buffer.getvalue()


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure of its own (no pyplot state, nothing to close), with one set of axes."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    return figure, figure.add_subplot()


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return buffer.getvalue()


def plot_confusion(matrix: np.ndarray, names: Sequence[str], title: str) -> bytes:
    """PNG: counts in each cell, colour = share of the row (what became of each true class)."""
    labels = [*names, BACKGROUND]
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    figure, axes = _figure(7.5, 6.5)
    image = axes.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(matrix):
        if value:
            colour = "white" if share[i, j] > 0.6 else "black"
            axes.text(j, i, str(value), ha="center", va="center", color=colour, fontsize=9)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted (background = face missed)")
    axes.set_ylabel("true (background = no face there)")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label="share of the row")
    return _png(figure)


def plot_pr_curves(acc: Accumulation, result: MapResult) -> bytes:
    """PNG: per class, the interpolated precision-recall curve whose area is its AP (solid) and
    the raw curve over its ranked detections (faint); AP in the legend."""
    figure, axes = _figure(7, 5.5)
    for c in result.classes:
        recall, precision = acc.recall[c.id], acc.precision[c.id]
        if len(recall) == 0:
            axes.plot([], [], label=f"{c.name} (AP {c.ap * 100:.2f} %, no detection)")
            continue
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        (line,) = axes.step(
            np.concatenate([[0.0], recall]),
            np.concatenate([envelope[:1], envelope]),
            where="pre",
            label=f"{c.name} (AP {c.ap * 100:.2f} %)",
        )
        axes.plot(recall, precision, color=line.get_color(), alpha=0.3, linewidth=0.8)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title(f"PR curves, IoU > {result.iou_thresh:.2f}, mAP {result.map * 100:.2f} %")
    axes.legend(loc="lower left", fontsize=8)
    axes.grid(alpha=0.3)
    return _png(figure)


def write_report(
    dets: Detections,
    gts: GroundTruth,
    acc: Accumulation,
    result: MapResult,
    out: Path,
) -> list[Path]:
    """Write ``confusion_matrix.csv``, ``confusion_matrix.png`` and ``pr_curves.png``."""
    names = [c.name for c in result.classes]
    matrix = confusion_matrix(dets, gts, len(names), result.conf_thresh, result.iou_thresh)
    title = f"Confusion at conf > {result.conf_thresh:.2f}, IoU > {result.iou_thresh:.2f}"
    paths = [out / "confusion_matrix.csv", out / "confusion_matrix.png", out / "pr_curves.png"]
    atomic_write_text(paths[0], confusion_csv(matrix, names))
    atomic_write_bytes(paths[1], plot_confusion(matrix, names, title))
    atomic_write_bytes(paths[2], plot_pr_curves(acc, result))
    return paths
