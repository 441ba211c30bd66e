"""Expression timelines of a video: what each face track showed, frame by frame.

:class:`TrackLog` collects, per track, the frame index, box and class probabilities of every
frame the track was seen in (and, for causal models, the label shown live). ``write_timelines``
writes per track ``<stem>_track<id>.csv`` (frame, time_s, x1, y1, x2, y2, one column per class,
label) and ``<stem>_track<id>.png`` (the class probabilities over time, a vertical line at each
frame where the label changes).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yof_darknet.core.fileio import atomic_write_bytes, atomic_write_text
from yof_darknet.infer.temporal import TemporalOptions, smooth_labels


@dataclass
class TrackRows:
    """One track: ``frames`` (T,), ``boxes`` (T, 4) xyxy px, ``probs`` (T, C), ``labels`` (T,)."""

    frames: list[int] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)


class TrackLog:
    """Everything seen of each track, in frame order."""

    def __init__(self) -> None:
        self.tracks: dict[int, TrackRows] = {}

    def add(
        self,
        track_id: int,
        frame: int,
        xyxy: tuple[float, float, float, float],
        probs: np.ndarray,
        label: int | None = None,
    ) -> None:
        rows = self.tracks.setdefault(track_id, TrackRows())
        rows.frames.append(frame)
        rows.boxes.append(tuple(float(v) for v in xyxy))  # type: ignore[arg-type]
        rows.probs.append(np.asarray(probs, dtype=np.float64))
        if label is not None:
            rows.labels.append(label)

    def relabel(self, options: TemporalOptions) -> None:
        """Label every frame of every track with ``options``' model (offline models: after the
        whole video was seen)."""
        for rows in self.tracks.values():
            rows.labels = smooth_labels(np.array(rows.probs), options).tolist()


def timeline_csv(rows: TrackRows, fps: float, names: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["frame", "time_s", "x1", "y1", "x2", "y2", *names, "label"])
    for frame, box, probs, label in zip(
        rows.frames, rows.boxes, rows.probs, rows.labels, strict=True
    ):
        writer.writerow(
            [
                frame,
                f"{frame / fps:.3f}",
                *(f"{v:.1f}" for v in box),
                *(f"{p:.4f}" for p in probs),
                names[label],
            ]
        )
    return out.getvalue()


def label_changes(labels: Sequence[int]) -> list[int]:
    """Positions where the label differs from the previous frame's.

    >>> label_changes([3, 3, 6, 6, 3])
    [2, 4]
    """
    return [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]


def timeline_png(rows: TrackRows, fps: float, names: Sequence[str], title: str) -> bytes:
    """The class probabilities over time; label changes as dotted lines, named at the top."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.6), dpi=100)
    axes = figure.add_subplot()
    times = np.array(rows.frames) / fps
    probs = np.array(rows.probs)
    for index, name in enumerate(names):
        axes.plot(times, probs[:, index], label=name, linewidth=1.2)
    for change in label_changes(rows.labels):
        axes.axvline(times[change], color="0.3", linestyle=":", linewidth=1)
        axes.annotate(names[rows.labels[change]], (times[change], 1.0), fontsize=7,
                      rotation=90, va="top", ha="right")  # fmt: skip
    if rows.labels:
        axes.set_title(f"{title} (starts as {names[rows.labels[0]]})", fontsize=10)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("probability")
    axes.set_ylim(0, 1.05)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_timelines(
    log: TrackLog, out_dir: Path, stem: str, fps: float, names: Sequence[str]
) -> list[Path]:
    """``<stem>_track<id>.csv`` and ``.png`` per track in ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for track_id, rows in sorted(log.tracks.items()):
        base = out_dir / f"{stem}_track{track_id}"
        csv_path, png_path = base.with_suffix(".csv"), base.with_suffix(".png")
        atomic_write_text(csv_path, timeline_csv(rows, fps, names))
        atomic_write_bytes(png_path, timeline_png(rows, fps, names, f"{stem}: track {track_id}"))
        written += [csv_path, png_path]
    return written
