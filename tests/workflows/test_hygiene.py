"""make hygiene: keep and mask trained the same way, repeated, scored on one raw test list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.fileio import sha256_file
from yof_darknet.datasets.options import DatasetsOptions
from yof_darknet.training.options import TrainOptions
from yof_darknet.workflows.hygiene import hygiene, mode_options, run_name
from yof_darknet.workflows.pipeline import ReproduceOptions


def test_each_mode_and_repeat_gets_its_run_and_the_modes_their_datasets() -> None:
    base = ReproduceOptions(expw=Path("ExpW"), train=TrainOptions(profile="sample"))
    assert [run_name("cpu", m, r) for m in ("keep", "mask") for r in (1, 2)] == [
        "cpu", "cpu-r2", "cpu-mask", "cpu-mask-r2",
    ]  # fmt: skip
    keep, mask2 = mode_options(base, "keep", 1), mode_options(base, "mask", 2)
    assert keep.run_dir == Path("runs/sample") and mask2.run_dir == Path("runs/sample-mask-r2")
    assert keep.data_dir == Path("data/darknet") and mask2.data_dir == Path("data/darknet-mask")
    assert (keep.datasets.unannotated, mask2.datasets.unannotated) == ("keep", "mask")
    sample = mode_options(ReproduceOptions(), "mask", 1)  # the embedded sample, as before
    assert sample.run_dir == Path("runs/sample-mask")
    assert sample.data_dir == Path("data/sample-darknet-mask")
    named = ReproduceOptions(data=Path("d/x"), train=TrainOptions(profile="sample", name="try"))
    assert mode_options(named, "mask", 3).run_dir == Path("runs/try-mask-r3")
    assert mode_options(named, "mask", 3).data_dir == Path("d/x-mask")


def test_a_mode_given_by_hand_is_refused_before_any_training() -> None:
    base = ReproduceOptions(datasets=DatasetsOptions(unannotated="mask"))
    with pytest.raises(DatasetError, match="drop --unannotated mask"):
        hygiene(base, echo=lambda _: None)


def _hygiene(cwd: Path, expw: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "YOF_WEIGHTS_URL": "http://127.0.0.1:9/yolov3-tiny.weights"}
    args = [sys.executable, "-m", "yof_darknet", "hygiene", "--expw", str(expw)]
    args += ["--profile", "sample", "--repeats", "2", "--test-per-dataset", "8"]
    args += ["--set", "width=64", "--set", "height=64", "--set", "batch=2", "--max-batches", "3"]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_hygiene_on_a_users_dataset_repeats_each_mode_and_resumes(tmp_path, debian_darknet):
    from yof_darknet.samples.write import write_sample

    expw = write_sample(tmp_path / "raw", images=40).expw.root
    raw_files = {p: sha256_file(p) for p in sorted(expw.rglob("*")) if p.is_file()}
    done = _hygiene(tmp_path, expw)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert {p: sha256_file(p) for p in raw_files} == raw_files  # the raw data untouched

    runs = tmp_path / "runs"
    names = ["sample", "sample-r2", "sample-mask", "sample-mask-r2"]
    raw_test = (tmp_path / "data" / "darknet" / "test.txt").read_text().split()
    faces = sum(len(Path(p).with_suffix(".txt").read_text().splitlines()) for p in raw_test)
    maps, face_aps = [], []
    for name in names:
        assert (runs / name / "weights" / "yolov3-tiny_final.weights").is_file(), name
        table = json.loads((runs / name / "map-raw-test" / "table2.json").read_text())
        assert table["ground_truth"] == faces  # every model on the same raw test list
        # the weights reproduce reports (profile sample: best on the run's validation list)
        assert "chosen on the validation list" in " ".join(table["selection"])
        maps.append(table["map"])
        face_aps.append(table["face_ap"])
    stats = json.loads((tmp_path / "data" / "darknet-mask" / "stats.json").read_text())
    assert stats["options"]["unannotated"] == "mask" and stats["options"]["seed"] == 0
    assert (tmp_path / "data" / "darknet-mask" / "test.txt").read_text().count("\n") == 8

    markdown = (runs / "sample-mask" / "hygiene.md").read_text()
    assert markdown in done.stdout
    assert "profile sample, 2 runs each, same raw test list" in markdown
    assert f"- keep: sample {maps[0] * 100:.2f}, sample-r2 {maps[1] * 100:.2f}; mean" in markdown
    assert (
        f"- mask: sample-mask {maps[2] * 100:.2f}, sample-mask-r2 {maps[3] * 100:.2f}" in markdown
    )
    record = json.loads((runs / "sample-mask" / "hygiene.json").read_text())
    assert record["map"] == {"keep": maps[:2], "mask": maps[2:]} and record["repeats"] == 2
    assert record["face_ap"] == {"keep": face_aps[:2], "mask": face_aps[2:]}
    assert all(0.0 <= v <= 1.0 for v in face_aps)
    assert "| face AP (any class) |" in markdown

    again = _hygiene(tmp_path, expw)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("training already finished") == 4
    assert again.stdout.count("already scored") == 4
    assert (runs / "sample-mask" / "hygiene.md").read_text() == markdown
