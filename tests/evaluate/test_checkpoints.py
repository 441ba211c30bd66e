"""Every checkpoint of a real run scored on the validation list: the same numbers as
`map --engine ort`, resumable, `_best` the argmax, and the test list never read before the
final scoring (the files opened, seen by strace)."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import cv2
import pytest

from tests.support.audit import opened_files
from tests.support.validation import TINY, CheckpointRun, set_iterations, start_weights
from yof_darknet.core.errors import DatasetError
from yof_darknet.evaluate.ap import EvalParams
from yof_darknet.evaluate.checkpoints import SCRATCH, Run, keep_best, score_run
from yof_darknet.evaluate.options import MapOptions
from yof_darknet.evaluate.run import run_map
from yof_darknet.evaluate.selection import choose
from yof_darknet.formats.checkpoints import best_row, read_checkpoints
from yof_darknet.formats.objdata import read_obj_data, write_obj_data
from yof_darknet.infer.detector import Detector

pytestmark = pytest.mark.slow
FINAL = "yolov3-tiny_final.weights"
CHECKPOINT = "yolov3-tiny_100.weights"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_scored_every_checkpoint_as_it_was_saved(checkpoint_run: CheckpointRun) -> None:
    run = checkpoint_run.run
    rows = read_checkpoints(run / "checkpoints.csv")
    # `.backup` holds the same bytes as `_100.weights`: one row (named after `_100` unless the
    # scoring started before darknet had finished writing it)
    assert [r.iteration for r in rows] == [100, 101] and rows[1].file == FINAL
    assert rows[0].file in ("yolov3-tiny_100.weights", "yolov3-tiny.backup")
    assert _sha(run / "weights" / "yolov3-tiny.backup") == rows[0].sha256
    assert _sha(run / "weights" / "yolov3-tiny_100.weights") == rows[0].sha256
    for row in rows:
        assert row.sha256 == _sha(run / "weights" / row.file)
        assert row.settings.val_list == str(checkpoint_run.data.parent / "val.txt")
    with (run / "results.csv").open() as handle:
        results = {int(r["iteration"]): r for r in csv.DictReader(handle)}
    assert [float(results[r.iteration]["val_map"]) for r in rows] == [r.map for r in rows]
    assert results[99]["val_map"] == ""
    log = (run / "checkpoints.log").read_text()  # what the background scorings printed
    assert "checkpoint yolov3-tiny_100.weights (iteration 100): validation mAP" in log
    assert "beside" not in log  # the training that started it holds the run folder: let in
    assert not (run / ".yof-lock").exists()  # the last holder removed the lock files
    assert not (run / ".checkpoints.csv.yof-lock").exists()
    assert _sha(run / "weights" / "yolov3-tiny_best.weights") == best_row(rows).sha256
    assert not (run / SCRATCH).exists()


def _copy_with_found_faces(checkpoint_run: CheckpointRun, root: Path) -> Path:
    """A copy of the run whose validation set (its own list) is labelled with boxes the
    checkpoints find (each one's best box inside the image, per image, of the class it gives
    it), so that every checkpoint scores above 0 whatever the session's training made of it."""
    run = root / "run"
    shutil.copytree(checkpoint_run.run, run, symlinks=True)
    cfg = run / "yolov3-tiny.cfg"
    names = read_obj_data(run / "obj.data").names
    detectors = [Detector(cfg, run / "weights" / name, names) for name in (CHECKPOINT, FINAL)]
    folder = root / "val"
    folder.mkdir()
    images = (checkpoint_run.data.parent / "val.txt").read_text().split()
    for source in map(Path, images):
        image = cv2.imread(str(source))
        height, width = image.shape[:2]
        inside = [
            [d for d in det.detect(image, 0.005)
             if 0 < d.xyxy[0] < d.xyxy[2] < width and 0 < d.xyxy[1] < d.xyxy[3] < height]
            for det in detectors
        ]  # fmt: skip
        found = [max(boxes, key=lambda d: d.score) for boxes in inside if boxes]
        # each box labelled with the class its checkpoint gives it: that checkpoint then has a
        # true positive of that class, whatever the session's training made of it
        lines = [
            f"{d.class_id} {(d.xyxy[0] + d.xyxy[2]) / 2 / width:.6f} "
            f"{(d.xyxy[1] + d.xyxy[3]) / 2 / height:.6f} {(d.xyxy[2] - d.xyxy[0]) / width:.6f} "
            f"{(d.xyxy[3] - d.xyxy[1]) / height:.6f}\n"
            for d in found
        ]
        (folder / source.name).symlink_to(source)
        (folder / source.with_suffix(".txt").name).write_text("".join(lines))
    (root / "val.txt").write_text("".join(f"{folder / Path(p).name}\n" for p in images))
    obj = read_obj_data(run / "obj.data")
    extra = {**obj.extra, "val": str(root / "val.txt")}
    write_obj_data(run / "obj.data", replace(obj, extra=extra))
    return run


