from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from yof_darknet.core.errors import DarknetError
from yof_darknet.tools.faces import create_detector
from yof_darknet.workflows.compare import (
    CompareOptions,
    CompareResult,
    classifier_profile,
    compare,
    compose_frame,
    face_photos,
    render_compare,
    time_engines,
)


@pytest.mark.parametrize("faces", [1, 5])
def test_the_timing_frames_hold_that_many_real_faces(faces):
    frame = compose_frame(faces, face_photos())
    assert frame.shape == (480, 640, 3)
    assert len(create_detector(threshold=0.5).detect(frame)) == faces


class _Recorder:
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def detect(self, image, thresh, nms):
        self.calls.append(f"{self.name}{image}")
        return []


def test_engines_are_timed_interleaved_after_two_warm_up_rounds():
    calls: list[str] = []
    engines = {"a": _Recorder("a", calls), "b": _Recorder("b", calls)}
    ms = time_engines(engines, {1: "1", 5: "5"}, rounds=3)
    assert calls[:4] == ["a1", "b1", "a5", "b5"] and len(calls) == 4 * 5
    assert set(ms) == {"a", "b"} and all(
        set(v) == {1, 5} and min(v.values()) >= 0 for v in ms.values()
    )


def test_the_side_by_side_table_by_hand():
    result = CompareResult(
        ap={"single-stage": {"anger": 0.5, "mAP": 0.5}, "cascade": {"anger": 0.25, "mAP": 0.25}},
        accuracy=0.75,
        ms={"single-stage": {1: 50.0, 5: 50.0}, "cascade": {1: 10.0, 5: 25.0}},
        found={"single-stage": {1: 1, 5: 4}, "cascade": {1: 1, 5: 5}},
        backend={"single-stage": "cpu", "cascade": "cpu"},
    )
    table = render_compare(result)
    assert "| anger | 50.00 | 25.00 |" in table and "| **mAP** | 50.00 | 25.00 |" in table
    assert "| 5 face(s) | 20.0 (50.0 ms, 4 found) | 40.0 (25.0 ms, 5 found) |" in table
    assert "75.00 % correct" in table
    assert "face AP" not in table  # no evaluator recorded one
    result.face_ap = {"single-stage": 0.625, "cascade": 0.875}
    assert "| face AP (any class) | 62.50 | 87.50 |" in render_compare(result)


def test_an_ultralytics_model_is_a_third_column():
    result = CompareResult(
        ap={
            "single-stage": {"anger": 0.5, "mAP": 0.5},
            "cascade": {"anger": 0.25, "mAP": 0.25},
            "ultralytics": {"anger": 0.75, "mAP": 0.75},
        },
        accuracy=0.75,
        ms={e: {1: 50.0, 5: 50.0} for e in ("single-stage", "cascade", "ultralytics")},
        found={e: {1: 1, 5: 4} for e in ("single-stage", "cascade", "ultralytics")},
        backend={"single-stage": "cpu", "cascade": "cpu", "ultralytics": "cpu"},
    )
    table = render_compare(result)
    assert "| Expression | Single-stage AP (%) | Cascade AP (%) | Ultralytics AP (%) |" in table
    assert "| **mAP** | 50.00 | 25.00 | 75.00 |" in table
    assert "| 1 face(s) | " + " | ".join(["20.0 (50.0 ms, 1 found)"] * 3) + " |" in table


def test_compare_scores_and_times_both_models_on_one_test_list(
    tiny_model, tiny_classifier, tmp_path
):
    options = CompareOptions(
        tiny_classifier.data,
        tiny_model.cfg,
        tiny_model.weights,
        tiny_classifier.cfg,
        tiny_classifier.weights,
        tmp_path / "cmp",
        rounds=1,
        threads=1,
    )
    result = compare(options, echo=lambda _: None)
    record = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert record["ap"] == result.ap and set(result.ap) == {"single-stage", "cascade"}
    for aps in result.ap.values():
        assert len(aps) == 8 and all(0.0 <= v <= 1.0 for v in aps.values())
    assert result.found["cascade"] == {1: 1, 5: 5}  # the real faces, whatever the classifier
    assert (tmp_path / "cmp" / "single-stage" / "table2.md").is_file()
    assert (tmp_path / "cmp" / "cascade" / "face_accuracy.json").is_file()
    # the class-agnostic face AP of both, by the same evaluator: in compare.json and .md
    assert record["face_ap"] == result.face_ap
    assert all(0.0 <= v <= 1.0 for v in result.face_ap.values() if v is not None)
    assert None not in result.face_ap.values()
    assert "| face AP (any class) |" in (tmp_path / "cmp" / "compare.md").read_text()
    cascade = json.loads((tmp_path / "cmp" / "cascade" / "table2.json").read_text())
    assert cascade["face_ap"] == result.face_ap["cascade"]
    assert "Face AP (every class merged" in (tmp_path / "cmp" / "cascade" / "table2.md").read_text()


def test_the_classifier_profile_goes_with_the_detector_profile():
    assert classifier_profile("sample") == "sample" and classifier_profile("cpu") == "cpu"
    assert classifier_profile("sample", "cpu") == "cpu"
    with pytest.raises(DarknetError, match="choose one with --classifier-profile"):
        classifier_profile("gpu-check")


@pytest.mark.slow
def test_compare_trains_both_on_a_users_dataset_and_resumes(tmp_path, debian_darknet):
    from yof_darknet.samples.write import write_sample

    expw = write_sample(tmp_path / "raw", images=40).expw.root
    env = {**os.environ, "YOF_WEIGHTS_URL": "http://127.0.0.1:9/yolov3-tiny.weights"}
    args = [sys.executable, "-m", "yof_darknet", "compare", "--expw", str(expw)]
    args += ["--profile", "sample", "--test-per-dataset", "8", "--max-batches", "3"]
    args += ["--set", "width=64", "--set", "height=64", "--set", "batch=2", "--rounds", "1"]
    args += ["--classifier-set", "max_batches=3", "--classifier-set", "batch=4"]
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    runs, data = tmp_path / "runs", tmp_path / "data"
    assert (runs / "sample" / "weights" / "yolov3-tiny_final.weights").is_file()
    crops = json.loads((data / "darknet-crops" / "crops.json").read_text())
    train = (data / "darknet" / "train.txt").read_text().split()
    assert {c["image"] for c in crops["train"]} == set(train)  # the detector's training images
    assert "max_batches=3" in (runs / "sample-cascade" / "expression-classifier.cfg").read_text()
    record = json.loads((runs / "sample-compare" / "compare.json").read_text())
    assert set(record["ap"]) == {"single-stage", "cascade"} and set(record["face_ap"]) == {
        "single-stage",
        "cascade",
    }
    assert (runs / "sample-compare" / "compare.md").read_text() in done.stdout
    assert "| 5 face(s) |" in done.stdout

    again = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "training already finished" in again.stdout and "already trained" in again.stdout
