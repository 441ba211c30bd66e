"""`yof-darknet reproduce`: the whole pipeline (what `make reproduce` runs).

Its stage options are generated from the stages' own dataclasses (every ``datasets`` option, the
``train`` options that matter to a reproduction, the scoring options of ``map``), so they carry
the same names, ranges and choices as in those commands.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from yof_darknet.cli.params import (
    AFFWILD2_OPTION,
    DARKNET_OPTION,
    EXPW_OPTION,
    OUT_DIR,
    Option,
    pick,
    stage_options,
)
from yof_darknet.datasets.options import DatasetsOptions
from yof_darknet.evaluate.faceap import NOTHING
from yof_darknet.evaluate.options import MapOptions
from yof_darknet.training.options import TrainOptions

TRAIN_SHARED = (
    "profile",
    "arch",
    "name",
    "gpus",
    "max_batches",
    "overrides",
    "runs",
    "anchors",
    "class_weights",
    "max_loss_rise",
    "score_checkpoints",
    "patience",
)
MAP_SHARED = ("points", "iou_thresh", "engine", "select")
# `reproduce` exits with this code when the model learned nothing (it finds no faces): the run
# went through, its tables are written, but it is not a result (1 is for errors).
NOTHING_LEARNED_EXIT = 3


@click.command("reproduce")
@EXPW_OPTION
@AFFWILD2_OPTION
@click.option(
    "--data-dir",
    "data",
    cls=Option,
    renamed=("--data",),
    type=OUT_DIR,
    help="Converted dataset folder [default: data/darknet, data/sample-darknet on the sample].",
)
@click.option(
    "--from-scratch",
    is_flag=True,
    help="Train without the architecture's pretrained layers (yolov3-tiny.conv.15, "
    "yolov4-tiny.conv.29...; with the paper profile, a failed download is otherwise an error).",
)
@click.option(
    "--shuffle-labels",
    is_flag=True,
    help="The permuted-label control: the training labels permuted across faces (the sample's "
    "raw labels; a dataset's converted copy, DATA_DIR-control), trained the same way into "
    "runs/RUN-control and scored on the true test list; set beside the recipe's run RUN "
    "(the ratio of their mAPs) once both are scored.",
)
@DARKNET_OPTION
@stage_options(DatasetsOptions)
@stage_options(TrainOptions, only=TRAIN_SHARED)
@stage_options(MapOptions, only=MAP_SHARED)
def reproduce(
    expw: Path | None,
    affwild2: Path | None,
    data: Path | None,
    from_scratch: bool,
    shuffle_labels: bool,
    darknet_path: Path | None,
    **given: Any,
) -> None:
    """Run every stage (sample, datasets, weights, train with cfg + anchors, map), print Table II.

    Each stage skips the work already done, so running it again resumes. The last lines say
    which weights Table II used, the validation curve's peak and what the model learned; exit
    code 3 when it learned nothing (it finds no faces).
    """
    from yof_darknet.workflows.pipeline import ReproduceOptions
    from yof_darknet.workflows.pipeline import reproduce as run_pipeline

    start = time.monotonic()
    options = ReproduceOptions(
        expw=expw,
        affwild2=affwild2,
        data=data,
        darknet=darknet_path,
        shuffle_labels=shuffle_labels,
        from_scratch=from_scratch,
        datasets=pick(DatasetsOptions, given),
        train=pick(TrainOptions, given),
        map=pick(MapOptions, given),
    )
    result = run_pipeline(options, echo=click.echo)
    click.echo("")
    click.echo(result.table_md, nl=False)
    click.echo("")
    click.echo(f"run folder: {result.run_dir}")
    click.echo(f"model:      {result.weights}  (cfg {result.cfg})")
    click.echo(f"plots:      {result.run_dir / 'results.png'}")
    for path in result.outputs:
        click.echo(f"            {path}")
    stages = ", ".join(f"{name} {mins:.1f} min" for name, mins in result.minutes.items())
    if result.beside is not None:
        click.echo("")
        click.echo(result.beside, nl=False)
        click.echo(f"written to {result.beside_path}")
    click.echo(f"time: {(time.monotonic() - start) / 60:.1f} min ({stages})")
    for line in result.summary:
        click.echo(line)
    if result.verdict is None:
        click.echo("verdict: none (no face AP: see the line under Table II)")
        return
    click.echo(f"verdict: {result.verdict.text}")
    if result.verdict.kind == NOTHING:
        click.secho(
            f"exit code {NOTHING_LEARNED_EXIT}: the model learned nothing; train longer or "
            "check the learning rate, burn-in and data (docs/guides/model-selection.md)",
            fg="red",
            err=True,
        )
        raise SystemExit(NOTHING_LEARNED_EXIT)


@click.command("hygiene")
@EXPW_OPTION
@AFFWILD2_OPTION
@click.option(
    "--data-dir",
    "data",
    cls=Option,
    renamed=("--data",),
    type=OUT_DIR,
    help="Converted dataset of the keep runs (the mask runs': DATA_DIR-mask) [default: "
    "data/darknet, data/sample-darknet on the sample].",
)
@click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Runs of each mode (RUN, RUN-r2... and RUN-mask, RUN-mask-r2...), to show the "
    "run-to-run spread.",
)
@click.option("--from-scratch", is_flag=True, help="As reproduce's: no pretrained weights.")
@DARKNET_OPTION
@stage_options(DatasetsOptions, skip=("unannotated", "hygiene"))
@stage_options(TrainOptions, only=TRAIN_SHARED)
@stage_options(MapOptions, only=MAP_SHARED)
def hygiene(
    expw: Path | None,
    affwild2: Path | None,
    data: Path | None,
    repeats: int,
    from_scratch: bool,
    darknet_path: Path | None,
    **given: Any,
) -> None:
    """Train --unannotated keep and mask the same way (--repeats times each); print both
    Table IIs side by side, scored on the same raw test list, with the run-to-run spread.

    Without --expw/--affwild2: the embedded sample. Runs already trained are reused.
    """
    from yof_darknet.workflows.hygiene import hygiene as run_hygiene
    from yof_darknet.workflows.pipeline import ReproduceOptions

    start = time.monotonic()
    options = ReproduceOptions(
        expw=expw,
        affwild2=affwild2,
        data=data,
        darknet=darknet_path,
        from_scratch=from_scratch,
        datasets=pick(DatasetsOptions, given),
        train=pick(TrainOptions, given),
        map=pick(MapOptions, given),
    )
    result = run_hygiene(options, repeats=repeats, echo=click.echo)
    click.echo("")
    click.echo(result.markdown, nl=False)
    click.echo(f"written to {result.written} ({(time.monotonic() - start) / 60:.1f} min)")


COMMANDS: list[click.Command] = [reproduce, hygiene]
