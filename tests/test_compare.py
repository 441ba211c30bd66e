from __future__ import annotations

import json

import pytest

from yof_darknet.compare import (
    CompareOptions,
    CompareResult,
    compare,
    compose_frame,
    face_photos,
    render_compare,
    time_engines,
)
from yof_darknet.faces import create_detector


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
