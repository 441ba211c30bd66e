"""Frame-level expression metrics as the ABAW challenges score Aff-Wild2.

``truth`` and ``predicted`` are class ids in our order (expressions.CLASSES), one per scored frame
and person; ``predicted`` is ``NO_FACE`` (-1) where no detection was matched to the person's face,
which is scored as wrong. ABAW's expression F1 is the unweighted mean over the 7 expressions of
each class's F1 (a class with no truth and no prediction scores 0, as sklearn's ``f1_score``
with ``average="macro"``, ``zero_division=0`` and ``labels=range(7)``); ABAW 2020's score is
``0.67 * F1 + 0.33 * accuracy``.

>>> m = frame_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, NO_FACE]), num_classes=2)
>>> [round(f, 3) for f in m.f1], round(m.accuracy, 2), m.no_face
([0.667, 0.5], 0.5, 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_FACE = -1
ABAW2020_WEIGHTS = (0.67, 0.33)


@dataclass(frozen=True)
class FrameMetrics:
    """Scores of one set of frames. ``confusion[t, p]`` counts truth ``t`` predicted ``p``; its
    last column counts the frames with no matched detection."""

    frames: int
    f1: tuple[float, ...]
    macro_f1: float
    accuracy: float
    abaw2020: float
    no_face: int
    confusion: np.ndarray

    @property
    def no_face_share(self) -> float:
        return self.no_face / self.frames if self.frames else 0.0


def frame_metrics(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> FrameMetrics:
    """Per-class F1, macro F1, accuracy, ABAW 2020 score and confusion of ``predicted``."""
    truth = np.asarray(truth, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    if truth.shape != predicted.shape:
        raise ValueError(f"truth {truth.shape} and predictions {predicted.shape} differ")
    columns = np.where(predicted == NO_FACE, num_classes, predicted)
    confusion = np.zeros((num_classes, num_classes + 1), dtype=np.int64)
    np.add.at(confusion, (truth, columns), 1)
    hits = np.diag(confusion[:, :num_classes])
    claimed = confusion[:, :num_classes].sum(axis=0)
    actual = confusion.sum(axis=1)
    denominator = claimed + actual
    f1 = np.divide(2 * hits, denominator, out=np.zeros(num_classes), where=denominator > 0)
    frames = len(truth)
    accuracy = float(hits.sum() / frames) if frames else 0.0
    macro = float(f1.mean())
    weight_f1, weight_acc = ABAW2020_WEIGHTS
    return FrameMetrics(
        frames=frames,
        f1=tuple(float(v) for v in f1),
        macro_f1=macro,
        accuracy=accuracy,
        abaw2020=weight_f1 * macro + weight_acc * accuracy,
        no_face=int((predicted == NO_FACE).sum()),
        confusion=confusion,
    )
