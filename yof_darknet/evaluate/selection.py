"""Which weights Table II is made with: ``--select best`` (the checkpoint with the best
validation mAP, ``weights/<arch>_best.weights``) or ``final`` (the last weights the training
saved, as the paper did), and the one final scoring of the test list.

The order is the point: every checkpoint is scored on the validation list, the choice is made,
and only then is the test list read, once, for the chosen weights.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from yof_darknet.core.errors import DatasetError, EvaluationError, YofError
from yof_darknet.evaluate.ap import EvalParams
from yof_darknet.evaluate.checkpoints import Run, Scoring, checkpoint_files, score_run
from yof_darknet.evaluate.options import SELECTS, MapOptions
from yof_darknet.evaluate.run import MapOutcome, run_map
from yof_darknet.formats.checkpoints import CheckpointRow
from yof_darknet.formats.imagefiles import read_list
from yof_darknet.formats.objdata import read_obj_data
from yof_darknet.formats.weights import read_header

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Choice:
    """The weights chosen for Table II, how, and what the validation list said of them."""

    weights: Path
    select: str
    row: CheckpointRow | None  # the chosen weights' validation scores (None: not scored)
    scoring: Scoring | None  # every checkpoint's (None: no validation list)

    def lines(self) -> list[str]:
        """What ``map`` and ``reproduce`` print about the choice."""
        out = peak_lines(self.scoring)
        if self.select == "best" and self.row is not None and self.scoring is not None:
            out.append(
                f"Table II uses {self.weights} = {self.row.file} (iteration "
                f"{self.row.iteration}, validation mAP {_pct(self.row.map)}), chosen on the "
                f"validation list {self.scoring.val_list} only; the test list is scored once, "
                "after the choice (--select best)."
            )
        else:
            out.append(
                f"Table II uses {self.weights}: the last weights the training saved, as the paper "
                "did (--select final); no choice was made on any list."
            )
        return out


def _pct(value: float) -> str:
    return f"{value * 100:.2f} %"


def peak_lines(scoring: Scoring | None) -> list[str]:
    """The validation curve's peak and where it was (nothing without a scoring)."""
    if scoring is None or scoring.best is None:
        return []
    best = scoring.best
    last = max(scoring.rows, key=lambda r: (r.iteration, r.file))
    return [
        f"Validation ({len(scoring.rows)} checkpoints on {scoring.val_list}): peak mAP "
        f"{_pct(best.map)} (face AP {_pct(best.face_ap)}) at iteration {best.iteration} "
        f"({best.file}); last checkpoint, iteration {last.iteration}: mAP {_pct(last.map)}."
    ]


def last_weights(run: Run) -> Path:
    """``<arch>_final.weights``, else (a run stopped early) the checkpoint with the most
    iterations in its header."""
    final = run.weights / f"{run.cfg.stem}_final.weights"
    if final.is_file():
        return final
    found = checkpoint_files(run)
    if not found:
        raise EvaluationError(f"{run.weights}: no weights saved; train first")
    return max(found, key=lambda p: (read_header(p).seen, p.stat().st_mtime_ns))


def choose(
    root: Path,
    select: str,
    params: EvalParams,
    *,
    test_list: Path | None = None,
    score: bool = True,
    echo: Echo = print,
) -> Choice:
    """Score the run's checkpoints on its validation list (unless ``score`` is False for
    ``final``) and choose the weights ``select`` names. ``best`` without a validation list is
    refused, saying to re-run ``datasets``."""
    if select not in SELECTS:
        raise EvaluationError(f"--select {select}: choose one of {', '.join(SELECTS)}")
    run = Run.open(root)
    scoring = None
    if select == "best" or score:
        try:
            scoring = score_run(root, params, test_list=test_list, echo=echo)
        except DatasetError as exc:
            if select == "best":
                raise DatasetError(f"--select best needs a validation list: {exc}") from None
        except YofError as exc:  # `final` needs no scoring: say why there is no peak
            if select == "best":
                raise
            echo(f"validation scoring failed, no peak to report: {exc}")
    if select == "best":
        assert scoring is not None
        if scoring.best is None:
            raise EvaluationError(f"{run.weights}: no complete checkpoint to choose from")
        return Choice(run.best, select, scoring.best, scoring)
    weights = last_weights(run)
    row = None
    if scoring is not None:
        by_file = [r for r in scoring.rows if r.file == weights.name]
        row = max(by_file, key=lambda r: r.iteration, default=None)
    return Choice(weights, select, row, scoring)


def check_disjoint(val_list: Path, test_list: Path) -> None:
    """Refuse a validation list that shares images with the test list (read now, at the end)."""

    def entries(listing: Path) -> list[str]:  # relative entries: from the list's folder
        return [os.path.realpath(listing.parent / line) for line in read_list(listing)]

    val = set(entries(val_list))
    shared = [line for line in entries(test_list) if line in val]
    if shared:
        raise EvaluationError(
            f"{val_list}: {len(shared)} image(s) are also in the test list {test_list} (first: "
            f"{shared[0]}); the choice saw test images: re-run `yof-darknet datasets`"
        )


def score_chosen(request: MapOptions, choice: Choice, run: Path) -> MapOutcome:
    """Table II of the chosen weights on ``request.data``'s test list: the one reading of it."""
    if request.data is None:
        raise EvaluationError("--data obj.data (naming the test list) is needed for Table II")
    test_list = read_obj_data(request.data).valid
    if choice.scoring is not None and test_list is not None:
        if test_list.resolve() == choice.scoring.val_list.resolve():
            raise EvaluationError(
                f"{request.data}: valid= is the validation list {test_list}; Table II is "
                "scored on the test list: pass the dataset's obj.data (data/darknet/obj.data)"
            )
        check_disjoint(choice.scoring.val_list, test_list)
    cfg = Run.open(run).cfg
    outcome = run_map(replace(request, weights=choice.weights, cfg=cfg, checkpoints=None))
    return replace(outcome, table=replace(outcome.table, selection=tuple(choice.lines())))


def render_checkpoints(scoring: Scoring) -> str:
    """Every scored checkpoint as a markdown table, the best marked."""
    lines = [
        f"## Checkpoints on the validation list {scoring.val_list}",
        "",
        "| Iteration | File | Validation mAP (%) | Face AP (%) | |",
        "|---:|---|---:|---:|---|",
    ]
    for row in sorted(scoring.rows, key=lambda r: (r.iteration, r.file)):
        mark = "best" if row is scoring.best else ""
        lines.append(
            f"| {row.iteration} | {row.file} | {row.map * 100:.2f} | {row.face_ap * 100:.2f} "
            f"| {mark} |"
        )
    return "\n".join([*lines, "", *peak_lines(scoring)]) + "\n"
