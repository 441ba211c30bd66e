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
    pick,
    stage_options,
)
from yof_darknet.darknet.options import TrainOptions
from yof_darknet.datasets.options import DatasetsOptions
from yof_darknet.evaluate.faceap import NOTHING
from yof_darknet.evaluate.options import MapOptions

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
    "--data",
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
    help="The permuted-label control: the sample's training labels shuffled across faces.",
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
    from yof_darknet.pipeline import ReproduceOptions
    from yof_darknet.pipeline import reproduce as run_pipeline

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
            "check the learning rate, burn-in and data (docs/h-eval.md)",
            fg="red",
            err=True,
        )
        raise SystemExit(NOTHING_LEARNED_EXIT)


@click.command("hygiene")
@DARKNET_OPTION
@click.option("--runs", type=OUT_DIR, default=Path("runs"), help="Folder of the run folders.")
def hygiene(darknet_path: Path | None, runs: Path) -> None:
    """Train the embedded sample with --unannotated keep and with mask; print both Table IIs.

    Both are scored on the same raw test list; runs already finished are reused.
    """
    from yof_darknet.hygiene import hygiene as run_hygiene

    start = time.monotonic()
    result = run_hygiene(darknet=darknet_path, runs=runs, echo=click.echo)
    click.echo("")
    click.echo(result.markdown, nl=False)
    click.echo(f"written to {result.written} ({(time.monotonic() - start) / 60:.1f} min)")


COMMANDS: list[click.Command] = [reproduce, hygiene]