def _val_data(run: Path) -> Path:
    """An obj.data whose valid= is the run's validation list (what `map --data` scores)."""
    obj = read_obj_data(run / "obj.data")
    path = run.parent / "val.data"
    write_obj_data(path, replace(obj, valid=Path(obj.extra["val"]), extra={}))
    return path


@pytest.fixture(scope="module")
def relabelled(checkpoint_run: CheckpointRun, tmp_path_factory) -> Path:
    return _copy_with_found_faces(checkpoint_run, tmp_path_factory.mktemp("relabelled"))


def test_scoring_equals_map_engine_onnx_on_the_same_weights(relabelled: Path) -> None:
    scoring = score_run(relabelled, echo=lambda _: None)
    assert scoring.scored == 2  # another validation set: both checkpoints scored again
    assert all(row.map > 0 and row.face_ap > 0 for row in scoring.rows)
    data = _val_data(relabelled)
    for row in scoring.rows:
        request = MapOptions(data=data, weights=relabelled / "weights" / row.file,
                             cfg=relabelled / "yolov3-tiny.cfg", engine="ort",
                             out=relabelled.parent / f"map-{row.iteration}")  # fmt: skip
        table = run_map(request).table
        assert row.map == table.combined.map
        assert row.ap == {c.name: c.ap for c in table.combined.classes}
        assert table.face is not None and row.face_ap == table.face.face_ap


def test_best_is_the_argmax_and_is_kept_when_overwritten(relabelled: Path) -> None:
    scoring = score_run(relabelled, echo=lambda _: None)
    best = max(scoring.rows, key=lambda r: (r.map, -r.iteration))
    assert scoring.best == best
    best_file = Run.open(relabelled).best
    assert _sha(best_file) == best.sha256
    # AlexeyAB's -map writes its own _best.weights: ours comes back from the checkpoint
    other = next(r for r in scoring.rows if r != best)
    shutil.copyfile(relabelled / "weights" / other.file, best_file)
    said: list[str] = []
    assert keep_best(Run.open(relabelled), scoring.rows, said.append) == best
    assert _sha(best_file) == best.sha256 and not said
    assert not best_file.is_symlink()


def test_resumed_scoring_skips_done_checkpoints(relabelled: Path) -> None:
    score_run(relabelled, echo=lambda _: None)
    val_images = (relabelled.parent / "val.txt").read_text().split()
    with opened_files() as opened:
        again = score_run(relabelled, echo=lambda _: None)
    assert again.scored == 0
    assert not [p for p in opened if f"/{SCRATCH}/" in p or p.endswith(".onnx")]  # no scoring
    assert not set(val_images) & set(opened)  # no image read
    weights = relabelled / "weights"

    # darknet rewrites `.backup` with new weights: that one, and only that one, is scored
    backup = weights / "yolov3-tiny.backup"
    shutil.copyfile(weights / FINAL, backup)
    set_iterations(backup, 150)
    with opened_files() as opened:
        third = score_run(relabelled, echo=lambda _: None)
    assert third.scored == 1
    assert [r.iteration for r in third.rows] == [100, 101, 150]
    # one evaluation: each image read once by the test-list check (its EXIF header), then its
    # size and its pixels for the one checkpoint scored (Python reads, as the audit sees them)
    reads = Counter(p for p in opened if p in set(val_images))
    assert set(reads) == set(val_images) and set(reads.values()) == {1 + 2 * third.scored}


_HOLD = """
import sys, time
from yof_darknet.core.owned import output_lock
with output_lock(sys.argv[1]):
    print("holding", flush=True)
    time.sleep(300)
"""
_TRY = """
import sys
from yof_darknet.core.owned import output_lock
with output_lock(sys.argv[1]):
    pass
"""


def test_a_scoring_holds_a_finished_run_and_goes_beside_a_training(
    checkpoint_run: CheckpointRun, tmp_path: Path
) -> None:
    """A finished run is held by its scoring (a training cannot start there meanwhile); a run
    held by a training (another process) is scored beside it, said, under the scoring's own
    locks."""
    run = tmp_path / "run"
    shutil.copytree(checkpoint_run.run, run, symlinks=True)
    backup = run / "weights" / "yolov3-tiny.backup"  # darknet saved anew: one to score
    shutil.copyfile(run / "weights" / FINAL, backup)
    set_iterations(backup, 150)
    tried: list[subprocess.CompletedProcess[str]] = []

    def echo(line: str) -> None:  # said while it scores: try to take the run folder then
        if line.startswith("checkpoint ") and not tried:
            tried.append(subprocess.run([sys.executable, "-c", _TRY, str(run)],
                                        capture_output=True, text=True, timeout=120))  # fmt: skip

    assert score_run(run, echo=echo).scored == 1
    assert tried[0].returncode == 1
    assert "another run is writing there" in tried[0].stderr
    assert f"pid {os.getpid()}" in tried[0].stderr

    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(run)], stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        set_iterations(backup, 160)
        said: list[str] = []
        scoring = score_run(run, echo=said.append)
        assert scoring.scored == 1 and [r.iteration for r in scoring.rows] == [100, 101, 150, 160]
        assert f"held by pid {holder.pid}" in said[0] and "scoring beside it" in said[0]
        assert holder.poll() is None  # the holder kept the folder
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_select_final_and_best(relabelled: Path) -> None:
    final = choose(relabelled, "final", EvalParams(), echo=lambda _: None)
    assert final.weights == relabelled / "weights" / FINAL
    assert final.row is not None and final.row.iteration == 101
    assert "as the paper did (--select final)" in final.lines()[-1]
    best = choose(relabelled, "best", EvalParams(), echo=lambda _: None)
    assert best.weights.name == "yolov3-tiny_best.weights"
    assert best.row == best_row(best.scoring.rows)
    assert "chosen on the validation list" in best.lines()[-1]
    assert best.lines()[0].startswith(f"Validation ({len(best.scoring.rows)} checkpoints on ")


