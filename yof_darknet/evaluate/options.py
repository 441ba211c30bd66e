"""``MapOptions``: every option of ``yof-darknet map``; ``reproduce`` shares --points,
--match-iou and --engine (their click options are generated from these fields by
``cli/params.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yof_darknet.core.engines import DARKNET, ENGINES, RENAMED_ENGINES
from yof_darknet.core.errors import EvaluationError
from yof_darknet.core.options import option

POINTS = (0, 11, 101)
SELECTS = ("best", "final")
FORMATS = ("md", "csv", "json")
# `detector map`'s threshold: the cascade's faces are ranked by score, not cut
CASCADE_FACE_THRESHOLD = 0.005


@dataclass(frozen=True)
class MapOptions:
    """What to score and how; ``points``/``iou_thresh``/``engine`` None = their defaults."""

    data: Path | None = option(
        None, "obj.data naming the test list (valid=) and names.", path="file"
    )
    weights: Path | None = option(None, "Trained .weights file.", path="file")
    cfg: Path | None = option(
        None, "Network .cfg (default: the only .cfg beside the weights).", path="file"
    )
    points: int | None = option(
        None,
        "0: area under the PR curve (AlexeyAB's default since 2019-03); 11: VOC2007 (the only "
        "kind before); 101: COCO [default: 0].",
        choices=POINTS,
    )
    iou_thresh: float | None = option(
        None,
        "IoU a detection needs (strictly more) to match a ground-truth face [default: 0.5].",
        flag="--match-iou",
        renamed=("--iou",),
        min=0,
        max=1,
        min_open=True,
        max_open=True,
    )
    engine: str | None = option(
        None,
        "darknet: `detector map` (AlexeyAB, hank-ai) or `detector valid` + our evaluator "
        "(pjreddie); opencv: OpenCV DNN detections + our evaluator, no darknet needed; ort: "
        "ONNX Runtime detections (of --model, or the cfg + weights exported) + our evaluator "
        "[default: darknet].",
        choices=ENGINES,
        renamed_choices=tuple(RENAMED_ENGINES.items()),
    )
    model: Path | None = option(
        None,
        "--engine ort: an exported ONNX model (e.g. int8); --weights/--cfg then optional.",
        path="file",
    )
    from_log: Path | None = option(
        None, "Parse a saved `detector map` (or -map training) log.", path="file"
    )
    results: Path | None = option(
        None, "Score existing `detector valid` files (comp4_det_test_<class>.txt).", path="dir"
    )
    cross: tuple[Path, ...] = option(
        (),
        "Cross-dataset table: score each model (a run folder runs/NAME, or a weights file; "
        "repeat the option) on every held-out set beside --data's test list (test_<dataset>.txt) "
        "into OUT/cross.{md,csv,json}, each model's Table II in OUT/<model>/.",
        path="any",
        multiple=True,
        metavar="RUN|WEIGHTS",
    )
    cascade: str | None = option(
        None,
        "Score the two-stage cascade instead of a detector: RetinaFace faces, then this "
        "expression classifier (`yof-darknet train-classifier`) on each; score = face x class "
        "probability. Also writes its per-face accuracy on the ground-truth boxes "
        "(OUT/face_accuracy.{md,json}).",
        metavar="CLASSIFIER_CFG:WEIGHTS",
    )
    cascade_face_threshold: float | None = option(
        None,
        "--cascade: least RetinaFace score of a face [default: 0.005, `detector map`'s, so that "
        "faces are ranked, not cut].",
        renamed=("--face-threshold",),  # evaluate-cascade's name
        min=0,
        max=1,
    )
    out: Path = option(Path("runs/map"), "Output folder.", path="out")
    checkpoints: Path | None = option(
        None,
        "A run folder (runs/NAME): score every weights file its training saved on the "
        "validation list (obj.data val=) with ONNX Runtime and our evaluator, into "
        "runs/NAME/checkpoints.csv (resumable), results.csv/png and weights/<arch>_best.weights "
        "(the best validation mAP); with --data, then Table II of the --select weights on the "
        "test list.",
        path="dir",
    )
    select: str | None = option(
        None,
        "Weights for Table II: best (the checkpoint with the best validation mAP, _best) or "
        "final (the last saved, as the paper did) [default: map --checkpoints: best; "
        "reproduce: by profile, paper final, sample best].",
        choices=SELECTS,
    )
    fmt: str = option(
        "md", "What to print; all three are written to --out.", flag="--format", choices=FORMATS
    )
    darknet: Path | None = None  # the shared --darknet option

    def __post_init__(self) -> None:
        scoring = {"--points": self.points, "--match-iou": self.iou_thresh, "--engine": self.engine}
        inputs = {"--data": self.data, "--weights": self.weights, "--cfg": self.cfg}
        for source, excluded, why in (
            (
                "--from-log",
                {**scoring, **inputs, "--results": self.results},
                "the log holds the mAP darknet already computed, with its own settings",
            ),
            (
                "--results",
                {"--weights": self.weights, "--cfg": self.cfg, "--engine": self.engine},
                "the detections are read from the files, no network is run",
            ),
            (
                "--checkpoints",
                {
                    "--weights": self.weights,
                    "--cfg": self.cfg,
                    "--model": self.model,
                    "--results": self.results,
                    "--from-log": self.from_log,
                },
                "the run's own cfg and checkpoints are scored, and --select picks the weights",
            ),
        ):
            if getattr(self, source[2:].replace("-", "_")) is None:
                continue
            given = [name for name, value in excluded.items() if value is not None]
            if given:
                raise EvaluationError(
                    f"{' and '.join(given)} cannot apply with {source}: {why}; drop "
                    f"{'them' if len(given) > 1 else 'it'}"
                )
        self._check_cross()
        self._check_cascade()

    def _check_cross(self) -> None:
        given = {"--weights": self.weights, "--cfg": self.cfg, "--model": self.model,
                 "--from-log": self.from_log, "--results": self.results}  # fmt: skip
        clash = [name for name, value in given.items() if value is not None]
        if self.cross and clash:
            raise EvaluationError(
                f"{' and '.join(clash)} cannot apply with --cross: each model's weights and cfg "
                "come from its run folder or weights file; drop "
                f"{'them' if len(clash) > 1 else 'it'}"
            )

    def _check_cascade(self) -> None:
        if self.cascade is None:
            if self.cascade_face_threshold is not None:
                raise EvaluationError(
                    "--cascade-face-threshold is the cascade's: add --cascade CFG:WEIGHTS"
                )
            return
        given = {"--weights": self.weights, "--cfg": self.cfg, "--model": self.model,
                 "--engine": self.engine, "--from-log": self.from_log, "--results": self.results,
                 "--checkpoints": self.checkpoints, "--cross": self.cross or None}  # fmt: skip
        clash = [name for name, value in given.items() if value is not None]
        if clash:
            raise EvaluationError(
                f"{' and '.join(clash)} cannot apply with --cascade: the cascade is RetinaFace "
                f"and the classifier it names, run by ONNX Runtime; drop "
                f"{'them' if len(clash) > 1 else 'it'}"
            )
        if self.data is None:
            raise EvaluationError("--cascade scores --data's test list: add --data obj.data")

    @property
    def face_threshold_or_default(self) -> float:
        if self.cascade_face_threshold is None:
            return CASCADE_FACE_THRESHOLD
        return self.cascade_face_threshold

    @property
    def points_or_default(self) -> int:
        return 0 if self.points is None else self.points

    @property
    def iou_or_default(self) -> float:
        return 0.5 if self.iou_thresh is None else self.iou_thresh

    @property
    def engine_or_default(self) -> str:
        return self.engine or DARKNET
