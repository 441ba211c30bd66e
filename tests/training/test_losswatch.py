"""The loss watch: an average loss that climbs far above its running minimum without reaching NaN
is reported (progress, train.log, results.csv) and, past the limit, stops the run with the fix.

Real curves: ``tests/fixtures/losswatch`` (Debian's darknet made to explode on the tests' tiny
dataset; the sample profile on real ExpW faces, healthy with bad batches) and the healthy
training logs of all three flavors in tests/fixtures/darknet.
"""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support import ROOT
from yof_darknet.cli import main
from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import parse_cfg
from yof_darknet.formats.trainlog import TrainLine, parse_train_line, records
from yof_darknet.tools.darknet import Darknet
from yof_darknet.training.losswatch import (
    SETTLE_ITERATIONS,
    WARN_RISE,
    LossWatch,
    fix_settings,
)
from yof_darknet.training.options import TrainOptions
from yof_darknet.training.process import LossExploded
from yof_darknet.training.profiles import generate_cfg
from yof_darknet.training.train import train
from yof_darknet.training.trainprogress import TrainProgress

FIXTURES = ROOT / "tests" / "fixtures" / "losswatch"
# Debian's darknet, tests' tiny dataset, learning_rate=0.01 burn_in=60: avg loss from 14 down to
# 7.95 (iteration 31), then up to inf at iteration 68 (README.md there)
EXPLOSION = FIXTURES / "tiny-explosion.pjreddie.txt"
# Debian's darknet, the sample profile on 2,534 real ExpW images, 250 iterations: healthy, with
# bad batches (README.md there)
REAL_EXPW = FIXTURES / "expw-sample.pjreddie.txt"
EXPLODE = ["width=64", "height=64", "batch=2", "subdivisions=1", "burn_in=60"]
FIXES = ["learning_rate=0.002", "burn_in=240", "batch=4", "subdivisions=2"]


def _curve(path: Path) -> list[TrainLine]:
    return [line for text in path.read_text().splitlines() if (line := parse_train_line(text))]


def _events(lines: list[TrainLine], max_rise: float = 10.0) -> list[tuple[str, int]]:
    watch = LossWatch(max_rise, FIXES)
    return [(e.kind, e.iteration) for line in lines if (e := watch.observe(line))]


def _expected_rises(lines: list[TrainLine]) -> dict[int, float]:
    """avg loss / the lowest avg loss since the watch started judging, computed here."""
    first, low, rises = lines[0].iteration, math.inf, {}
    for line in lines:
        if line.iteration - first >= SETTLE_ITERATIONS and math.isfinite(line.avg_loss):
            low = min(low, line.avg_loss)
            rises[line.iteration] = line.avg_loss / low
    return rises


def test_the_recorded_explosion_warns_then_stops_before_it_reaches_infinity():
    lines = _curve(EXPLOSION)
    assert [line.iteration for line in lines] == list(range(1, 69))
    assert math.isinf(lines[-1].avg_loss)  # what the NaN check alone would have waited for
    assert _events(lines) == [("warn", 49), ("stop", 54)]
    watch = LossWatch(10.0, FIXES)
    for line in lines[:54]:
        event = watch.observe(line)
    assert event is not None and event.kind == "stop"
    assert (event.minimum, event.minimum_at) == (7.948651, 31)
    assert event.rise == pytest.approx(85.970024 / 7.948651)
    assert watch.rise == pytest.approx(_expected_rises(lines)[54])


def test_the_first_iterations_are_not_judged_however_the_loss_moves():
    lines = _curve(EXPLOSION)
    watch = LossWatch(10.0, FIXES)
    for line in lines[:SETTLE_ITERATIONS]:
        assert watch.observe(line) is None and watch.rise is None
    # an early climb from a low first batch (avg x 5 in 10 iterations) is still settling
    early = [TrainLine(i, 1.0, 1.0 + i * 0.5, 0.0, 1.0, 8 * i) for i in range(1, 20)]
    assert _events(early) == []


