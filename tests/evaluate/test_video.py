from __future__ import annotations

import csv
import doctest
import json
from pathlib import Path

import numpy as np
import pytest

from yof_darknet.core.expressions import CLASSES
from yof_darknet.evaluate import video
from yof_darknet.evaluate.video import NO_FACE, frame_metrics
from yof_darknet.evaluate.video_report import OVERALL, render_markdown, write_report

ANGER, HAPPY, NEUTRAL = (CLASSES.index(n) for n in ("anger", "happiness", "neutral"))


def test_doctests():
    assert doctest.testmod(video).failed == 0


def test_metrics_by_hand_on_a_small_case():
    # 10 person-frames: 4 happy, 3 neutral, 3 anger truth; two frames without a detection.
    truth = [HAPPY] * 4 + [NEUTRAL] * 3 + [ANGER] * 3
    predicted = [HAPPY, HAPPY, HAPPY, NEUTRAL, NEUTRAL, NEUTRAL, NO_FACE, ANGER, HAPPY, NO_FACE]
    m = frame_metrics(np.array(truth), np.array(predicted), len(CLASSES))
    # happiness: TP 3, FP 1 (an anger frame), FN 1 -> F1 = 6 / (6 + 1 + 1) = 0.75
    # neutral:   TP 2, FP 1 (a happy frame),  FN 1 (no face) -> F1 = 4 / 6
    # anger:     TP 1, FP 0, FN 2 (happy, no face) -> F1 = 2 / 4
    # the 4 other expressions: no truth, no prediction -> 0 (ABAW averages all 7)
    assert m.f1[HAPPY] == pytest.approx(0.75)
    assert m.f1[NEUTRAL] == pytest.approx(4 / 6)
    assert m.f1[ANGER] == pytest.approx(0.5)
    assert sum(m.f1) == pytest.approx(0.75 + 4 / 6 + 0.5)
    assert m.macro_f1 == pytest.approx((0.75 + 4 / 6 + 0.5) / 7)
    assert m.accuracy == pytest.approx(6 / 10)
    assert m.abaw2020 == pytest.approx(0.67 * m.macro_f1 + 0.33 * 0.6)
    assert (m.no_face, m.frames, m.no_face_share) == (2, 10, 0.2)
    assert m.confusion.shape == (7, 8)
    assert m.confusion[NEUTRAL].tolist() == [0, 0, 0, 0, 0, 0, 2, 1]
    assert m.confusion[ANGER, HAPPY] == 1 and m.confusion.sum() == 10


def test_no_frames_scores_zero_and_shapes_must_agree():
    empty = frame_metrics(np.zeros(0), np.zeros(0), 7)
    assert (empty.frames, empty.macro_f1, empty.accuracy) == (0, 0.0, 0.0)
    with pytest.raises(ValueError, match="differ"):
        frame_metrics(np.zeros(3), np.zeros(2), 7)


def test_report_files(tmp_path: Path):
    truth = np.array([HAPPY, HAPPY, NEUTRAL])
    scores = {
        OVERALL: {
            "none": frame_metrics(truth, np.array([HAPPY, NO_FACE, HAPPY]), 7),
            "viterbi(penalty=2)": frame_metrics(truth, np.array([HAPPY, HAPPY, NEUTRAL]), 7),
        },
        "video1": {
            "none": frame_metrics(truth, np.array([HAPPY, NO_FACE, HAPPY]), 7),
            "viterbi(penalty=2)": frame_metrics(truth, np.array([HAPPY, HAPPY, NEUTRAL]), 7),
        },
    }
    written = write_report(tmp_path, scores, CLASSES, {"videos": ["video1"]}, ["a note"])
    assert {p.name for p in written} == {
        "metrics.md", "metrics.csv", "metrics.json", "confusion_none.csv", "confusion_viterbi.csv",
    }  # fmt: skip
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [(r["scope"], r["model"]) for r in rows] == [
        ("overall", "none"), ("overall", "viterbi(penalty=2)"),
        ("video1", "none"), ("video1", "viterbi(penalty=2)"),
    ]  # fmt: skip
    assert float(rows[1]["macro_f1"]) == pytest.approx(2 / 7, abs=1e-4)
    assert float(rows[0]["no_face_share"]) == pytest.approx(0.3333, abs=1e-4)
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data["confusion"]["none"]["counts"][HAPPY][-1] == 1
    confusion = list(csv.reader((tmp_path / "confusion_none.csv").open()))
    assert confusion[0][-1] == "no face detected" and confusion[1 + NEUTRAL][1 + HAPPY] == "1"
    markdown = render_markdown(scores, CLASSES, ["a note"])
    assert "| **macro F1** | 7.14 | 28.57 |" in markdown
    assert "| video1 | 3 | 33.33 | 7.14 | 28.57 |" in markdown
    assert not list(tmp_path.glob(".*"))
