"""Checkpoints scored while darknet trains, and --patience stopping a real training."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.support.darknet import make_dataset
from tests.support.validation import CheckpointRun, set_iterations
from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.checkpoints import read_checkpoints, write_checkpoints
from yof_darknet.formats.objdata import read_obj_data, write_obj_data
from yof_darknet.formats.weights import read_header
from yof_darknet.tools.darknet import probe
from yof_darknet.training.options import TrainOptions
from yof_darknet.training.train import train
from yof_darknet.training.validation import (
    STOPPED,
    background_scorer,
    patience_message,
    stopped_early,
)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_no_validation_list_no_scoring_and_asking_is_refused(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "set")
    obj = read_obj_data(data)
    write_obj_data(data, dataclasses.replace(obj, extra={}))  # train.txt and test.txt only
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(data, run / "obj.data")
    assert background_scorer(run, None, None, data) is None
    assert background_scorer(run, False, None, data) is None
    with pytest.raises(DarknetError, match=r"--score-checkpoints: .* re-run `yof-darknet"):
        background_scorer(run, True, None, data)
    with pytest.raises(DarknetError, match=r"--patience: .*names no validation list"):
        background_scorer(run, None, 3, data)
    with pytest.raises(DarknetError, match="drop --no-score-checkpoints"):
        TrainOptions(patience=2, score_checkpoints=False)


def test_patience_message_counts_scored_checkpoints(checkpoint_run: CheckpointRun, tmp_path):
    rows = read_checkpoints(checkpoint_run.run / "checkpoints.csv")
    path = tmp_path / "checkpoints.csv"
    write_checkpoints(path, [dataclasses.replace(rows[0], map=0.5),
                             dataclasses.replace(rows[1], map=0.2)])  # fmt: skip
    assert patience_message(tmp_path, 2) is None
    said = patience_message(tmp_path, 1)
    assert said == (
        "--patience 1: 1 checkpoints in a row scored below the best validation mAP "
        "(50.00 % at iteration 100)"
    )
    assert patience_message(tmp_path / "nothing", 1) is None


@pytest.mark.slow
def test_patience_stops_darknet_and_keeps_the_best(
    checkpoint_run: CheckpointRun, tmp_path: Path, debian_darknet: Path
) -> None:
    """A run whose scored checkpoints already show one below the best (iteration 100 at 50 %,
    101 at 20 %: real rows, hand-set values) resumes with --patience 1 at iteration 198:
    darknet saves at 200, is stopped there instead of training to 400, and `_best` stays the
    checkpoint of iteration 100."""
    runs = tmp_path / "runs"
    run = runs / "tiny"
    shutil.copytree(checkpoint_run.run, run, symlinks=True)
    rows = read_checkpoints(run / "checkpoints.csv")
    assert [r.iteration for r in rows] == [100, 101]
    write_checkpoints(run / "checkpoints.csv", [dataclasses.replace(rows[0], map=0.5),
                                                dataclasses.replace(rows[1], map=0.2)])  # fmt: skip
    final = run / "weights" / "yolov3-tiny_final.weights"
    set_iterations(final, 198)  # resume from here: darknet saves again at 200
    said: list[str] = []
    options = TrainOptions(name="tiny", resume=True, max_batches=400, patience=1, runs=runs)
    result = train(checkpoint_run.data, options, darknet=probe(debian_darknet), progress=False,
                   echo=said.append)  # fmt: skip

    assert result.stopped is not None and result.stopped.startswith("--patience 1:")
    # the scorer needs a few seconds for checkpoint 200; darknet, 0.01-0.1 s an iteration here:
    # 400 leaves it a margin on a loaded machine
    assert 200 <= result.iterations < 400 and not result.interrupted
    assert read_header(final).iterations(2) == 198  # darknet never reached max_batches
    assert (run / "weights" / "yolov3-tiny_200.weights").is_file()
    saved = [p for p in (run / "weights").iterdir() if p.suffix in (".weights", ".backup")]
    assert len({p.stat().st_size for p in saved}) == 1  # darknet was not stopped mid-save
    assert any(line.startswith("stopped early at iteration") for line in said)
    assert stopped_early(run) == result.stopped
    assert json.loads((run / STOPPED).read_text())["iteration"] == result.iterations
    best = run / "weights" / "yolov3-tiny_best.weights"
    assert _sha(best) == _sha(run / "weights" / "yolov3-tiny_100.weights")
    scored = read_checkpoints(run / "checkpoints.csv")
    assert {200, 198} <= {r.iteration for r in scored}  # the last checkpoints were scored
    assert any(line.startswith("validation: ") and "at iteration 100" in line for line in said)
