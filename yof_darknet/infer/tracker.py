"""Face tracks across frames: IoU matching against each track's predicted box.

Each track keeps its last box and a velocity (a moving average of how its box moved per frame).
A new frame's boxes are matched greedily, best IoU first, to the tracks' *predicted* boxes (last
box + velocity x frames since it was seen), so two people who cross keep their tracks: near the
crossing each face overlaps its own track's prediction more than the other's. Boxes and tracks
still unpaired then pair by the distance between centres (the face hidden during the crossing
reappears, often beside its prediction). A track that finds
no box keeps moving along its prediction for up to ``max_missed`` frames (a face lost behind
another or missed by the detector for a few frames), then ends; a box no track takes starts one.

>>> tracker = Tracker()
>>> [i for i, _ in tracker.update([Box((0, 0, 10, 10)), Box((50, 0, 60, 10))])]
[1, 2]
>>> [i for i, _ in tracker.update([Box((52, 0, 62, 10)), Box((2, 0, 12, 10))])]
[2, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np


class Boxed(Protocol):
    xyxy: tuple[float, float, float, float]


T = TypeVar("T", bound=Boxed)


@dataclass(frozen=True)
class Box:
    """The least a tracker needs: a box (x1, y1, x2, y2) in pixels."""

    xyxy: tuple[float, float, float, float]


@dataclass
class _Track:
    track_id: int
    xyxy: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # of the centre, px/frame
    missed: int = 0

    def predicted(self) -> np.ndarray:
        """The last box moved along the centre's velocity (its size is kept: a face partly
        hidden shrinks its box, which says nothing about where it goes)."""
        return self.xyxy + np.tile(self.velocity, 2) * (self.missed + 1)


def _centre(xyxy: np.ndarray) -> np.ndarray:
    return (xyxy[..., :2] + xyxy[..., 2:]) / 2


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (Nx4 xyxy) with every box of ``b`` (Mx4 xyxy): NxM."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def greedy_pairs(cost: np.ndarray, limit: float) -> list[tuple[int, int]]:
    """One-to-one (row, column) pairs of a cost matrix, cheapest first, while cost <= ``limit``.

    >>> greedy_pairs(np.array([[0.1, 0.2], [0.3, 0.9]]), 0.5)
    [(0, 0)]
    >>> greedy_pairs(np.array([[0.1, 0.2], [0.3, 0.9]]), 1.0)
    [(0, 0), (1, 1)]
    """
    pairs: list[tuple[int, int]] = []
    rows: set[int] = set()
    columns: set[int] = set()
    for flat in np.argsort(cost, axis=None, kind="stable"):
        row, column = (int(v) for v in np.unravel_index(flat, cost.shape))
        if cost[row, column] > limit:
            break
        if row not in rows and column not in columns:
            pairs.append((row, column))
            rows.add(row)
            columns.add(column)
    return pairs


class Tracker:
    """Track ids for the boxes of consecutive frames (one instance per stream).

    ``match_iou``: least IoU between a box and a track's predicted box to continue the track;
    ``max_distance``: boxes and tracks left unpaired then pair by centre distance, up to this
    many times the longer side of the track's box (a face that reappears beside its prediction);
    ``max_missed``: frames a track survives without a box; ``momentum``: weight of the older
    velocity when a track moves (0: the last step only).
    """

    def __init__(
        self,
        match_iou: float = 0.2,
        max_missed: int = 10,
        momentum: float = 0.5,
        max_distance: float = 1.0,
    ):
        self.match_iou = match_iou
        self.max_distance = max_distance
        self.max_missed = max_missed
        self.momentum = momentum
        self._tracks: list[_Track] = []
        self._next_id = 1

    def _distances(self, boxes: Sequence[T]) -> np.ndarray:
        """Distance of each box centre from each track's predicted centre, in the track box's
        longer side."""
        centres = _centre(np.array([b.xyxy for b in boxes], dtype=np.float64))
        predicted = np.array([t.predicted() for t in self._tracks])
        sides = (predicted[:, 2:] - predicted[:, :2]).max(axis=1).clip(1)
        gaps = np.linalg.norm(centres[:, None, :] - _centre(predicted)[None, :, :], axis=2)
        return gaps / sides[None, :]

    def track_ids(self) -> set[int]:
        """Ids of the tracks still alive (seen within the last ``max_missed`` frames)."""
        return {track.track_id for track in self._tracks}

    def update(self, boxes: Sequence[T]) -> list[tuple[int, T]]:
        """Feed one frame's boxes (anything with ``xyxy``); returns (track id, box) per box, in
        the order given."""
        matched: dict[int, _Track] = {}
        if boxes and self._tracks:
            overlaps = iou_matrix(
                np.array([b.xyxy for b in boxes]), np.array([t.predicted() for t in self._tracks])
            )
            pairs = greedy_pairs(-overlaps, -self.match_iou)
            taken = {track for _, track in pairs}
            free_boxes = [b for b in range(len(boxes)) if b not in dict(pairs)]
            free_tracks = [t for t in range(len(self._tracks)) if t not in taken]
            distances = self._distances(boxes)[np.ix_(free_boxes, free_tracks)]
            pairs += [
                (free_boxes[b], free_tracks[t])
                for b, t in greedy_pairs(distances, self.max_distance)
            ]
            matched = {box: self._tracks[track] for box, track in pairs}
        out: list[tuple[int, T]] = []
        for index, box in enumerate(boxes):
            xyxy = np.asarray(box.xyxy, dtype=np.float64)
            track = matched.get(index)
            if track is None:
                track = _Track(self._next_id, xyxy)
                self._next_id += 1
                self._tracks.append(track)
            else:
                step = (_centre(xyxy) - _centre(track.xyxy)) / (track.missed + 1)
                track.velocity = self.momentum * track.velocity + (1 - self.momentum) * step
                track.xyxy, track.missed = xyxy, 0
            out.append((track.track_id, box))
        seen = {track_id for track_id, _ in out}
        for track in self._tracks:
            if track.track_id not in seen:
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        return out
