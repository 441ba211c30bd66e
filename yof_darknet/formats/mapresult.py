"""One mAP result, whoever computed it: Darknet's ``detector map`` (parsed) or our evaluator.

All rates are fractions in 0..1 (Darknet prints most of them in percent). A field that a source
does not print is ``None`` (AlexeyAB prints no per-class ground-truth count, F1 or IoU).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClassAP:
    """AP of one class, and its counts at the confidence threshold (``conf_thresh``)."""

    id: int
    name: str
    ap: float
    tp: int
    fp: int
    gt: int | None = None
    f1: float | None = None
    avg_iou: float | None = None


@dataclass(frozen=True)
class MapResult:
    """A whole ``detector map`` report: per-class APs, the mAP and the conf_thresh block.

    ``source`` names who computed it (``"alexeyab"``, ``"hank-ai"``, ``"evaluator"``);
    ``iteration`` is set for the mAP blocks of a training log; ``notes`` lists caveats a reader
    must see beside the numbers (a class without ground truth, another post-processing...).
    """

    classes: tuple[ClassAP, ...]
    map: float
    iou_thresh: float
    points: int
    conf_thresh: float
    precision: float | None
    recall: float | None
    f1: float | None
    tp: int
    fp: int
    fn: int
    avg_iou: float
    detections: int | None
    ground_truth: int | None
    source: str
    iteration: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary (AP and rates as fractions)."""
        data = asdict(self)
        data["classes"] = [asdict(c) for c in self.classes]
        data["notes"] = list(self.notes)
        return data
