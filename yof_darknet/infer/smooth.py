"""Temporal smoothing of expressions in ``detect``: tracked faces + an EMA of each track's scores.

Darknet reports one record per (box, class) above the threshold; :func:`merge_faces` first folds
the records that overlap (IoU > 0.5) into one face with a probability per class (the box's full
``probs`` when the detector gives them). :class:`~yof_darknet.infer.tracker.Tracker` gives each
face a track, and :class:`Smoother` updates each track's scores with
``ema = alpha * scores + (1 - alpha) * ema``; the reported class is the EMA's argmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from yof_darknet.infer.detector import Detection
from yof_darknet.infer.tracker import Tracker, iou_matrix


@dataclass
class Face:
    """One face in one frame: its box and its probability for each class (0 when not reported)."""

    xyxy: tuple[float, float, float, float]
    scores: np.ndarray


def merge_faces(detections: Sequence[Detection], num_classes: int, iou: float = 0.5) -> list[Face]:
    """Fold per-class records of the same face into faces, best record first."""
    faces: list[Face] = []
    for det in sorted(detections, key=lambda d: -d.score):
        scores = np.zeros(num_classes, dtype=np.float64)
        if det.probs is not None and len(det.probs) == num_classes:
            scores[:] = det.probs
        scores[det.class_id] = max(scores[det.class_id], det.score)
        if faces:
            overlaps = iou_matrix(np.array([det.xyxy]), np.array([f.xyxy for f in faces]))[0]
            best = int(overlaps.argmax())
            if overlaps[best] > iou:
                np.maximum(faces[best].scores, scores, out=faces[best].scores)
                continue
        faces.append(Face(det.xyxy, scores))
    return faces


@dataclass(frozen=True)
class Tracked:
    """One face of one frame after smoothing: its track, box, own class probabilities (``raw``)
    and the detection it reports (the smoothed scores' best class)."""

    track_id: int
    xyxy: tuple[float, float, float, float]
    raw: np.ndarray
    detection: Detection


class Smoother:
    """Causal smoothing of class scores for tracked faces (one instance per stream)."""

    def __init__(self, names: Sequence[str], alpha: float = 0.5, tracker: Tracker | None = None):
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.names = list(names)
        self.alpha = alpha
        self.tracker = tracker or Tracker()
        self._ema: dict[int, np.ndarray] = {}

    def update(self, detections: Sequence[Detection]) -> list[Tracked]:
        """Feed one frame's detections; returns one :class:`Tracked` per face seen."""
        out = []
        for track_id, face in self.tracker.update(merge_faces(detections, len(self.names))):
            previous = self._ema.get(track_id)
            ema = face.scores
            if previous is not None:
                ema = self.alpha * face.scores + (1 - self.alpha) * previous
            self._ema[track_id] = ema
            class_id = int(ema.argmax())
            detection = Detection(
                class_id, self.names[class_id], float(ema[class_id]), face.xyxy, ema
            )
            out.append(Tracked(track_id, face.xyxy, face.scores, detection))
        live = self.tracker.track_ids()
        self._ema = {k: v for k, v in self._ema.items() if k in live}
        return out
