"""Confusion matrix and PR curves from our evaluator's matches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yof_darknet.evaluate.ap import Detections, EvalParams, GroundTruth, evaluate
from yof_darknet.evaluate.report import (
    best_class_per_box,
    confusion_csv,
    confusion_matrix,
    write_report,
)

NAMES = ("anger", "happiness", "surprise")
A, B, C = [0.25, 0.25, 0.125, 0.125], [0.75, 0.75, 0.125, 0.125], [0.25, 0.75, 0.125, 0.125]


def _case() -> tuple[Detections, GroundTruth]:
    # image 0: a happy face taken for surprise (and happiness below it), an angry face found;
    # image 1: a surprised face missed, a false detection on the background, a low-score box.
    truth = GroundTruth.from_arrays([0, 0, 1], [1, 0, 2], [A, B, A], 2)
    dets = Detections.from_arrays(
        [0, 0, 0, 1, 1],
        [2, 1, 0, 1, 0],
        [0.8, 0.6, 0.9, 0.7, 0.1],
        [A, A, B, C, A],
    )
    return dets, truth


def test_one_class_per_box() -> None:
    dets, _ = _case()
    kept = best_class_per_box(dets)
    assert list(kept.class_id) == [2, 0, 1, 0]


def test_confusion_matrix_counts() -> None:
    dets, truth = _case()
    matrix = confusion_matrix(dets, truth, 3)
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[1, 2] = 1  # happiness predicted as surprise
    expected[0, 0] = 1  # anger found
    expected[2, 3] = 1  # surprise missed (its only box scored 0.1 < 0.25)
    expected[3, 1] = 1  # a detection where there is no face
    assert (matrix == expected).all()
    text = confusion_csv(matrix, NAMES)
    assert text.splitlines()[0] == "true\\predicted,anger,happiness,surprise,background"
    assert text.splitlines()[2] == "happiness,0,0,1,0"


def test_a_second_box_on_a_face_is_a_false_detection() -> None:
    truth = GroundTruth.from_arrays([0], [0], [A], 1)
    dets = Detections.from_arrays([0, 0], [0, 0], [0.9, 0.8], [A, [0.26, 0.25, 0.125, 0.125]])
    matrix = confusion_matrix(dets, truth, 1)
    assert matrix.tolist() == [[1, 0], [1, 0]]


def test_report_files(dump, truth, tmp_path: Path) -> None:
    names = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
    result, _, acc = evaluate(dump, truth, EvalParams(), names)
    paths = write_report(dump, truth, acc, result, tmp_path)
    assert [p.name for p in paths] == ["confusion_matrix.csv", "confusion_matrix.png",
                                       "pr_curves.png"]  # fmt: skip
    for png in paths[1:]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [line.split(",") for line in paths[0].read_text().splitlines()[1:]]
    matrix = np.array([[int(v) for v in row[1:]] for row in rows])
    assert matrix[:7].sum() == 30  # every face is either found (some class) or missed
    assert np.trace(matrix[:7, :7]) <= result.tp
