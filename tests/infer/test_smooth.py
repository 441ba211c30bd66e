from __future__ import annotations

import numpy as np
import pytest

from yof_darknet.core.expressions import CLASSES
from yof_darknet.infer.detector import Detection
from yof_darknet.infer.smooth import Smoother, merge_faces
from yof_darknet.infer.tracker import Tracker, iou_matrix

HAPPY, SAD = CLASSES.index("happiness"), CLASSES.index("sadness")


def _det(class_id: int, score: float, x: float, y: float = 20.0, side: float = 40.0) -> Detection:
    return Detection(class_id, CLASSES[class_id], score, (x, y, x + side, y + side))


def _sequence() -> list[list[Detection]]:
    """A face drifting right, happy in every frame except frame 5, where sadness wins."""
    frames = []
    for index in range(10):
        x = 10.0 + 2 * index
        if index == 5:
            frames.append([_det(SAD, 0.7, x), _det(HAPPY, 0.3, x + 1)])
        else:
            frames.append([_det(HAPPY, 0.8, x), _det(SAD, 0.1, x)])
    return frames


def test_one_flipped_frame_keeps_the_smoothed_label():
    frames = _sequence()
    raw_top = [max(f, key=lambda d: d.score).name for f in frames]
    assert raw_top[5] == "sadness" and raw_top.count("happiness") == 9
    smoother = Smoother(CLASSES, alpha=0.5)
    out = [smoother.update(f) for f in frames]
    assert all(len(frame) == 1 for frame in out)
    assert {t.track_id for frame in out for t in frame} == {1}
    assert [t.detection.name for frame in out for t in frame] == ["happiness"] * 10
    assert out[5][0].detection.score == pytest.approx(0.5 * 0.3 + 0.5 * 0.8)
    assert out[5][0].detection.xyxy == frames[5][0].xyxy


def test_alpha_one_is_no_smoothing():
    smoother = Smoother(CLASSES, alpha=1.0)
    names = [smoother.update(f)[0].detection.name for f in _sequence()]
    assert names[5] == "sadness"


def test_tracks_split_far_faces_and_expire():
    smoother = Smoother(CLASSES, alpha=0.5, tracker=Tracker(max_missed=2))
    first = smoother.update([_det(HAPPY, 0.9, 0), _det(SAD, 0.9, 200)])
    assert [t.track_id for t in first] == [1, 2]
    for _ in range(3):
        smoother.update([_det(HAPPY, 0.9, 0)])
    again = smoother.update([_det(HAPPY, 0.9, 0), _det(SAD, 0.9, 200)])
    assert [t.track_id for t in again] == [1, 3]


def test_merge_faces_folds_per_class_records():
    faces = merge_faces([_det(HAPPY, 0.6, 0), _det(SAD, 0.3, 1), _det(SAD, 0.5, 100)], 7)
    assert len(faces) == 2
    assert faces[0].scores[HAPPY] == 0.6 and faces[0].scores[SAD] == 0.3
    assert faces[1].scores[SAD] == 0.5


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]])
    b = np.array([[5, 0, 15, 10]])
    np.testing.assert_allclose(iou_matrix(a, b), [[50 / 150], [0.0]])
