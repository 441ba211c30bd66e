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
@DARKNET_OPTION
def map_command(darknet_path: Path | None, **given: Any) -> None:
    """Table II: AP per expression and mAP beside the paper's, in OUT/table2.{md,csv,json}.

    With our evaluator (pjreddie darknet, --engine opencv or ort, --results) also writes
    confusion_matrix.{csv,png} and pr_curves.png. Per dataset (ExpW, Aff-Wild2, AffectNet,
    RAF-DB, own photos) when test_<dataset>.txt sit beside the test list. With --cross RUN
    (repeated): each model on each of those held-out sets, in OUT/cross.{md,csv,json}.
    Under the table: the class-agnostic face AP and what the model learned, in words.

    With --checkpoints runs/NAME: every checkpoint of the run scored on the validation list
    (runs/NAME/checkpoints.csv, weights/ARCH_best.weights); with --data too, Table II of the
    --select weights on the test list, read once, after the choice.

    With --cascade CFG:WEIGHTS: the two-stage cascade (RetinaFace, then the classifier) instead
    of a detector, and its per-face accuracy on the ground-truth boxes.
    """
    from yof_darknet.core.errors import EvaluationError
    from yof_darknet.core.fileio import protected
    from yof_darknet.core.owned import output_lock
    from yof_darknet.evaluate.run import map_inputs, run_map, write_outputs

    request = pick(MapOptions, given, darknet=darknet_path)
    if request.cascade is not None:
        _cascade(request)
        return
    if request.cross:
        with output_lock(request.out):  # one run at a time writes this folder
            _cross(request)
        return
    if request.checkpoints is None and request.select is not None:
        raise EvaluationError(
            "--select chooses among the checkpoints of a run: add --checkpoints runs/NAME"
        )
    if request.checkpoints is not None and request.data is None:
        _score_checkpoints(request)  # the run's own files only: no Table II, nothing in --out
        return
    # one run at a time writes this folder, from start to end
    with protected(*map_inputs(request)), output_lock(request.out):
        outcome = _checkpoints(request) if request.checkpoints is not None else run_map(request)
        written = write_outputs(outcome, request.out, map_inputs(request))
    _print(outcome.table, request.fmt)
    click.echo(f"wrote {', '.join(str(p) for p in written)}", err=True)


def _cascade(request: MapOptions) -> None:
    """``--cascade``: Table II of the cascade (face score x class probability) and its per-face
    accuracy, into OUT as ``map`` writes a detector's."""
    from yof_darknet.core.fileio import protected
    from yof_darknet.core.owned import output_lock
    from yof_darknet.evaluate.ap import EvalParams
    from yof_darknet.evaluate.cascade import evaluate_cascade, write_cascade_outputs
    from yof_darknet.infer.cascade import Cascade, parse_cascade

    assert request.cascade is not None and request.data is not None
    cfg, weights = parse_cascade(request.cascade)
    cascade = Cascade(cfg, weights, face_threshold=request.face_threshold_or_default)
    params = EvalParams(request.iou_or_default, request.points_or_default)
    with protected(request.data, cfg, weights), output_lock(request.out):
        outcome = evaluate_cascade(request.data, cascade, params=params)
        written = write_cascade_outputs(outcome, request.out)
    _print(outcome.map.table, request.fmt)
    click.echo(outcome.accuracy.render_markdown(), err=request.fmt != "md")
    click.echo(f"wrote {', '.join(str(p) for p in written)}", err=True)


def _cross(request: MapOptions) -> None:
    """``--cross``: every model on every held-out set, into OUT/cross.{md,csv,json}."""
    from yof_darknet.evaluate.cross import cross_table, render_cross_markdown, write_cross

    table = cross_table(request, request.cross, echo=lambda line: click.echo(line, err=True))
    written = write_cross(table, request.out)
    click.echo(render_cross_markdown(table), nl=False)
    click.echo(f"wrote {', '.join(str(p) for p in written)}", err=True)


def _print(table: Table2, fmt: str) -> None:
    from yof_darknet.evaluate.table import face_lines, render

    click.echo(render(table, fmt), nl=False)
    if fmt != "md":  # the markdown has them under the table
        for line in (*face_lines(table), *table.selection):
            click.echo(line, err=True)


def _echo(line: str) -> None:
    click.echo(line, err=True)


def _score_checkpoints(request: MapOptions) -> None:
    """Score the run's checkpoints on the validation list (checkpoints.csv, _best, the
    validation columns of results.csv) and print them."""
    from yof_darknet.core.errors import EvaluationError
    from yof_darknet.evaluate.ap import EvalParams
    from yof_darknet.evaluate.checkpoints import score_run
    from yof_darknet.evaluate.selection import render_checkpoints
    from yof_darknet.training.results import save_results

    run = request.checkpoints
    assert run is not None
    if request.select is not None:
        raise EvaluationError(
            "--select picks the weights of Table II, scored on the test list: add --data "
            "obj.data (the dataset's, naming the test list)"
        )
    params = EvalParams(request.iou_or_default, request.points_or_default)
    scoring = score_run(run, params, echo=_echo)
    save_results(run)
    click.echo(render_checkpoints(scoring), nl=False)


def _checkpoints(request: MapOptions) -> MapOutcome:
    """Score the run's checkpoints on the validation list, choose the --select weights, and
    return the Table II outcome of the chosen weights on --data's test list."""
    from yof_darknet.evaluate.ap import EvalParams
    from yof_darknet.evaluate.selection import choose, score_chosen
    from yof_darknet.formats.objdata import read_obj_data
    from yof_darknet.training.results import save_results

    run = request.checkpoints
    assert run is not None and request.data is not None
    params = EvalParams(request.iou_or_default, request.points_or_default)
    test_list = read_obj_data(request.data).valid  # only its name: it is read after the choice
    choice = choose(run, request.select or "best", params, test_list=test_list, echo=_echo)
    save_results(run)
    return score_chosen(request, choice, run)


COMMANDS: list[click.Command] = [map_command]