def test_a_limit_of_zero_never_stops_but_still_warns():
    assert _events(_curve(EXPLOSION), max_rise=0) == [("warn", 49)]


def test_back_below_the_warning_level_is_said_with_the_peak():
    values = [10.0] * 25 + [4.0] * 5 + [15.0] * 3 + [5.0] * 5  # min 4, up to 3.75x, back
    lines = [TrainLine(i + 1, v, v, 0.001, 1.0, 8) for i, v in enumerate(values)]
    watch = LossWatch(10.0, FIXES)
    events = [e for line in lines if (e := watch.observe(line))]
    assert [(e.kind, e.iteration) for e in events] == [("warn", 31), ("calm", 34)]
    assert events[1].peak == pytest.approx(3.75)
    assert "back under 3x its minimum at iteration 34" in watch.warning(events[1])


def test_staying_above_the_warning_level_stops_the_run_too():
    values = [2.0] * 30 + [7.0] * 200  # 3.5x its minimum, never 10x
    lines = [TrainLine(i + 1, v, v, 0.001, 1.0, 8) for i, v in enumerate(values)]
    assert _events(lines) == [("warn", 31), ("stop", 131)]
    watch = LossWatch(10.0, FIXES)
    stop = next(e for line in lines if (e := watch.observe(line)) and e.kind == "stop")
    assert stop.sustained


def test_the_real_expw_curve_with_its_bad_batches_never_warns():
    lines = _curve(REAL_EXPW)
    assert [line.iteration for line in lines] == list(range(1, 251))
    assert _events(lines) == []
    rises = _expected_rises(lines)
    assert max(rises, key=rises.__getitem__) == 198
    assert 2.2 < max(rises.values()) < WARN_RISE  # one bad batch: the closest a healthy run came
    # the average as darknet printed it from iteration 1: up from 28.7 to 30.1 while the rate is
    # still ~0 (what the first iterations may do), then down to 1.45
    assert max(line.avg_loss for line in lines[:15]) / lines[0].avg_loss > 1.04
    assert min(line.avg_loss for line in lines) == 1.452215


@pytest.mark.parametrize(
    "name",
    [
        "debian/train.stdout.txt",
        "alexeyab/train_map.stdout.txt",
        "hankai/train_map_finetune110.stdout.txt",
        "hankai/train_map.stdout.txt",
    ],
)
def test_healthy_real_runs_of_every_flavor_never_warn(darknet_fixtures, name):
    lines = [r.line for r in records(darknet_fixtures.joinpath(name).read_text().splitlines())]
    assert len(lines) >= 40
    assert _events(lines) == []
    rises = _expected_rises(lines)
    assert max(rises.values(), default=1.0) < 1.4  # far below WARN_RISE


ALEXEYAB_LINE = (
    "\x1b[H\x1b[J{it}/400: loss=0.0 hours left=1.0\x07\n"
    " {it}: {loss:f}, {avg:f} avg loss, {lr:f} rate, {sec:f} seconds, {images} images, "
    "1.000000 hours left\n"
)
HANKAI_LINE = (
    "\x1b]2;{it}/400: loss=0.0 map=0.00 best=0.00 time=1.00 hours\x07"
    "{it}: loss={loss:.3f}, avg loss={avg:.3f}, last=none, best=none, mAP=100, "
    "rate={lr:.8f}, load 8=11.9 milliseconds, train={sec:.1f} seconds, {images} images, "
    "time remaining=39\n"
)


