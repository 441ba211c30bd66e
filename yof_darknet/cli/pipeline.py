"""`yof-darknet reproduce`: the whole pipeline (what `make reproduce` runs)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from yof_darknet.cli.params import DARKNET_OPTION, EXISTING_DIR, OUT_DIR


@click.command("reproduce")
@click.option(
    "--expw", type=EXISTING_DIR, help="Raw ExpW folder (none with --affwild2: the sample)."
)
@click.option("--affwild2", type=EXISTING_DIR, help="Raw Aff-Wild2 folder.")
@click.option(
    "--profile",
    type=click.Choice(["paper", "sample"]),
    help="Training profile [default: sample on the embedded sample, else paper].",
)
@click.option("--run", default=None, help="Run folder runs/RUN [default: the profile].")
@click.option(
    "--data",
    type=OUT_DIR,
    help="Converted dataset folder [default: data/darknet, data/sample-darknet on the sample].",
)
@click.option(
    "--test-per-dataset",
    type=click.IntRange(min=1),
    help="Held-out images per dataset [default: 2500; 80 on the sample].",
)
@DARKNET_OPTION
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="cfg override on top of the profile (repeatable), e.g. width=64.",
)
@click.option("--max-batches", type=click.IntRange(min=1), help="Shorter training.")
@click.option(
    "--shuffle-labels",
    is_flag=True,
    help="The permuted-label control: the sample's training labels shuffled across faces.",
)
def reproduce(
    expw: Path | None,
    affwild2: Path | None,
    profile: str | None,
    run: str | None,
    data: Path | None,
    test_per_dataset: int | None,
    darknet_path: Path | None,
    settings: tuple[str, ...],
    max_batches: int | None,
    shuffle_labels: bool,
) -> None:
    """Run every stage (sample, datasets, weights, cfg, anchors, train, map) and print Table II.

    Each stage skips the work already done, so running it again resumes.
    """
    from yof_darknet.pipeline import ReproduceOptions
    from yof_darknet.pipeline import reproduce as run_pipeline

    start = time.monotonic()
    options = ReproduceOptions(
        expw=expw,
        affwild2=affwild2,
        profile=profile,
        run=run,
        data=data,
        test_per_dataset=test_per_dataset,
        darknet=darknet_path,
        shuffle_labels=shuffle_labels,
        overrides=settings,
        max_batches=max_batches,
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


COMMANDS: list[click.Command] = [reproduce]
