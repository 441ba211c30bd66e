"""CLI of the video tools: ``evaluate-video``, and the temporal-model options ``detect`` shares."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from yof_darknet.cli.params import EXISTING_DIR, EXISTING_FILE, OUT_DIR, stage_options
from yof_darknet.datasets.options import DatasetsOptions
from yof_darknet.infer.options import TEMPORAL_MODELS, DetectOptions


def temporal_options(*, default_penalty: float | None) -> Callable:
    """--smooth-alpha, --sigma, --box and --penalty (the models' parameters)."""
    penalty_help = (
        "Viterbi: log-probability cost of one label change (0: frame-by-frame argmax)."
        if default_penalty is not None
        else "Viterbi: cost of one label change [default: the best of a grid on the tuning videos]."
    )
    options = [
        click.option(
            "--smooth-alpha",
            type=click.FloatRange(0, 1, min_open=True),
            default=0.5,
            help="ema: weight of the newest frame in the moving average.",
        ),
        click.option(
            "--sigma",
            type=click.FloatRange(0, min_open=True),
            default=3.0,
            help="centred: standard deviation of the Gaussian window, in frames.",
        ),
        click.option(
            "--box",
            type=click.IntRange(min=0),
            default=0,
            help="centred: a box window of this many frames instead of the Gaussian (0: Gaussian).",
        ),
        click.option(
            "--penalty",
            type=click.FloatRange(min=0),
            default=default_penalty,
            help=penalty_help,
        ),
    ]

    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@click.command("evaluate-video")
@click.option(
    "--affwild2", required=True, type=EXISTING_DIR, help="Aff-Wild2 root (annotations + videos)."
)
@click.option("--weights", required=True, type=EXISTING_FILE, help="Darknet .weights file.")
@click.option("--cfg", required=True, type=EXISTING_FILE, help="The cfg the weights belong to.")
@click.option("--names", type=EXISTING_FILE, help="Class names [default: as detect finds them].")
@click.option(
    "--videos-list",
    type=EXISTING_FILE,
    help="Evaluate these videos (one name per line) [default: the Validation_Set videos].",
)
@click.option(
    "--split-from",
    type=EXISTING_FILE,
    help="obj.data of the conversion: evaluate the videos with frames in its test list, "
    "never scoring frames of its train list.",
)
@click.option(
    "--tune-on",
    type=EXISTING_FILE,
    help="Choose the Viterbi penalty on these videos [default: the training videos not evaluated].",
)
@click.option(
    "--temporal",
    "models",
    type=click.Choice(TEMPORAL_MODELS),
    multiple=True,
    help="Models to score (repeatable) [default: all, side by side].",
)
@temporal_options(default_penalty=None)
@stage_options(DetectOptions, only=("thresh", "nms"))
@click.option(
    "--match-iou",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.5,
    help="Least IoU of a detection with the person's face to count as that person's.",
)
@stage_options(DatasetsOptions, only=("face_threshold", "face_max_side"))
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads of each network.")
@click.option(
    "--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md",
    help="What to print; all three are written to --out.",
)  # fmt: skip
@click.option("--out", type=OUT_DIR, default=Path("runs/evaluate-video"), help="Output folder.")
def evaluate_video(
    affwild2: Path,
    weights: Path,
    cfg: Path,
    names: Path | None,
    videos_list: Path | None,
    split_from: Path | None,
    tune_on: Path | None,
    models: tuple[str, ...],
    smooth_alpha: float,
    sigma: float,
    box: int,
    penalty: float | None,
    thresh: float,
    nms: float,
    match_iou: float,
    face_threshold: float,
    face_max_side: int,
    threads: int | None,
    fmt: str,
    out: Path,
) -> None:
    """Frame-level ABAW metrics on Aff-Wild2: per-class F1, macro F1, accuracy, ABAW 2020 score
    (0.67 F1 + 0.33 accuracy), confusion and the share of frames without a matched detection,
    per video and overall, for each temporal model beside the frame-by-frame baseline. Writes
    OUT/metrics.{md,csv,json}, OUT/confusion_<model>.csv and OUT/frames.csv."""
    from yof_darknet.evaluate.video_report import render_csv
    from yof_darknet.infer.temporal import TemporalOptions
    from yof_darknet.workflows.videoeval.options import VideoEvalOptions
    from yof_darknet.workflows.videoeval.run import evaluate_videos

    if videos_list is not None and split_from is not None:
        raise click.UsageError("give --videos-list or --split-from, not both")
    temporal = TemporalOptions(alpha=smooth_alpha, sigma=sigma, box=box)
    options = VideoEvalOptions(
        affwild2=affwild2, weights=weights, cfg=cfg, out=out, names=names,
        videos_list=videos_list, split_from=split_from, tune_on=tune_on, thresh=thresh, nms=nms,
        match_iou=match_iou, face_threshold=face_threshold, face_max_side=face_max_side,
        models=models or TEMPORAL_MODELS, temporal=temporal, penalty=penalty, threads=threads,
        progress=True,
    )  # fmt: skip
    result = evaluate_videos(options)
    if fmt == "md":
        click.echo(result.markdown, nl=False)
    elif fmt == "csv":
        click.echo(render_csv(result.scores, result.names), nl=False)
    else:
        click.echo((out / "metrics.json").read_text(), nl=False)
    click.echo(f"wrote {', '.join(str(p) for p in result.written)}", err=True)


COMMANDS: list[click.Command] = [evaluate_video]
