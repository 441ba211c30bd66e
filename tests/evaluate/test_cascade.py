from __future__ import annotations

import numpy as np
import pytest

from yof_darknet.evaluate.cascade import FaceAccuracy, evaluate_cascade, write_cascade_outputs
from yof_darknet.formats.labels import label_path, read_labels
from yof_darknet.infer.cascade import Cascade
from yof_darknet.tools.faces import Face


def test_accuracy_by_hand():
    # truth rows, predicted columns: 2 of 3 anger right, 3 of 3 fear, no disgust faces
    accuracy = FaceAccuracy(
        ["anger", "disgust", "fear"], np.array([[2, 0, 1], [0, 0, 0], [0, 0, 3]])
    )
    assert accuracy.faces == 6
    assert accuracy.accuracy == pytest.approx(5 / 6)
    assert accuracy.per_class() == {"anger": pytest.approx(2 / 3), "disgust": None, "fear": 1.0}
    table = accuracy.render_markdown()
    assert "83.33 % of 6 faces" in table and "| anger | 3 | 66.67 |" in table


class _TruthFaces:
    """The ground-truth boxes of the test images as the 'face detector', found by size."""

    name, threshold = "truth", 1.0

    def __init__(self, boxes: dict[tuple[int, int, int], tuple[float, ...]]) -> None:
        self.boxes = boxes

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        key = tuple(int(v) for v in image_bgr.reshape(-1, 3).sum(0))
        return [Face(self.boxes[key], 0.9)]


def test_with_exact_faces_each_class_ap_is_one_over_the_rank_of_its_face(tiny_classifier, tmp_path):
    import cv2

    images = (tiny_classifier.data.parent / "test.txt").read_text().split()
    boxes, truth, pictures = {}, [], []
    for path in images:
        image = cv2.imread(path)
        (label,) = read_labels(label_path(path))
        h, w = image.shape[:2]
        cx, cy, bw, bh = label.box
        key = tuple(int(v) for v in image.reshape(-1, 3).sum(0))
        boxes[key] = ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
        truth.append(label.class_id)
        pictures.append(image)
    assert sorted(truth) == list(range(7))  # one face of each class, one per image
    faces = _TruthFaces(boxes)
    cascade = Cascade(tiny_classifier.cfg, tiny_classifier.weights, faces=faces)
    scores = 0.9 * np.vstack([cascade.classify(im, faces.detect(im)) for im in pictures])
    best, worst = [], []  # a tie with another face may rank the true face first or last
    for c in range(7):
        mine = scores[truth.index(c), c]  # every box is exact: only the true face can match
        kept = scores[:, c][scores[:, c] > 0.005]  # detector map's threshold
        above, tied = int((kept > mine).sum()), int((kept == mine).sum()) - 1
        best.append(1 / (1 + above) if mine > 0.005 else 0.0)
        worst.append(1 / (1 + above + tied) if mine > 0.005 else 0.0)
    outcome = evaluate_cascade(tiny_classifier.data, cascade)
    result = outcome.map.table.combined
    aps = [c.ap for c in result.classes]
    for ap, low, high in zip(aps, worst, best, strict=True):
        assert low - 1e-9 <= ap <= high + 1e-9
        assert any(ap == pytest.approx(1 / rank) for rank in range(1, 8)) or ap == 0.0
    assert result.map == pytest.approx(np.mean(aps))
    assert outcome.accuracy.accuracy == pytest.approx(
        np.mean(scores.argmax(1) == np.asarray(truth))
    )
    written = {p.name for p in write_cascade_outputs(outcome, tmp_path / "out")}
    assert {"table2.md", "face_accuracy.md", "face_accuracy.json"} <= written