@pytest.mark.parametrize("template", [ALEXEYAB_LINE, HANKAI_LINE], ids=["alexeyab", "hank-ai"])
def test_the_explosion_printed_by_another_flavor_gives_the_same_events(template):
    lines = _curve(EXPLOSION)
    text = "".join(
        template.format(
            it=t.iteration, loss=t.loss, avg=t.avg_loss, lr=t.lr, sec=t.seconds, images=t.images
        )
        for t in lines[:60]
    )
    parsed = [r.line for r in records(text.splitlines())]
    assert [p.iteration for p in parsed] == list(range(1, 61))
    assert _events(parsed) == [("warn", 49), ("stop", 54)]


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("sample", ["learning_rate=0.001", "burn_in=200", "batch=16", "subdivisions=2"]),
        ("paper", ["learning_rate=0.0002", "burn_in=4000", "batch=128", "subdivisions=32"]),
        ("cpu", ["learning_rate=0.0004", "burn_in=1600", "batch=32", "subdivisions=2"]),
    ],
)
def test_the_fix_is_computed_from_the_run_cfg_of_every_profile(profile, expected):
    assert fix_settings(parse_cfg(generate_cfg(7, profile))) == expected


def test_the_progress_says_it_at_once_and_in_every_line_while_it_rises():
    out, now = io.StringIO(), [0.0]
    progress = TrainProgress(100, stream=out, interval_s=3600, clock=lambda: now[0])
    progress.iteration(TrainLine(49, 61.2, 28.5, 0.01, 1.0, 98))
    progress.loss_warning("LOSS RISING: avg loss 28.500 at iteration 49 is 3.6x ...")
    now[0] = 2.0
    progress.iteration(TrainLine(50, 90.0, 34.6, 0.01, 1.0, 100), rising=4.35)
    progress.close()
    assert out.getvalue().splitlines() == [
        "train: LOSS RISING: avg loss 28.500 at iteration 49 is 3.6x ...",
        "train: iteration 50/100 (50.0 %), avg loss 34.600 (LOSS RISING: 4.3x its minimum), "
        "1.0 images/s, ETA 0:01:40",
    ]


REPLAY = """#!{python}
import os, pathlib, sys, time
pathlib.Path("darknet.pid").write_text(str(os.getpid()))
for text in pathlib.Path({log!r}).read_text().splitlines():
    print(text, flush=True)
    if text.startswith("50:"):  # darknet saves weights now and then
        pathlib.Path("weights/yolov3-tiny.backup").write_bytes(bytes(20))
    time.sleep(0.01)
time.sleep(600)  # a darknet that trains on: it must be stopped
"""


def _replaying_darknet(folder: Path, log: Path) -> Darknet:
    script = folder / "darknet"
    folder.mkdir(parents=True, exist_ok=True)
    script.write_text(REPLAY.format(python=sys.executable, log=str(log)))
    script.chmod(0o755)
    return Darknet(script, "pjreddie", "test", False, False, False, False, False)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_replayed_explosion_stops_darknet_keeps_the_weights_and_says_the_fix(tmp_path, tiny_data):
    darknet = _replaying_darknet(tmp_path / "bin", EXPLOSION)
    runs = tmp_path / "runs"
    options = TrainOptions(
        profile="sample", name="boom", max_batches=120, runs=runs,
        overrides=(*EXPLODE, "learning_rate=0.01"),
    )  # fmt: skip
    with pytest.raises(LossExploded) as raised:
        train(tiny_data, options, darknet=darknet, progress=False, echo=lambda _: None)
    message = str(raised.value)
    run = runs / "boom"
    assert message.startswith(
        "training stopped: the loss exploded without reaching NaN: avg loss 85.970 at iteration "
        "54 is 10.8x its minimum 7.949 (iteration 31), past the limit of 10x (--max-loss-rise)."
    )
    assert (
        "try a lower learning rate (--set learning_rate=0.002), a longer burn-in "
        "(--set burn_in=240) or a larger batch (--set batch=4 --set subdivisions=2)"
    ) in message
    assert message.endswith(
        f"continue with: yof-darknet train --data {tiny_data} --name boom --resume "
        f"--runs {runs} --set learning_rate=0.002 --set burn_in=240"
    )
    pid = int((run / "darknet.pid").read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)  # stopped, not left running
    assert (run / "weights" / "yolov3-tiny.backup").stat().st_size == 20  # kept
    log = (run / "train.log").read_text().splitlines()
    ours = [i for i, line in enumerate(log) if line.startswith("# yof-darknet: LOSS")]
    assert [log[i].split(":")[1].strip() for i in ours] == ["LOSS RISING", "LOSS STOP"]
    assert log[ours[0]].startswith("# yof-darknet: LOSS RISING: avg loss 28.425 at iteration 49")
    assert log.index(next(x for x in log if x.startswith("49:"))) < ours[0]
    assert ours[1] == len(log) - 1 and log[ours[1]].endswith(message.split(" (full log:")[0])
    rows = {int(r["iteration"]): r for r in _csv(run / "results.csv")}
    expected = _expected_rises(_curve(EXPLOSION))
    assert all(rows[i]["loss_rise"] == "" for i in range(1, SETTLE_ITERATIONS + 1))
    for iteration in range(SETTLE_ITERATIONS + 1, 55):
        assert float(rows[iteration]["loss_rise"]) == pytest.approx(expected[iteration], abs=1e-4)
    assert float(rows[54]["loss_rise"]) > 10 > float(rows[53]["loss_rise"])


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except OSError:
        return "gone"


