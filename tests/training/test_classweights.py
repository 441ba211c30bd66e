"""train --class-weights: counters_per_class from the training labels; refused on pjreddie."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.darknet import replay_binary
from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import read_cfg
from yof_darknet.formats.objdata import read_obj_data
from yof_darknet.tools.darknet import probe
from yof_darknet.training.classweights import train_class_counts
from yof_darknet.training.options import TrainOptions
from yof_darknet.training.train import train

# A hank-ai CPU build that answers 'yes' and saves final weights: enough for train() to finish.
FAKE_TRAINER = """#!{python}
import pathlib, sys
sys.stdin.readline()
pathlib.Path("weights/yolov3-tiny_final.weights").write_bytes(bytes(20))
"""


def _counted_here(data: Path) -> list[int]:
    obj = read_obj_data(data)
    counts = [0] * obj.classes
    for line in obj.train.read_text().splitlines():
        for label in Path(line).with_suffix(".txt").read_text().splitlines():
            counts[int(label.split()[0])] += 1
    return counts


def test_pjreddie_is_refused_with_the_reason(tmp_path, tiny_data, debian_darknet):
    options = TrainOptions(profile="sample", class_weights=True, runs=tmp_path / "runs")
    with pytest.raises(DarknetError, match="does not read counters_per_class"):
        train(tiny_data, options, darknet=probe(debian_darknet), progress=False)
    assert not (tmp_path / "runs" / "sample" / "weights").exists()  # refused before anything


def test_every_yolo_layer_gets_the_training_counts(tmp_path, darknet_fixtures, tiny_data):
    version = (darknet_fixtures / "hankai" / "version.stdout.txt").read_text()
    fake = replay_binary(tmp_path / "hank", {"version": (version, "")})
    script = tmp_path / "hank" / "train"
    script.write_text(FAKE_TRAINER.format(python=sys.executable))
    script.chmod(0o755)
    darknet = replace(probe(fake), path=script)
    options = TrainOptions(
        profile="sample", class_weights=True, max_batches=10, runs=tmp_path / "runs"
    )
    printed: list[str] = []
    train(tiny_data, options, darknet=darknet, progress=False, echo=printed.append)
    counts = _counted_here(tiny_data)
    assert train_class_counts(tiny_data) == (counts, 0)
    want = ",".join(str(max(1, n)) for n in counts)
    heads = [
        s for s in read_cfg(tmp_path / "runs" / "sample" / "yolov3-tiny.cfg") if s.name == "yolo"
    ]
    assert len(heads) == 2
    assert all(head.options["counters_per_class"] == want for head in heads)
    assert any(f"counters_per_class={','.join(map(str, counts))}" in line for line in printed)


def test_repeated_train_lines_count_each_time(tmp_path, tiny_data):
    obj = read_obj_data(tiny_data)
    lines = obj.train.read_text().splitlines()
    doubled = tmp_path / "train.txt"
    doubled.write_text("".join(f"{line}\n{line}\n" for line in lines))
    data = tmp_path / "obj.data"
    data.write_text(tiny_data.read_text().replace(str(obj.train), str(doubled)))
    assert train_class_counts(data)[0] == [2 * n for n in _counted_here(tiny_data)]
