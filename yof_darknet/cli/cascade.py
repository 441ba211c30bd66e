"""CLI commands of the two-stage cascade baseline: ``crops``, ``train-classifier`` and
``compare`` (``map --cascade`` scores it); see yof_darknet/cli/__init__.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from yof_darknet.cli.params import (
    AFFWILD2_OPTION,
    DARKNET_OPTION,
    EXISTING_DIR,
    EXISTING_FILE,
    EXPW_OPTION,
    OUT_DIR,
    pick,
    stage_options,
)
from yof_darknet.cli.pipeline import TRAIN_SHARED
from yof_darknet.datasets.options import CropsOptions, DatasetsOptions
from yof_darknet.training.classifier import CLASSIFIER_PROFILES
from yof_darknet.training.options import TrainOptions


@click.command("crops")
@stage_options(CropsOptions)
def crops(**given: Any) -> None:
    """Face crops of the train and test lists for darknet's `classifier` (same split)."""
    from yof_darknet.datasets.crops import write_crops

    options = pick(CropsOptions, given)
    out = options.out
    summary = write_crops(options.data, out, margin=options.margin, size=options.crop_size)
    for reason in summary.skipped:
        click.echo(f"skipped {reason}", err=True)
    for split, count in summary.crops.items():
        click.echo(f"{split}: {count} crops {summary.per_class[split]}")
    click.echo(f"wrote {out}/labels.txt, train.list, test.list, crops.json")


@click.command("train-classifier")
@click.option("--crops", "crops_dir", required=True, type=EXISTING_DIR, help="Folder of `crops`.")
@click.option(
    "--profile",
    type=click.Choice(sorted(CLASSIFIER_PROFILES)),
    default="paper",
    help="Training settings: sample (the embedded sample), cpu (real crops on a CPU), paper.",
)
@click.option("--name", help="Run folder runs/NAME [default: PROFILE-cascade].")
@click.option("--resume", is_flag=True, help="Continue from the newest weights of the run.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Override a cfg value.")
@stage_options(TrainOptions, only=("runs",))
@DARKNET_OPTION
def train_classifier(
    crops_dir: Path,
    profile: str,
    name: str | None,
    resume: bool,
    settings: tuple[str, ...],
    runs: Path,
    darknet_path: Path | None,
) -> None:
    """Train the cascade's expression classifier with `darknet classifier train`."""
    from yof_darknet.tools.darknet import find_darknet
    from yof_darknet.training.classifier import classifier_darknet
    from yof_darknet.training.classifier import train_classifier as train

    run = train(
        crops_dir,
        profile=profile,
        name=name,
        resume=resume,
        overrides=settings,
        darknet=classifier_darknet(find_darknet(darknet_path), click.echo),
        runs_dir=runs,
    )
    state = "interrupted (resume with --resume)" if run.interrupted else "done"
    click.echo(f"train-classifier: {state} at iteration {run.iterations}; weights: {run.weights}")


@click.command("compare")
@click.option(
    "--data", type=EXISTING_FILE, help="obj.data of the given models (with --cfg, --weights, "
    "--cascade) [default: train both, on --expw/--affwild2 or the embedded sample].",
)  # fmt: skip
@click.option("--cfg", type=EXISTING_FILE, help="Single-stage detector cfg.")
@click.option("--weights", type=EXISTING_FILE, help="Single-stage detector weights.")
@click.option(
    "--cascade", "spec", metavar="CLASSIFIER_CFG:WEIGHTS", help="The cascade's classifier."
)
@EXPW_OPTION
@AFFWILD2_OPTION
@click.option(
    "--classifier-profile",
    type=click.Choice(sorted(CLASSIFIER_PROFILES)),
    help="Training settings of the classifier that compare trains [default: the detector "
    "profile's namesake: sample, cpu, paper].",
)
@click.option(
    "--classifier-set",
    "classifier_settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a value of the classifier's cfg (as train-classifier --set).",
)
@click.option(
    "--out", type=OUT_DIR, help="Output folder [default: runs/compare, runs/RUN-compare when "
    "compare trains both].",
)  # fmt: skip
@click.option("--rounds", type=click.IntRange(min=1), default=20, help="Timed frames per engine.")
@click.option(
    "--ultralytics", "ultralytics", type=EXISTING_FILE, metavar="MODEL.onnx",
    help="An Ultralytics ONNX export (`yolo export format=onnx`) trained on the same data's "
    "ultralytics.yaml: scored and timed as a third column.",
)  # fmt: skip
@click.option("--from-scratch", is_flag=True, help="As reproduce's: no pretrained weights.")
@DARKNET_OPTION
@stage_options(DatasetsOptions)
@stage_options(TrainOptions, only=TRAIN_SHARED)
def compare(
    data: Path | None,
    cfg: Path | None,
    weights: Path | None,
    spec: str | None,
    expw: Path | None,
    affwild2: Path | None,
    classifier_profile: str | None,
    classifier_settings: tuple[str, ...],
    out: Path | None,
    rounds: int,
    ultralytics: Path | None,
    from_scratch: bool,
    darknet_path: Path | None,
    **given: Any,
) -> None:
    """Single-stage detector and two-stage cascade side by side: AP per class, mAP, FPS on
    640x480 frames with 1 and 5 faces.

    With --data, --cfg, --weights and --cascade: those models. Without --data: trains both on
    one dataset, as `reproduce` does (--expw/--affwild2 and the same options; none: the
    embedded sample): the detector in runs/RUN (reused when trained), the classifier on the
    crops of the same training images (DATA_DIR-crops) in runs/RUN-cascade.
    """
    from yof_darknet.core.errors import EvaluationError
    from yof_darknet.infer.cascade import parse_cascade
    from yof_darknet.workflows.compare import CompareOptions, compare_trained, render_compare
    from yof_darknet.workflows.compare import compare as run
    from yof_darknet.workflows.pipeline import ReproduceOptions

    if data is None:
        if cfg or weights or spec:
            raise EvaluationError("compare --cfg/--weights/--cascade need --data (their obj.data)")
        options = ReproduceOptions(
            expw=expw,
            affwild2=affwild2,
            darknet=darknet_path,
            from_scratch=from_scratch,
            datasets=pick(DatasetsOptions, given),
            train=pick(TrainOptions, given),
        )
        result = compare_trained(
            options,
            classifier=classifier_profile,
            classifier_settings=classifier_settings,
            rounds=rounds,
            out=out,
            ultralytics=ultralytics,
            echo=click.echo,
        )
    else:
        if cfg is None or weights is None or spec is None:
            raise EvaluationError("compare --data needs --cfg, --weights and --cascade")
        if expw or affwild2 or classifier_profile or classifier_settings:
            raise EvaluationError(
                "compare --data compares the given models; --expw/--affwild2 and "
                "--classifier-profile/--classifier-set are for training them: give one or the "
                "other"
            )
        classifier_cfg, classifier_weights = parse_cascade(spec)
        given_models = CompareOptions(
            data, cfg, weights, classifier_cfg, classifier_weights,
            out or Path("runs/compare"), rounds, ultralytics=ultralytics,
        )  # fmt: skip
        result = run(given_models, click.echo)
    click.echo(render_compare(result))


COMMANDS: list[click.Command] = [crops, train_classifier, compare]
