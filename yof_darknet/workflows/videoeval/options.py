"""Options of ``evaluate-video``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from yof_darknet.core.errors import YofError
from yof_darknet.infer.temporal import MODELS, TemporalOptions

PENALTY_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
TRAIN_SPLITS = ("Training_Set", "Train_Set")
VALIDATION_SPLIT = "Validation_Set"


class VideoEvalError(YofError):
    """evaluate-video cannot run as asked (nothing to evaluate, no videos to tune on...)."""


@dataclass(frozen=True)
class VideoEvalOptions:
    """Options of ``evaluate-video`` (CLI names: --affwild2, --weights, --cfg, --out, --names,
    --videos-list, --split-from, --tune-on, --thresh, --nms, --match-iou, --face-threshold,
    --face-max-side, --temporal, --smooth-alpha, --sigma, --box, --penalty, --threads).

    ``penalty`` None: the Viterbi penalty is the one of ``penalties`` with the best macro F1 on
    the tuning videos (never the evaluated ones).
    """

    affwild2: Path
    weights: Path
    cfg: Path
    out: Path
    names: Path | None = None
    videos_list: Path | None = None
    split_from: Path | None = None
    tune_on: Path | None = None
    thresh: float = 0.25
    nms: float = 0.45
    match_iou: float = 0.5
    face_threshold: float = 0.8
    face_max_side: int = 640
    models: tuple[str, ...] = MODELS
    temporal: TemporalOptions = field(default_factory=TemporalOptions)
    penalty: float | None = None
    penalties: tuple[float, ...] = PENALTY_GRID
    threads: int | None = None
    progress: bool = False
