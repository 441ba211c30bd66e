"""Temporal smoothing of expressions: IoU tracking of faces + an EMA of each track's class scores.

Darknet reports one record per (box, class) above the threshold; :func:`merge_faces` first folds
the records that overlap (IoU > 0.5) into one face with a score per class. :class:`Smoother` then
matches faces to the tracks of the previous frames greedily by IoU and updates each track's
scores with ``ema = alpha * scores + (1 - alpha) * ema``; the reported class is the EMA's argmax.
A new face starts a track with its own scores; a track not seen for ``max_missed`` frames ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from yof_darknet.infer.detector import Detection


@dataclass
class Face:
    """One face in one frame: its box and its probability for each class (0 when not reported)."""

    xyxy: tuple[float, float, float, float]
    scores: np.ndarray


@dataclass
class _Track:
    track_id: int
    xyxy: tuple[float, float, float, float]
    ema: np.ndarray
    missed: int = 0


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


def merge_faces(detections: Sequence[Detection], num_classes: int, iou: float = 0.5) -> list[Face]:
    """Fold per-class records of the same face into faces, best record first."""
    faces: list[Face] = []
    for det in sorted(detections, key=lambda d: -d.score):
        if faces:
            overlaps = iou_matrix(np.array([det.xyxy]), np.array([f.xyxy for f in faces]))[0]
            best = int(overlaps.argmax())
            if overlaps[best] > iou:
                faces[best].scores[det.class_id] = max(faces[best].scores[det.class_id], det.score)
                continue
        scores = np.zeros(num_classes, dtype=np.float64)
        scores[det.class_id] = det.score
        faces.append(Face(det.xyxy, scores))
    return faces


class Smoother:
    """Frame-to-frame smoothing of class scores for tracked faces (one instance per stream)."""

    def __init__(
        self,
        names: Sequence[str],
        alpha: float = 0.5,
        match_iou: float = 0.3,
        max_missed: int = 5,
    ) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.names = list(names)
        self.alpha = alpha
        self.match_iou = match_iou
        self.max_missed = max_missed
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(self, detections: Sequence[Detection]) -> list[tuple[int, Detection]]:
        """Feed one frame's detections; returns (track id, smoothed detection) per face seen."""
        faces = merge_faces(detections, len(self.names))
        matched_faces: dict[int, _Track] = {}
        if faces and self._tracks:
            overlaps = iou_matrix(
                np.array([f.xyxy for f in faces]), np.array([t.xyxy for t in self._tracks])
            )
            for flat in np.argsort(-overlaps, axis=None):
                face_at, track_at = np.unravel_index(flat, overlaps.shape)
                if overlaps[face_at, track_at] < self.match_iou:
                    break
                track = self._tracks[track_at]
                if face_at in matched_faces or any(t is track for t in matched_faces.values()):
                    continue
                matched_faces[int(face_at)] = track
        seen: list[_Track] = []
        for index, face in enumerate(faces):
            track = matched_faces.get(index)
            if track is None:
                track = _Track(self._next_id, face.xyxy, face.scores.copy())
                self._next_id += 1
                self._tracks.append(track)
            else:
                track.ema = self.alpha * face.scores + (1 - self.alpha) * track.ema
                track.xyxy, track.missed = face.xyxy, 0
            seen.append(track)
        for track in self._tracks:
            if all(track is not s for s in seen):
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        return [(t.track_id, self._as_detection(t)) for t in seen]

    def _as_detection(self, track: _Track) -> Detection:
        class_id = int(track.ema.argmax())
        return Detection(class_id, self.names[class_id], float(track.ema[class_id]), track.xyxy)
