"""CLI commands of the two-stage cascade baseline: ``crops``, ``train-classifier``,
``evaluate-cascade`` and ``compare``; see yof_darknet/cli/__init__.py."""

from __future__ import annotations

from pathlib import Path

import click

from yof_darknet.cli.params import DARKNET_OPTION, EXISTING_DIR, EXISTING_FILE, OUT_DIR


@click.command("crops")
@click.option(
    "--data", required=True, type=EXISTING_FILE, help="obj.data of `yof-darknet datasets`."
)
@click.option(
    "--out", required=True, type=OUT_DIR, help="Crops folder (labels.txt, train/test lists)."
)
@click.option(
    "--margin",
    type=click.FloatRange(0, 2),
    default=0.2,
    help="Grow each face box by this fraction of its width (height) on every side.",
)
@click.option("--size", type=click.IntRange(min=32), default=64, help="Crop side in pixels.")
def crops(data: Path, out: Path, margin: float, size: int) -> None:
    """Face crops of the train and test lists for darknet's `classifier` (same split)."""
    from yof_darknet.datasets.crops import write_crops

    summary = write_crops(data, out, margin=margin, size=size)
    for reason in summary.skipped:
        click.echo(f"skipped {reason}", err=True)
    for split, count in summary.crops.items():
        click.echo(f"{split}: {count} crops {summary.per_class[split]}")
    click.echo(f"wrote {out}/labels.txt, train.list, test.list, crops.json")


@click.command("train-classifier")
@click.option("--crops", "crops_dir", required=True, type=EXISTING_DIR, help="Folder of `crops`.")
@click.option(
    "--profile", type=click.Choice(["sample", "paper"]), default="paper", help="Training settings."
)
@click.option("--name", help="Run folder runs/NAME [default: PROFILE-cascade].")
@click.option("--resume", is_flag=True, help="Continue from the newest weights of the run.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Override a cfg value.")
@DARKNET_OPTION
def train_classifier(
    crops_dir: Path,
    profile: str,
    name: str | None,
    resume: bool,
    settings: tuple[str, ...],
    darknet_path: Path | None,
) -> None:
    """Train the cascade's expression classifier with `darknet classifier train`."""
    from yof_darknet.darknet.classifier import train_classifier as train
    from yof_darknet.formats.binary import find_darknet

    run = train(
        crops_dir,
        profile=profile,
        name=name,
        resume=resume,
        overrides=settings,
        darknet=find_darknet(darknet_path),
    )
    state = "interrupted (resume with --resume)" if run.interrupted else "done"
    click.echo(f"train-classifier: {state} at iteration {run.iterations}; weights: {run.weights}")


@click.command("evaluate-cascade")
@click.option(
    "--data", required=True, type=EXISTING_FILE, help="obj.data whose test list is scored."
)
@click.option("--cascade", "spec", required=True, metavar="CLASSIFIER_CFG:WEIGHTS")
@click.option("--out", type=OUT_DIR, default=Path("runs/cascade-map"), help="Output folder.")
@click.option(
    "--face-threshold",
    type=click.FloatRange(0, 1),
    default=0.005,
    help="Minimum RetinaFace score; `detector map`'s 0.005, so that faces are ranked, not cut.",
)
def evaluate_cascade(data: Path, spec: str, out: Path, face_threshold: float) -> None:
    """Table II of the cascade (face score x class probability) and its per-face accuracy on
    the ground-truth boxes."""
    from yof_darknet.evaluate.cascade import evaluate_cascade as run
    from yof_darknet.evaluate.cascade import write_cascade_outputs
    from yof_darknet.evaluate.table import render_markdown
    from yof_darknet.infer.cascade import Cascade, parse_cascade

    cfg, weights = parse_cascade(spec)
    outcome = run(data, Cascade(cfg, weights, face_threshold=face_threshold))
    click.echo(render_markdown(outcome.map.table))
    click.echo(outcome.accuracy.render_markdown())
    for path in write_cascade_outputs(outcome, out):
        click.echo(f"wrote {path}", err=True)


@click.command("compare")
@click.option("--data", type=EXISTING_FILE, help="obj.data [default: train both on the sample].")
@click.option("--cfg", type=EXISTING_FILE, help="Single-stage detector cfg.")
@click.option("--weights", type=EXISTING_FILE, help="Single-stage detector weights.")
@click.option(
    "--cascade", "spec", metavar="CLASSIFIER_CFG:WEIGHTS", help="The cascade's classifier."
)
@click.option("--out", type=OUT_DIR, default=Path("runs/compare"), help="Output folder.")
@click.option("--rounds", type=click.IntRange(min=1), default=20, help="Timed frames per engine.")
@DARKNET_OPTION
def compare(
    data: Path | None,
    cfg: Path | None,
    weights: Path | None,
    spec: str | None,
    out: Path,
    rounds: int,
    darknet_path: Path | None,
) -> None:
    """Single-stage detector and two-stage cascade side by side: AP per class, mAP, FPS on
    640x480 frames with 1 and 5 faces. Without --data: train both on the embedded sample."""
    from yof_darknet.compare import CompareOptions, compare_sample, render_compare
    from yof_darknet.compare import compare as run
    from yof_darknet.errors import EvaluationError
    from yof_darknet.infer.cascade import parse_cascade

    if data is None:
        result = compare_sample(darknet=darknet_path, echo=click.echo, rounds=rounds, out=out)
    else:
        if cfg is None or weights is None or spec is None:
            raise EvaluationError("compare --data needs --cfg, --weights and --cascade")
        classifier_cfg, classifier_weights = parse_cascade(spec)
        options = CompareOptions(
            data, cfg, weights, classifier_cfg, classifier_weights, out, rounds
        )
        result = run(options, click.echo)
    click.echo(render_compare(result))


COMMANDS: list[click.Command] = [crops, train_classifier, evaluate_cascade, compare]
