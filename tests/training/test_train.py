"""Real training with Debian's darknet (a few iterations), flags per flavor, failures, Ctrl-C."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.darknet import make_dataset, replay_binary
from tests.support.expw import make_expw
from tests.support.skips import NO_ALEXEYAB, alexeyab_darknet
from yof_darknet.core.errors import DarknetError
from yof_darknet.datasets.build import build_datasets, expw_job
from yof_darknet.datasets.split import VAL_OFF
from yof_darknet.formats.cfg import read_cfg
from yof_darknet.formats.objdata import read_obj_data, write_obj_data
from yof_darknet.formats.weights import read_header
from yof_darknet.tools.darknet import Darknet, probe
from yof_darknet.training.options import TrainOptions
from yof_darknet.training.train import newest_weights, prepare_run, train, train_command

TINY = ["width=64", "height=64", "batch=2", "subdivisions=1", "burn_in=1"]
ITERATION = re.compile(r"^(\d+): ([\d.]+), ([\d.]+) avg", re.MULTILINE)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _printed(log: Path, last_run_only: bool = False) -> list[tuple[int, float]]:
    text = log.read_text() if log.is_file() else ""
    if last_run_only:
        text = text.rpartition("# yof-darknet:")[2]
    return [(int(m[1]), float(m[2])) for m in ITERATION.finditer(text)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data, debian_darknet):
    runs = tmp_path_factory.mktemp("runs")
    darknet = probe(debian_darknet)
    options = TrainOptions(profile="sample", name="tiny", max_batches=3, overrides=TINY, runs=runs)
    first = train(tiny_data, options, darknet=darknet, progress=False)
    return darknet, runs, first


@pytest.mark.slow
def test_debian_darknet_trains_and_the_run_folder_has_everything(trained, tiny_data):
    _, runs, result = trained
    run = runs / "tiny"
    assert result.run_dir == run and not result.interrupted
    assert result.weights == run / "weights" / "yolov3-tiny_final.weights"
    assert read_header(result.weights).iterations(2) == 3
    for name in ("yolov3-tiny.cfg", "obj.data", "train.log", "results.csv", "results.png"):
        assert (run / name).is_file(), name
    assert read_obj_data(run / "obj.data").backup == (run / "weights").resolve()
    assert read_obj_data(run / "obj.data").train == read_obj_data(tiny_data).train
    assert read_obj_data(run / "obj.data").valid == tiny_data.parent / "val.txt"  # never test
    assert read_cfg(run / "yolov3-tiny.cfg")[0].get("width") == "64"
    rows = _csv(run / "results.csv")
    printed = _printed(run / "train.log")
    assert [(int(r["iteration"]), float(r["loss"])) for r in rows] == printed
    assert [p[0] for p in printed] == [1, 2, 3]
    assert (run / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_the_run_records_the_network_its_weights_belong_to(trained):
    _, runs, _ = trained
    record = json.loads((runs / "tiny" / "network.json").read_text())
    heads = [s for s in read_cfg(runs / "tiny" / "yolov3-tiny.cfg") if s.name == "yolo"]
    assert record["anchors"] == [[float(v) for v in h.get("anchors").split(",")] for h in heads]
    assert (record["cfg"], record["width"], record["classes"]) == ("yolov3-tiny.cfg", 64, [7, 7])


def test_a_run_name_that_leaves_runs_is_refused(tmp_path, tiny_data):
    for name in ("../x", "a/b", "..", ".", "/abs", "-x"):
        with pytest.raises(DarknetError, match="one folder name under --runs"):
            TrainOptions(name=name, runs=tmp_path / "runs")
    done = subprocess.run(
        [sys.executable, "-m", "yof_darknet", "train", "--data", str(tiny_data), "--name", "../x",
         "--runs", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and "one folder name under --runs" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_second_training_in_a_run_folder_is_refused(tmp_path, tiny_data, debian_darknet):
    """Two terminals (or make and SLURM) on one run: the second stops before darknet starts,
    naming the first."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom yof_darknet.core.owned import output_lock\n"
         "with output_lock(sys.argv[1]):\n    print('in', flush=True)\n    time.sleep(120)\n",
         str(tmp_path / "runs" / "same")], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "in\n"
        done = subprocess.run(
            [sys.executable, "-m", "yof_darknet", "train", "--data", str(tiny_data), "--name",
             "same", "--runs", str(tmp_path / "runs"), "--profile", "sample",
             "--darknet", str(debian_darknet), *(f"--set={s}" for s in TINY)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1, done.stderr
    assert f"another run is writing there (pid {holder.pid}" in done.stderr
    assert not (tmp_path / "runs" / "same" / "train.log").exists()


@pytest.mark.slow
def test_resume_continues_from_the_newest_weights(trained, tiny_data):
    darknet, runs, _ = trained
    with pytest.raises(DarknetError, match="already holds trained weights"):
        train(tiny_data, TrainOptions(profile="sample", name="tiny", runs=runs), darknet=darknet)
    with pytest.raises(DarknetError, match="darknet would stop at once"):
        resume = TrainOptions(name="tiny", resume=True, runs=runs)
        train(tiny_data, resume, darknet=darknet, progress=False)
    resume = TrainOptions(name="tiny", resume=True, max_batches=5, runs=runs)
    result = train(tiny_data, resume, darknet=darknet, progress=False)
    assert result.iterations == 5
    assert read_header(result.weights).iterations(2) == 5
    log = (runs / "tiny" / "train.log").read_text()
    commands = [line for line in log.splitlines() if line.startswith("# yof-darknet:")]
    assert len(commands) == 2 and commands[1].endswith("yolov3-tiny_final.weights")
    assert [int(r["iteration"]) for r in _csv(runs / "tiny" / "results.csv")] == [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_missing_label_stops_with_the_fix(tmp_path, debian_darknet):
    data = make_dataset(tmp_path / "set")
    (tmp_path / "set" / "img03.txt").unlink()
    with pytest.raises(DarknetError, match=r"img03\.txt \(an image list or a label file\)"):
        options = TrainOptions(
            profile="sample", max_batches=20, overrides=TINY, runs=tmp_path / "runs"
        )
        train(data, options, darknet=probe(debian_darknet), progress=False)


def test_flags_per_flavor(tmp_path):
    common = dict(version="x", has_map=True, has_calc_anchors=True, gpu=False)
    alexeyab = Darknet(Path("/dn"), "alexeyab", has_dont_show=True, has_map_flag=True, **common)
    pjreddie = Darknet(Path("/dn"), "pjreddie", has_dont_show=False, has_map_flag=False, **common)
    args = ["/dn", "detector", "train", "o.data", "c.cfg", "w.conv.15"]
    assert train_command(pjreddie, Path("o.data"), Path("c.cfg"), Path("w.conv.15")) == args
    assert train_command(alexeyab, Path("o.data"), Path("c.cfg"), Path("w.conv.15")) == [
        *args, "-dont_show", "-map",
    ]  # fmt: skip
    assert train_command(
        alexeyab, Path("o.data"), Path("c.cfg"), None, gpus="0,1", clear=True,
        map_during_training=False,
    ) == [*args[:5], "-dont_show", "-gpus", "0,1", "-clear"]  # fmt: skip


FAKE_HANKAI = """#!{python}
import pathlib, sys
pathlib.Path("argv.txt").write_text("\\n".join(sys.argv[1:]))
if sys.stdin.readline().strip() != "yes":
    print("Cancel the attempt to train a neural network using a CPU.")
    sys.exit(134)
sys.stdout.write(pathlib.Path({log!r}).read_text())
pathlib.Path("weights/yolov3-tiny_final.weights").write_bytes(bytes(20))
"""


def test_hankai_cpu_build_gets_yes_and_its_log_fills_results(tmp_path, darknet_fixtures, tiny_data):
    version = (darknet_fixtures / "hankai" / "version.stdout.txt").read_text()
    fake = replay_binary(tmp_path / "hank", {"version": (version, "")})
    log = darknet_fixtures / "hankai" / "train_map_finetune.stdout.txt"
    script = tmp_path / "hank" / "train"
    script.write_text(FAKE_HANKAI.format(python=sys.executable, log=str(log)))
    script.chmod(0o755)
    darknet = replace(probe(fake), path=script)  # probed as hank-ai, trains with the script
    options = TrainOptions(profile="sample", max_batches=40, runs=tmp_path / "runs")
    result = train(tiny_data, options, darknet=darknet, progress=False)
    run = tmp_path / "runs" / "sample"
    argv = (run / "argv.txt").read_text().split("\n")
    assert argv[-2:] == ["-dont_show", "-map"]
    rows = _csv(run / "results.csv")
    assert len(rows) == 40 and rows[-1]["map"] == "0.5274"
    assert result.weights == run / "weights" / "yolov3-tiny_final.weights"
    assert newest_weights(run / "weights") == result.weights


@pytest.mark.slow
def test_ctrl_c_stops_darknet_and_keeps_the_weights(tmp_path, trained, tiny_data, debian_darknet):
    _, runs, first = trained
    shutil.copytree(runs / "tiny", tmp_path / "runs" / "stop")
    saved = tmp_path / "runs" / "stop" / "weights" / first.weights.name
    done_before = read_header(saved).iterations(2)
    command = [
        shutil.which("yof-darknet", path=str(Path(sys.executable).parent)), "train",
        "--data", str(tiny_data), "--name", "stop", "--runs", str(tmp_path / "runs"),
        "--resume", "--max-batches", "400", "--darknet", str(debian_darknet),
        "--set", "learning_rate=0.0001",  # a tiny net at the sample's rate can diverge first
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "runs" / "stop" / "train.log"
    deadline = time.monotonic() + 60
    runs_before = log.read_text().count("# yof-darknet:")
    while time.monotonic() < deadline and (
        log.read_text().count("# yof-darknet:") == runs_before
        or len(_printed(log, last_run_only=True)) < 2
    ):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=240)
    assert process.returncode == 130, err
    assert "interrupted at iteration" in out and "--resume" in out
    marker = str(tmp_path / "runs" / "stop")
    leftovers = [
        p for p in Path("/proc").glob("[0-9]*/cmdline")
        if marker in p.read_bytes().decode(errors="replace") and p.parent.name != str(os.getpid())
    ]  # fmt: skip
    assert leftovers == []
    assert read_header(saved).iterations(2) == done_before
    iterations = [int(r["iteration"]) for r in _csv(tmp_path / "runs" / "stop" / "results.csv")]
    assert iterations == list(range(1, len(iterations) + 1))
    assert len(iterations) >= done_before + 2


@pytest.mark.slow
@pytest.mark.skipif(alexeyab_darknet() is None, reason=NO_ALEXEYAB)
def test_alexeyab_trains_with_map_during_training(tmp_path, tiny_data):
    darknet = probe(alexeyab_darknet())
    assert darknet.flavor == "alexeyab" and darknet.has_calc_anchors
    options = TrainOptions(profile="sample", max_batches=3, overrides=TINY, runs=tmp_path)
    said: list[str] = []
    result = train(tiny_data, options, darknet=darknet, progress=False, echo=said.append)
    log = (result.run_dir / "train.log").read_text()
    assert log.splitlines()[0].endswith("-dont_show -map")
    assert f"-map during training scores the validation list {tiny_data.parent / 'val.txt'}" in said
    assert read_obj_data(result.run_dir / "obj.data").valid == tiny_data.parent / "val.txt"
    rows = _csv(result.run_dir / "results.csv")
    assert [r["iteration"] for r in rows] == ["1", "2", "3"]
    assert rows[-1]["map"] != ""  # mAP is computed at max_batches
    assert result.weights.name == "yolov3-tiny_final.weights"


@pytest.mark.slow
@pytest.mark.skipif(alexeyab_darknet() is None, reason=NO_ALEXEYAB)
def test_alexeyab_without_a_validation_list_charts_nothing(tmp_path):
    """A dataset without ``val =`` (datasets --val-per-dataset 0, the paper's split): no -map, so
    the test list obj.data names is never scored while training."""
    data = make_dataset(tmp_path / "set")
    obj = read_obj_data(data)
    write_obj_data(data, replace(obj, extra={}))
    darknet = probe(alexeyab_darknet())
    options = TrainOptions(profile="sample", max_batches=2, overrides=TINY, runs=tmp_path / "runs")
    said: list[str] = []
    result = train(data, options, darknet=darknet, progress=False, echo=said.append)
    first = (result.run_dir / "train.log").read_text().splitlines()[0]
    assert first.endswith("-dont_show") and "-map" not in first
    run_obj = read_obj_data(result.run_dir / "obj.data")
    assert run_obj.valid is None and run_obj.extra == {"validation": "off"}
    assert any(line.startswith("no -map during training: ") for line in said)
    assert [r["map"] for r in _csv(result.run_dir / "results.csv")] == ["", ""]


def _darknet_children(marker: str) -> list[int]:
    """Pids of the darknet processes whose command line names ``marker`` (the run folder)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            args = cmdline.read_bytes().split(b"\0")
            if marker.encode() in b" ".join(args) and b"detector" in args:
                found.append(int(cmdline.parent.name))
    return found


@pytest.mark.slow
def test_a_killed_darknet_gets_the_cause_and_the_exact_resume_command(
    tmp_path, trained, tiny_data, debian_darknet
):
    _, runs, first = trained
    shutil.copytree(runs / "tiny", tmp_path / "my-runs" / "killed")
    run = tmp_path / "my-runs" / "killed"
    done_before = read_header(run / "weights" / first.weights.name).iterations(2)
    yof = shutil.which("yof-darknet", path=str(Path(sys.executable).parent))
    env = {**os.environ, "DARKNET": str(debian_darknet)}
    command = [
        yof, "train", "--data", str(tiny_data), "--name", "killed",
        "--runs", str(tmp_path / "my-runs"), "--resume", "--max-batches", str(done_before + 6),
        "--set", "learning_rate=0.0001",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)  # fmt: skip
    log = run / "train.log"
    runs_before = log.read_text().count("# yof-darknet:")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        log.read_text().count("# yof-darknet:") == runs_before
        or len(_printed(log, last_run_only=True)) < 1
    ):
        time.sleep(0.1)
    children = _darknet_children(str(run))
    assert children, "darknet did not start"
    for pid in children:
        os.kill(pid, signal.SIGKILL)  # what the OOM killer does
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "darknet was killed by SIGKILL" in lines[0] and "out-of-memory killer" in lines[0]
    hint = lines[0].split("continue with: ", 1)[1]
    expected = (f"yof-darknet train --data {tiny_data} --name killed --resume "
                f"--runs {tmp_path / 'my-runs'}")  # fmt: skip
    assert hint == expected
    assert _csv(run / "results.csv")  # what it printed before the kill is kept
    resumed = subprocess.run([yof, *shlex.split(hint)[1:]], capture_output=True, text=True,
                             env=env)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    final = run / "weights" / "yolov3-tiny_final.weights"
    assert read_header(final).iterations(2) == done_before + 6


def test_paths_darknet_cannot_use_are_refused_before_the_run_folder_is_made(
    tmp_path, debian_darknet
):
    spaced = make_dataset(tmp_path / "my set")
    darknet = probe(debian_darknet)
    with pytest.raises(DarknetError, match=r"train = .*my set.*holds whitespace"):
        train(
            spaced, TrainOptions(name="a", runs=tmp_path / "runs"), darknet=darknet, progress=False
        )
    assert not (tmp_path / "runs").exists()
    plain = make_dataset(tmp_path / "set")
    with pytest.raises(DarknetError, match=r"run folder .*my runs.*holds whitespace"):
        train(
            plain,
            TrainOptions(name="a", runs=tmp_path / "my runs"),
            darknet=darknet,
            progress=False,
        )
    with pytest.raises(DarknetError, match="256-byte buffer"):
        train(
            plain,
            TrainOptions(name="x" * 240, runs=tmp_path / "r"),
            darknet=darknet,
            progress=False,
        )
    assert not (tmp_path / "my runs").exists() and not (tmp_path / "r").exists()


def test_the_run_obj_data_names_the_validation_list_never_the_test_list(tmp_path):
    """The contract with ``datasets``: its obj.data's ``val =`` becomes the run's ``valid =``
    (what AlexeyAB's -map scores); a dataset without validation gives a run without ``valid =``."""
    sizes = {f"p{i:02d}.jpg": (64, 64) for i in range(30)}
    root = make_expw(
        tmp_path / "ExpW", [f"p{i:02d}.jpg 0 5 5 50 50 80.0 {i % 7}" for i in range(30)], sizes
    )
    out = tmp_path / "darknet"
    build_datasets([expw_job(root)], out, test_per_dataset=5)
    _, run_data = prepare_run(out / "obj.data", tmp_path / "runs" / "a", profile="sample")
    run_obj = read_obj_data(run_data)
    assert run_obj.valid == out / "val.txt" and run_obj.valid.is_symlink()  # the stable link
    assert run_obj.extra == {"val": str(out / "val.txt"), "validation": "from-training"}
    val = run_obj.valid.read_text().splitlines()
    assert len(val) == 2  # 10 % of 25 training images, rounded down
    assert not set(val) & set((out / "test.txt").read_text().splitlines())
    assert (
        run_obj.train == out / "train.txt"
        and run_obj.backup == (tmp_path / "runs" / "a" / "weights").resolve()
    )

    build_datasets([expw_job(root)], out, test_per_dataset=5, val=VAL_OFF)
    _, run_data = prepare_run(out / "obj.data", tmp_path / "runs" / "b", profile="sample")
    run_obj = read_obj_data(run_data)
    assert run_obj.valid is None and run_obj.extra == {"validation": "off"}
    assert "valid =" not in run_data.read_text()


def test_list_lines_a_shell_would_interpret_are_refused_before_the_run(tmp_path, debian_darknet):
    """Darknet hands the path of an image it cannot load to its shell: a hand-made train list
    naming such a file is refused, naming the line; the run folder is never made."""
    data = make_dataset(tmp_path / "set")
    image = tmp_path / "set" / "img03.jpg"
    hostile = image.with_name("img$(touch${IFS}X).jpg")
    image.rename(hostile)
    image.with_suffix(".txt").rename(hostile.with_suffix(".txt"))
    listing = tmp_path / "set" / "train.txt"
    listing.write_text(listing.read_text().replace(str(image), str(hostile)))
    with pytest.raises(DarknetError, match=r"train\.txt:4: .* holds '\$', '\(', '\)', '\{', '\}'"):
        train(data, TrainOptions(name="a", runs=tmp_path / "runs"), darknet=probe(debian_darknet),
              progress=False)  # fmt: skip
    assert not (tmp_path / "runs").exists()