def test_without_a_validation_list_best_is_refused(checkpoint_run, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(checkpoint_run.run, run, symlinks=True)
    obj = read_obj_data(run / "obj.data")
    assert obj.valid == Path(obj.extra["val"])  # a run's valid= is its validation list...
    test_list = checkpoint_run.data.parent / "test.txt"  # ...but runs of older versions copied
    write_obj_data(run / "obj.data", replace(obj, valid=test_list, extra={}))  # the test list
    with pytest.raises(DatasetError, match=r"no validation list .* re-run `yof-darknet datasets`"):
        choose(run, "best", EvalParams(), echo=lambda _: None)
    final = choose(run, "final", EvalParams(), echo=lambda _: None)
    assert final.scoring is None and final.weights.name == FINAL


def _strace(log: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = ["strace", "-f", "-ttt", "-e", "trace=openat,execve", "-o", str(log),
               sys.executable, "-m", "yof_darknet", *args]  # fmt: skip
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)


OPENAT = re.compile(r'^(\d+) +([\d.]+) openat\(AT_FDCWD, "([^"]+)", ([A-Z_|]+)')


def _opens(log: Path) -> list[tuple[float, int, str, str]]:
    """(time, pid, path, flags) of every openat that succeeded, by time."""
    found = []
    for line in log.read_text().splitlines():
        match = OPENAT.match(line)
        if match and not line.rstrip().endswith(")") and " = -1 " not in line:
            found.append((float(match[2]), int(match[1]), os.path.abspath(match[3]), match[4]))
    return sorted(found)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_the_test_list_is_never_read_before_the_final_scoring(tmp_path: Path, debian_darknet):
    from tests.support.validation import make_split_dataset

    data = make_split_dataset(tmp_path / "set")
    start = start_weights(tmp_path, data, 97)
    test_files = {str(data.parent / "test.txt"), str(data.parent / "test_expw.txt")}
    for image in (data.parent / "test.txt").read_text().split():
        test_files |= {image, str(Path(image).with_suffix(".txt"))}
    (data.parent / "test_expw.txt").write_text((data.parent / "test.txt").read_text())

    trace = tmp_path / "train.strace"
    done = _strace(trace, "train", "--data", str(data), "--profile", "sample", "--name", "s",
                   "--max-batches", "101", "--weights", str(start), "--runs",
                   str(tmp_path / "runs"), "--darknet", str(debian_darknet),
                   *(f"--set={s}" for s in TINY), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    text = trace.read_text()
    assert re.search(r'execve\("[^"]*darknet", \[[^]]*"detector", "train"', text)
    assert re.search(r'"map", "--checkpoints"', text)  # the background scoring ran
    opens = _opens(trace)
    val_images = (data.parent / "val.txt").read_text().split()
    assert set(val_images) <= {path for _, _, path, _ in opens}  # scored on validation...
    assert not [o for o in opens if o[2] in test_files]  # ...and nothing read the test list
    run = tmp_path / "runs" / "s"
    assert len(read_checkpoints(run / "checkpoints.csv")) == 2

    (run / "checkpoints.csv").unlink()  # scored again, then the choice, then the test list
    trace = tmp_path / "map.strace"
    done = _strace(
        trace,
        "map",
        "--checkpoints",
        str(run),
        "--data",
        str(data),
        "--select",
        "best",
        "--engine",
        "onnx",
        "--out",
        str(tmp_path / "table"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "chosen on the validation list" in done.stdout
    opens = _opens(trace)
    val_labels = {str(Path(p).with_suffix(".txt")) for p in val_images}
    first_test = min(t for t, _, path, _ in opens if path in test_files)
    choice_made = max(  # the last write of checkpoints.csv or _best, the last validation read
        t for t, _, path, flags in opens
        if re.search(r"/\.(checkpoints|yolov3-tiny_best)\.\d+\.\d+\.tmp\.(csv|weights)$", path)
        or path in val_labels or path in val_images
    )  # fmt: skip
    assert choice_made < first_test
    assert len([o for o in opens if re.search(r"/\.checkpoints\.\d+\.\d+\.tmp\.csv$", o[2])]) == 2
    best = read_checkpoints(run / "checkpoints.csv")
    table = (tmp_path / "table" / "table2.md").read_text()
    assert f"= {best_row(best).file} (iteration {best_row(best).iteration}" in table
