"""``TrainOptions``: every option of the training stage, shared by ``train`` and ``reproduce``
(their click options are generated from these fields by ``cli/params.py``). Import-light."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from yof_darknet.core.errors import DarknetError
from yof_darknet.core.options import option
from yof_darknet.training.archs import ARCH_NAMES, DEFAULT_ARCH
from yof_darknet.training.losswatch import DEFAULT_MAX_RISE, SETTLE_ITERATIONS, WARN_RISE
from yof_darknet.training.profiles import PROFILES

DEFAULT_PROFILE = "paper"
ANCHOR_RULES = ("auto", "kmeans", "default")


def check_run_name(name: str) -> None:
    """Refuse a run name that is not one folder name under ``--runs`` (``../x``, ``a/b``, ``..``):
    the run would be written elsewhere, and its resume hint would name another folder."""
    if not name or name in (".", "..") or "/" in name or "\0" in name or name.startswith("-"):
        raise DarknetError(
            f"--name {name!r}: a run name is one folder name under --runs (no '/', not '.' or "
            "'..', not starting with '-'); choose where run folders go with --runs"
        )


@dataclass(frozen=True)
class TrainOptions:
    """Every option of the training stage; ``reproduce`` shares profile, gpus, --set and
    --max-batches (their click options are generated from these fields by ``cli/params.py``)."""

    profile: str | None = option(
        None,
        f"Training profile [default: {DEFAULT_PROFILE}; reproduce on the embedded sample: "
        "sample; with --resume: the run's own cfg].",
        choices=tuple(sorted(PROFILES)),
    )
    arch: str | None = option(
        None,
        f"Network architecture, a template written from AlexeyAB's cfg [default: {DEFAULT_ARCH}, "
        "the paper's; with --resume: the run's own]; the run cfg is ARCH.cfg and the weights "
        "ARCH_final.weights. yolov4-tiny, yolov4-tiny-3l and yolov7-tiny need AlexeyAB's "
        "darknet (`make darknet`).",
        choices=ARCH_NAMES,
    )
    cfg: Path | None = option(
        None, "Use this cfg instead of generating one from the profile.", path="file"
    )
    weights: Path | None = option(
        None,
        "Start weights, e.g. weights/yolov3-tiny.conv.15 (default: from scratch).",
        path="file",
    )
    name: str | None = option(
        None,
        "Run folder runs/NAME [default: the profile, PROFILE-ARCH for another --arch].",
        aliases=("--run",),
    )
    resume: bool = option(False, "Continue from the run's newest weights (and its own cfg).")
    gpus: str | None = option(
        None,
        "GPUs for darknet -gpus, e.g. 0,1 (auto: every GPU this job was given, --gres=gpu:N): "
        "the schedule is adjusted to keep the profile's (learning rate / N, iterations and "
        "steps / N, burn-in on the first GPU).",
        kind="gpus",
    )
    max_batches: int | None = option(
        None, "Iterations of a shorter run (steps move to 80 % and 90 %).", min=1
    )
    clear: bool = option(False, "Reset the weights' iteration counter (-clear).")
    overrides: tuple[str, ...] = option(
        (),
        "cfg override, repeatable: width=320 (= net.width), yolo.thresh=0.001 (every [yolo]).",
        flag="--set",
        metavar="KEY=VALUE",
        multiple=True,
    )
    runs: Path = option(Path("runs"), "Folder of the run folders.", path="out")
    anchors: str = option(
        "auto",
        "Anchors of a cfg made from the profile: k-means on the training boxes at the network "
        "size (6 or 9, as the architecture's heads take), the architecture's COCO defaults "
        "scaled to it, or auto (k-means when its mean IoU is higher); the choice is written to "
        "the run's anchors.json.",
        choices=ANCHOR_RULES,
    )

    max_loss_rise: float = option(
        DEFAULT_MAX_RISE,
        f"Stop the run when darknet's average loss climbs past this many times its running "
        f"minimum (judged after the first {SETTLE_ITERATIONS} iterations; a loss that only "
        f"falls never triggers), or stays above {WARN_RISE:g}x it for long; above "
        f"{WARN_RISE:g}x it is reported (progress, train.log, results.csv's loss_rise). The "
        "weights saved so far are kept and the message gives the --set to retry with. "
        "0: never stop.",
        min=0,
        metavar="X",
    )
    class_weights: bool = option(
        False,
        "Write AlexeyAB's counters_per_class (training boxes per class, from the train list) "
        "into every [yolo] layer, so rare classes weigh more in the loss; refused on "
        "pjreddie's darknet, which ignores it.",
    )

    score_checkpoints: bool | None = option(
        None,
        "After each weights save, score the new checkpoints on the validation list (obj.data "
        "val=) in the background at the lowest priority (`map --checkpoints`: checkpoints.csv, "
        "validation mAP in results.csv/png, weights/ARCH_best.weights); training never waits "
        "for it, its end waits for the last scoring [default: on when the dataset has a "
        "validation list].",
        flag="--score-checkpoints/--no-score-checkpoints",
    )
    patience: int | None = option(
        None,
        "Stop training (darknet stopped, ARCH_best.weights kept) once N scored checkpoints in a "
        "row stay below the best validation mAP; a tie restarts the count. Checked at each "
        "weights save, on the checkpoints scored by then [default: off].",
        min=1,
    )

    def __post_init__(self) -> None:
        if self.name is not None:
            check_run_name(self.name)
        if self.patience is not None and self.score_checkpoints is False:
            raise DarknetError(
                "--patience judges the validation mAP of scored checkpoints: drop "
                "--no-score-checkpoints"
            )
        if self.resume:
            for given, what in (
                (self.profile, "--profile"),
                (self.arch, "--arch"),
                (self.cfg, "--cfg"),
                (self.weights, "--weights"),
            ):
                if given is not None:
                    raise DarknetError(
                        f"{what} cannot apply with --resume: a resumed run keeps its own cfg "
                        "and continues from its newest weights; drop it (or start a new --name)"
                    )
        if self.gpus is not None and not re.fullmatch(r"\d+(,\d+)*", self.gpus):
            raise DarknetError(f"--gpus {self.gpus}: give GPU indices joined by commas, e.g. 0,1")

    @property
    def run_name(self) -> str:
        profile = self.profile or DEFAULT_PROFILE
        if self.name:
            return self.name
        return profile if self.arch in (None, DEFAULT_ARCH) else f"{profile}-{self.arch}"

    @property
    def gpu_count(self) -> int:
        return len(self.gpus.split(",")) if self.gpus else 1
