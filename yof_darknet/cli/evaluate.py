"""CLI commands of this stage; see yof_darknet/cli/__init__.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from yof_darknet.cli.params import DARKNET_OPTION, pick, stage_options
from yof_darknet.evaluate.options import MapOptions


@click.command("map")
@stage_options(MapOptions)
@click.option(
    "--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md",
    help="What to print; all three are written to --out.",
)  # fmt: skip
@DARKNET_OPTION
def map_command(fmt: str, darknet_path: Path | None, **given: Any) -> None:
    """Table II: AP per expression and mAP beside the paper's, in OUT/table2.{md,csv,json}.

    With our evaluator (pjreddie darknet, --engine python, --results) also writes
    confusion_matrix.{csv,png} and pr_curves.png. Per dataset (ExpW, Aff-Wild2) when
    test_expw.txt / test_affwild2.txt sit beside the test list.
    """
    from yof_darknet.evaluate.run import map_inputs, run_map, write_outputs
    from yof_darknet.evaluate.table import render
    from yof_darknet.fileio import protected
    from yof_darknet.owned import output_lock

    request = pick(MapOptions, given, darknet=darknet_path)
    # one run at a time writes this folder, from start to end
    with protected(*map_inputs(request)), output_lock(request.out):
        outcome = run_map(request)
        written = write_outputs(outcome, request.out, map_inputs(request))
    click.echo(render(outcome.table, fmt), nl=False)
    click.echo(f"wrote {', '.join(str(p) for p in written)}", err=True)


COMMANDS: list[click.Command] = [map_command]
