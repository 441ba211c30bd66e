"""Training you can watch anywhere: progress lines without a terminal (nohup, sbatch, pipes),
and results.csv/png rewritten whenever darknet saves weights."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import pytest

from yof_darknet.formats.trainlog import TrainLine
from yof_darknet.tools.darknet import Darknet
from yof_darknet.training.options import TrainOptions
from yof_darknet.training.train import train
from yof_darknet.training.trainprogress import TrainProgress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _line(iteration: int, left: float | None = None) -> TrainLine:
    return TrainLine(iteration, 5.0, 4.0 - iteration / 100, 0.001, 0.5, iteration * 64, left)


def test_without_a_terminal_one_line_per_interval_with_rate_and_eta():
    clock, out = Clock(), io.StringIO()
    progress = TrainProgress(100, enabled=True, stream=out, interval_s=60, clock=clock)
    assert progress.lines  # a StringIO is no terminal
    for iteration in range(1, 30):  # an iteration of 64 images every 2 s
        clock.now = 2.0 * iteration
        progress.iteration(_line(iteration))
        progress.tick()
    assert out.getvalue() == ""  # the first minute has not passed
    clock.now = 60.0
    progress.iteration(_line(30))
    progress.tick()
    progress.mean_average_precision(30, 0.25)
    clock.now = 62.0
    progress.iteration(_line(31))
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "train: iteration 30/100 (30.0 %), avg loss 3.700, 32.0 images/s, ETA 0:02:20"
    )  # 29 x 64 images in the 58 s since iteration 1; 70 iterations left at 2 s each
    assert lines[1] == "train: iteration 30: mAP@0.50 = 0.2500"
    assert lines[2].startswith("train: iteration 31/100 (31.0 %), avg loss 3.690, mAP@0.50 0.2500")
    assert lines[2].endswith(", 32.0 images/s, ETA 0:02:18")
    assert len(lines) == 3


def test_darknet_s_own_estimate_is_the_eta_when_it_gives_one():
    clock, out = Clock(), io.StringIO()
    progress = TrainProgress(14000, enabled=True, stream=out, interval_s=0, clock=clock)
    progress.iteration(_line(1, left=-3600.0))  # AlexeyAB's first "-1.000000 hours left"
    clock.now = 1.0
    progress.tick()
    progress.iteration(_line(2, left=2 * 3600.0 + 61))
    clock.now = 2.0
    progress.tick()
    first, second = out.getvalue().splitlines()
    assert "no new iteration for 0:00:01" in first and first.endswith("ETA unknown")
    assert second.endswith("32.0 images/s, ETA 2:01:01 (darknet's estimate)")


def test_disabled_progress_prints_nothing():
    out = io.StringIO()
    progress = TrainProgress(10, enabled=False, stream=out, interval_s=0)
    progress.iteration(_line(1))
    progress.tick()
    progress.close()
    assert out.getvalue() == ""


@pytest.mark.slow
def test_training_under_nohup_writes_progress_lines_to_its_log(tmp_path, tiny_data, debian_darknet):
    log = tmp_path / "nohup.out"
    command = [
        sys.executable, "-m", "yof_darknet", "train", "--data", str(tiny_data),
        "--profile", "sample", "--max-batches", "4", "--runs", str(tmp_path / "runs"),
        "--darknet", str(debian_darknet), "--set", "width=64", "--set", "height=64",
        "--set", "batch=2", "--set", "subdivisions=1",
    ]  # fmt: skip
    with log.open("w") as handle:  # as `nohup yof-darknet train ... > nohup.out 2>&1`
        done = subprocess.run(
            ["nohup", *command], stdin=subprocess.DEVNULL, stdout=handle, stderr=handle,
            env={**os.environ, "YOF_PROGRESS_SECONDS": "0"}, timeout=600, check=False,
        )  # fmt: skip
    text = log.read_text()
    assert done.returncode == 0, text[-2000:]
    progress = [line for line in text.splitlines() if line.startswith("train: iteration ")]
    assert progress, text[-2000:]
    assert progress[-1].startswith("train: iteration 4/4 (100.0 %), avg loss ")
    assert "ETA" in progress[-1] and "\r" not in text  # lines, not a redrawn bar


FAKE_DARKNET = """#!{python}
import pathlib, sys, time
line = "{{0}}: 9.5, 9.5 avg loss, 0.001 rate, 0.1 seconds, {{1}} images"
print(line.format(1, 2)); print(line.format(2, 4), flush=True)
pathlib.Path("weights/yolov3-tiny.backup").write_bytes(bytes(20))  # darknet saves
results, seen = pathlib.Path("results.csv"), "no update"
for _ in range(600):  # wait up to 60 s for yof-darknet to rewrite results.csv
    if results.is_file() and "\\n1," in results.read_text():
        seen = results.read_text()
        break
    time.sleep(0.1)
pathlib.Path("seen.txt").write_text(seen)
print(line.format(3, 6), flush=True)
pathlib.Path("weights/yolov3-tiny_final.weights").write_bytes(bytes(20))
"""


def test_results_follow_every_weights_save(tmp_path, tiny_data):
    script = tmp_path / "darknet"
    script.write_text(FAKE_DARKNET.format(python=sys.executable))
    script.chmod(0o755)
    darknet = Darknet(script, "pjreddie", "test", False, False, False, False, False)
    options = TrainOptions(profile="sample", max_batches=3, runs=tmp_path / "runs")
    train(tiny_data, options, darknet=darknet, progress=False, echo=lambda _: None)
    run = tmp_path / "runs" / "sample"
    seen = (run / "seen.txt").read_text()  # results.csv as it was while darknet trained
    assert [row["iteration"] for row in csv.DictReader(io.StringIO(seen))] == ["1"]
    assert (run / "results.png").is_file()
    final = [row["iteration"] for row in csv.DictReader((run / "results.csv").open())]
    assert final == ["1", "2", "3"]
