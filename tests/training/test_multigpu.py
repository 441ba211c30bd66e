"""`train --gpus`: the profile's schedule kept on N GPUs (rate / N, iterations / N after a
one-GPU burn-in), planned once per run, and run for real with Debian's darknet."""

from __future__ import annotations

import json
import re

import pytest

from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import net, parse_cfg, read_cfg
from yof_darknet.formats.weights import read_header
from yof_darknet.tools.darknet import probe
from yof_darknet.training import multigpu
from yof_darknet.training.options import TrainOptions
from yof_darknet.training.profiles import generate_cfg
from yof_darknet.training.train import train

TINY = ("width=64", "height=64", "batch=2", "subdivisions=1")  # as tests/training/test_train.py


def test_paper_schedule_on_two_gpus_sees_the_same_images_at_the_same_rate():
    paper = parse_cfg(generate_cfg(7, "paper"))
    schedule = multigpu.GpuSchedule(gpus=2, anchor=1000)
    head = net(multigpu.adjust(paper, schedule))
    # 1000 iterations x 64 images on one GPU, then 6500 x 128 = 13000 x 64: 14000 x 64 in all
    assert head.get("max_batches") == "7500"
    assert head.get("steps") == "6100,6800"  # 11200 and 12600 one-GPU iterations
    assert float(head.get("learning_rate")) * 2 == pytest.approx(0.001)  # darknet doubles it
    assert head.get("burn_in") == "1000" and head.get("batch") == "64"
    assert net(paper).get("max_batches") == "14000"  # the run's own cfg is left alone
    assert net(multigpu.burn_in_cfg(paper, schedule)).get("max_batches") == "1000"


def test_four_gpus_and_a_late_anchor():
    schedule = multigpu.GpuSchedule(gpus=4, anchor=5000)
    assert [schedule.iteration(x) for x in (4000, 5000, 5001, 14000)] == [4000, 5000, 5001, 7250]


def test_plan_is_recorded_and_a_resume_must_keep_the_gpu_count(tmp_path):
    assert multigpu.plan(tmp_path, 2, start=0, burn_in=1000) == multigpu.GpuSchedule(2, 1000)
    assert json.loads((tmp_path / "gpus.json").read_text()) == {"gpus": 2, "anchor": 1000}
    assert multigpu.plan(tmp_path, 2, start=3000, burn_in=1000).anchor == 1000  # as planned
    with pytest.raises(DarknetError, match="trains on 2 GPU"):
        multigpu.plan(tmp_path, 4, start=3000, burn_in=1000)
    assert multigpu.plan(tmp_path / "late", 2, start=3000, burn_in=1000).anchor == 3000


def test_other_policies_are_refused():
    sections = parse_cfg(generate_cfg(7, "paper", ["policy=poly"]))
    with pytest.raises(DarknetError, match="policy=poly"):
        multigpu.adjust(sections, multigpu.GpuSchedule(2, 1000))


@pytest.mark.slow
def test_two_gpus_burn_in_on_the_first_then_continue_on_both(tmp_path, tiny_data, debian_darknet):
    # Debian's darknet is a CPU build: it accepts -gpus and trains on the CPU, so the phases,
    # cfgs and commands are the real ones (only the arithmetic runs on one device)
    options = TrainOptions(
        profile="sample", max_batches=6, overrides=(*TINY, "burn_in=2"), gpus="0,1",
        runs=tmp_path,
    )  # fmt: skip
    result = train(tiny_data, options, darknet=probe(debian_darknet), progress=False)
    run = tmp_path / "sample"
    commands = [
        line for line in (run / "train.log").read_text().splitlines()
        if line.startswith("# yof-darknet:")
    ]  # fmt: skip
    assert len(commands) == 2
    assert "burn-in/obj.data" in commands[0] and commands[0].endswith("-gpus 0")
    assert "gpus/yolov3-tiny.cfg" in commands[1] and commands[1].endswith("-gpus 0,1")
    assert re.search(r"burn-in/yolov3-tiny_final\.weights", commands[1])
    assert net(read_cfg(run / "burn-in" / "yolov3-tiny.cfg")).get("max_batches") == "2"
    both = net(read_cfg(run / "gpus" / "yolov3-tiny.cfg"))
    assert both.get("max_batches") == "4" and both.get("steps") == "3,4"  # 4.8 and 5.4 → /2
    assert net(read_cfg(run / "yolov3-tiny.cfg")).get("max_batches") == "6"
    assert result.weights == run / "weights" / "yolov3-tiny_final.weights"
    assert read_header(result.weights).iterations(2) >= 4
    with pytest.raises(DarknetError, match="resume it with --gpus"):
        train(tiny_data, TrainOptions(name="sample", resume=True, runs=tmp_path))
