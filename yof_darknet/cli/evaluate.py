"""CLI commands of this stage; see yof_darknet/cli/__init__.py."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from yof_darknet.cli.params import DARKNET_OPTION, pick, stage_options
from yof_darknet.evaluate.options import MapOptions

if TYPE_CHECKING:
    from yof_darknet.evaluate.run import MapOutcome
    from yof_darknet.evaluate.table import Table2


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
    test_expw.txt / test_affwild2.txt sit beside the test list. Under the table: the
    class-agnostic face AP and what the model learned, in words.

    With --checkpoints runs/NAME: every checkpoint of the run scored on the validation list
    (runs/NAME/checkpoints.csv, weights/ARCH_best.weights); with --data too, Table II of the
    --select weights on the test list, read once, after the choice.
    """
    from yof_darknet.errors import EvaluationError
    from yof_darknet.evaluate.run import map_inputs, run_map, write_outputs

    request = pick(MapOptions, given, darknet=darknet_path)
    if request.checkpoints is not None:
        outcome = _checkpoints(request)
        if outcome is None:
            return
    elif request.select is not None:
        raise EvaluationError(
            "--select chooses among the checkpoints of a run: add --checkpoints runs/NAME"
        )
    else:
        outcome = run_map(request)
    written = write_outputs(outcome, request.out, map_inputs(request))
    _print(outcome.table, fmt)
    click.echo(f"wrote {', '.join(str(p) for p in written)}", err=True)


def _print(table: Table2, fmt: str) -> None:
    from yof_darknet.evaluate.table import face_lines, render

    click.echo(render(table, fmt), nl=False)
    if fmt != "md":  # the markdown has them under the table
        for line in (*face_lines(table), *table.selection):
            click.echo(line, err=True)


def _checkpoints(request: MapOptions) -> MapOutcome | None:
    """Score the run's checkpoints on the validation list; with --data, choose and return the
    Table II outcome of the chosen weights (None without --data)."""
    from yof_darknet.darknet.results import save_results
    from yof_darknet.errors import EvaluationError
    from yof_darknet.evaluate.ap import EvalParams
    from yof_darknet.evaluate.checkpoints import score_run
    from yof_darknet.evaluate.selection import choose, render_checkpoints, score_chosen
    from yof_darknet.formats.objdata import read_obj_data

    run = request.checkpoints
    assert run is not None
    params = EvalParams(request.iou_or_default, request.points_or_default)

    def echo(line: str) -> None:
        click.echo(line, err=True)

    if request.data is None:
        if request.select is not None:
            raise EvaluationError(
                "--select picks the weights of Table II, scored on the test list: add --data "
                "obj.data (the dataset's, naming the test list)"
            )
        scoring = score_run(run, params, echo=echo)
        save_results(run)
        click.echo(render_checkpoints(scoring), nl=False)
        return None
    test_list = read_obj_data(request.data).valid  # only its name: it is read after the choice
    choice = choose(run, request.select or "best", params, test_list=test_list, echo=echo)
    save_results(run)
    return score_chosen(request, choice, run)


COMMANDS: list[click.Command] = [map_command]