def test_replayed_explosion_with_the_limit_off_runs_on_to_the_nan_check(tmp_path, tiny_data):
    darknet = _replaying_darknet(tmp_path / "bin", EXPLOSION)
    options = TrainOptions(
        profile="sample", name="on", max_batches=120, runs=tmp_path / "runs", max_loss_rise=0,
        overrides=(*EXPLODE, "learning_rate=0.01"),
    )  # fmt: skip
    with pytest.raises(DarknetError, match="training diverged: avg loss is inf at iteration 68"):
        train(tiny_data, options, darknet=darknet, progress=False, echo=lambda _: None)
    log = (tmp_path / "runs" / "on" / "train.log").read_text()
    assert "# yof-darknet: LOSS RISING:" in log and "--max-loss-rise 0: the run goes on" in log
    assert "LOSS STOP" not in log


def test_the_option_and_its_help_in_train_and_reproduce(tiny_data):
    runner = CliRunner()
    for command in ("train", "reproduce"):
        text = " ".join(runner.invoke(main, [command, "--help"]).output.split())
        assert "--max-loss-rise X" in text
        assert f"stays above {WARN_RISE:g}x it for long" in text and "0: never stop" in text
    refused = runner.invoke(main, ["train", "--data", str(tiny_data), "--max-loss-rise", "-1"])
    assert refused.exit_code == 2 and "--max-loss-rise" in refused.output


def _darknet_left(marker: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in b" ".join(args) and b"detector" in args:
            found.append(int(cmdline.parent.name))
    return found


@pytest.mark.slow
def test_debian_darknet_made_to_explode_is_stopped_with_the_fix(
    tmp_path, tiny_data, debian_darknet
):
    runs = tmp_path / "runs"
    command = [
        shutil.which("yof-darknet", path=str(Path(sys.executable).parent)), "train",
        "--data", str(tiny_data), "--profile", "sample", "--max-batches", "120",
        "--runs", str(runs), "--name", "boom", "--darknet", str(debian_darknet),
        *(arg for item in (*EXPLODE, "learning_rate=0.01") for arg in ("--set", item)),
    ]  # fmt: skip
    env = {**os.environ, "YOF_PROGRESS_SECONDS": "3600"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 1, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert errors[0].startswith("error: training stopped: the loss exploded without reaching NaN")
    assert "--set learning_rate=0.002" in errors[0] and "--set burn_in=240" in errors[0]
    assert "train: LOSS RISING: avg loss" in done.stderr  # said as it happened
    assert _darknet_left(str(runs / "boom")) == []
    rows = _csv(runs / "boom" / "results.csv")
    assert all(math.isfinite(float(r["avg_loss"])) for r in rows)  # stopped before NaN/inf
    assert int(rows[-1]["iteration"]) < 120 and float(rows[-1]["loss_rise"]) > 10
    log = (runs / "boom" / "train.log").read_text().splitlines()
    assert log[-1].startswith("# yof-darknet: LOSS STOP: training stopped")
