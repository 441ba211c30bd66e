"""The evaluator against Darknet's own numbers, and its properties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.darknet import NAMES
from yof_darknet.evaluate.ap import (
    Detections,
    EvalParams,
    GroundTruth,
    average_precision,
    box_iou,
    evaluate,
    match,
)
from yof_darknet.evaluate.inputs import read_valid_results
from yof_darknet.formats.maplog import read_map_log
from yof_darknet.formats.mapresult import MapResult


def _two(value: float | None) -> str:
    return f"{value:.2f}"


@pytest.mark.parametrize(
    ("log", "points", "iou"),
    [
        ("map_default", 0, 0.5),
        ("map_points11", 11, 0.5),
        ("map_points101", 101, 0.5),
        ("map_iou075", 0, 0.75),
    ],
)
def test_reproduces_alexeyab_map_to_the_printed_digits(
    darknet_fixtures: Path, dump: Detections, truth: GroundTruth, log: str, points: int, iou: float
) -> None:
    darknet: MapResult = read_map_log(darknet_fixtures / "alexeyab" / f"{log}.stdout.txt")
    ours, _, _ = evaluate(dump, truth, EvalParams(iou_thresh=iou, points=points), NAMES)
    assert len(dump) == darknet.detections == 396
    assert len(truth) == darknet.ground_truth == 30
    # class lines: `ap = %2.2f%%   (TP = %d, FP = %d)`
    assert [f"{c.ap * 100:.2f}" for c in ours.classes] == [
        f"{c.ap * 100:.2f}" for c in darknet.classes
    ]
    assert [(c.tp, c.fp) for c in ours.classes] == [(c.tp, c.fp) for c in darknet.classes]
    # `mean average precision (mAP@0.50) = %f`
    assert f"{ours.map:f}" == f"{darknet.map:f}"
    # `precision = %1.2f, recall = %1.2f, F1-score = %1.2f` and `TP, FP, FN, average IoU %2.2f %%`
    assert [_two(ours.precision), _two(ours.recall), _two(ours.f1)] == [
        _two(darknet.precision), _two(darknet.recall), _two(darknet.f1)
    ]  # fmt: skip
    assert (ours.tp, ours.fp, ours.fn) == (darknet.tp, darknet.fp, darknet.fn)
    assert f"{ours.avg_iou * 100:.2f}" == f"{darknet.avg_iou * 100:.2f}"


@pytest.mark.parametrize("log", ["map_default", "map_points11", "map_points101", "map_iou075"])
def test_matches_hankai_four_decimals_and_per_class_f1_iou(
    darknet_fixtures: Path, dump: Detections, truth: GroundTruth, log: str
) -> None:
    darknet = read_map_log(darknet_fixtures / "hankai" / f"{log}.stdout.txt")
    params = EvalParams(iou_thresh=darknet.iou_thresh, points=darknet.points)
    ours, _, _ = evaluate(dump, truth, params, NAMES)
    for mine, theirs in zip(ours.classes, darknet.classes, strict=True):
        assert f"{mine.ap * 100:.4f}" == f"{theirs.ap * 100:.4f}"
        assert (mine.tp, mine.fp, mine.gt) == (theirs.tp, theirs.fp, theirs.gt)
        assert f"{mine.f1 * 100:.4f}" == f"{theirs.f1 * 100:.4f}"
        # hank-ai sums the IoUs in float32: 27.520450 (ours) prints as its 27.5205
        assert mine.avg_iou * 100 == pytest.approx(theirs.avg_iou * 100, abs=1e-4)
    assert f"{ours.map * 100:.2f}" == f"{darknet.map * 100:.2f}"


@pytest.mark.parametrize(("points", "expected"), [(0, "50.90"), (11, "53.16"), (101, "51.39")])
def test_valid_result_files_score_near_darknets_map(
    darknet_fixtures: Path, valid_images: list[Path], truth: GroundTruth, points: int, expected: str
) -> None:
    """`detector valid` prints no mAP: its records (the same weights as `map`, 1593 lines in the
    7 files) score near what `map` printed, and as they scored when recorded (2026-12-07)."""
    dets = read_valid_results(darknet_fixtures / "alexeyab" / "results_voc", NAMES, valid_images)
    assert len(dets) == 1593
    result, _, _ = evaluate(dets, truth, EvalParams(points=points), NAMES)
    assert f"{result.map * 100:.2f}" == expected
    log = {0: "map_default", 11: "map_points11", 101: "map_points101"}[points]
    darknet = read_map_log(darknet_fixtures / "alexeyab" / f"{log}.stdout.txt")
    assert result.map == pytest.approx(darknet.map, abs=0.01)


def test_recall_levels_are_darknets_reciprocal_products() -> None:
    """Darknet (built -Ofast) computes the 11-point level 6 as 6 * 0.1 = 0.6000000000000001, so a
    recall of exactly 3/5 does not reach it: the level takes the precision at recall 4/5."""
    precision = np.array([1.0, 1.0, 1.0, 3 / 4, 4 / 5])
    recall = np.array([1, 2, 3, 3, 4]) / 5
    assert average_precision(precision, recall, points=11) == pytest.approx((6 + 3 * 0.8) / 11)


def _one_image_truth(boxes: list[list[float]], classes: list[int]) -> GroundTruth:
    return GroundTruth.from_arrays([0] * len(boxes), classes, boxes, 1)


def test_perfect_detector_scores_one_at_every_setting(truth: GroundTruth) -> None:
    perfect = Detections.from_arrays(
        truth.image, truth.class_id, np.linspace(0.99, 0.5, len(truth)), truth.box
    )
    for points in (0, 11, 101):
        for iou in (0.5, 0.75, 0.95):
            result, _, _ = evaluate(perfect, truth, EvalParams(iou, points), NAMES)
            assert result.map == 1.0
            assert [c.ap for c in result.classes] == [1.0] * 7
            assert (result.tp, result.fp, result.fn) == (30, 0, 0)
            assert result.avg_iou == pytest.approx(1.0)


def test_duplicate_box_is_a_false_positive() -> None:
    truth = _one_image_truth([[0.5, 0.5, 0.2, 0.2], [0.2, 0.2, 0.1, 0.1]], [3, 3])
    hit = [0.5, 0.5, 0.2, 0.2]
    single = Detections.from_arrays([0, 0], [3, 3], [0.9, 0.8], [hit, [0.2, 0.2, 0.1, 0.1]])
    double = Detections.from_arrays(
        [0, 0, 0], [3, 3, 3], [0.9, 0.85, 0.8], [hit, [0.5, 0.5, 0.2, 0.21], [0.2, 0.2, 0.1, 0.1]]
    )
    one, _, _ = evaluate(single, truth, EvalParams(), NAMES)
    two, matches, acc_two = evaluate(double, truth, EvalParams(), NAMES)
    assert one.classes[3].ap == 1.0
    assert list(matches.gt_index) == [0, 0, 1]  # the duplicate is not moved to another face
    assert list(acc_two.tp) == [True, False, True]
    assert (two.classes[3].tp, two.classes[3].fp) == (2, 1)
    assert two.classes[3].ap == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    assert two.classes[3].ap < one.classes[3].ap


def _tied_case(order: np.ndarray) -> Detections:
    """4 faces of class 0 on 2 images; 6 records, 4 of them tied at 0.6 (2 hits, 2 misses)."""
    image = np.array([0, 0, 1, 1, 0, 1])
    score = np.array([0.9, 0.6, 0.6, 0.6, 0.6, 0.3], dtype=np.float32)
    box = np.array(
        [[0.2, 0.2, 0.1, 0.1], [0.6, 0.6, 0.1, 0.1], [0.2, 0.2, 0.1, 0.1],
         [0.9, 0.1, 0.05, 0.05], [0.9, 0.9, 0.05, 0.05], [0.6, 0.6, 0.1, 0.1]],
        dtype=np.float32,
    )  # fmt: skip
    return Detections(image[order], np.zeros(6, dtype=np.int64)[order], score[order], box[order])


def test_equal_scores_change_ap_only_within_darknets_tie_rule() -> None:
    faces = [[0.2, 0.2, 0.1, 0.1], [0.6, 0.6, 0.1, 0.1]]
    truth = GroundTruth.from_arrays([0, 0, 1, 1], [0, 0, 0, 0], faces + faces, 2)
    names = NAMES[:1]
    base = np.arange(6)
    hits_first = evaluate(_tied_case(np.array([0, 1, 2, 3, 4, 5])), truth, EvalParams(), names)[0]
    misses_first = evaluate(_tied_case(np.array([0, 3, 4, 1, 2, 5])), truth, EvalParams(), names)
    best, worst = hits_first.map, misses_first[0].map
    assert worst < best
    rng = np.random.default_rng(0)
    for _ in range(20):
        tied = rng.permutation([1, 2, 3, 4])
        order = np.concatenate([[0], tied, [5]])
        result = evaluate(_tied_case(order), truth, EvalParams(), names)[0]
        assert worst - 1e-12 <= result.map <= best + 1e-12
        assert (result.tp, result.fp) == (hits_first.tp, hits_first.fp)
        # the same order is scored the same every time (stable sort, like glibc's qsort)
        assert evaluate(_tied_case(order), truth, EvalParams(), names)[0].map == result.map
    # shuffling records whose scores all differ changes nothing
    distinct = _tied_case(base)
    distinct = Detections(distinct.image, distinct.class_id, np.linspace(0.9, 0.1, 6,
                          dtype=np.float32), distinct.box)  # fmt: skip
    reference = evaluate(distinct, truth, EvalParams(), names)[0]
    for _ in range(5):
        perm = rng.permutation(6)
        shuffled = distinct.select(perm)
        assert evaluate(shuffled, truth, EvalParams(), names)[0].map == reference.map


def test_class_without_ground_truth_counts_zero_and_is_flagged() -> None:
    truth = _one_image_truth([[0.5, 0.5, 0.2, 0.2]], [0])
    dets = Detections.from_arrays([0, 0], [0, 1], [0.9, 0.8], [[0.5, 0.5, 0.2, 0.2]] * 2)
    result, _, _ = evaluate(dets, truth, EvalParams(), NAMES[:2])
    assert [c.ap for c in result.classes] == [1.0, 0.0]
    assert result.map == 0.5
    assert result.classes[1].gt == 0
    assert any(note.startswith("disgust: no ground-truth") for note in result.notes)


def test_no_detections_gives_zero_not_nan(truth: GroundTruth) -> None:
    empty = Detections.from_arrays([], [], [], np.zeros((0, 4)))
    result, _, _ = evaluate(empty, truth, EvalParams(), NAMES)
    assert result.map == 0.0 and result.precision is None and result.recall == 0.0
    assert (result.tp, result.fp, result.fn) == (0, 0, 30)


def test_match_needs_iou_strictly_above_threshold_and_first_best_wins() -> None:
    face = [0.5, 0.5, 0.25, 0.25]  # binary fractions: exact in float32
    truth = _one_image_truth([face, face, [0.125, 0.125, 0.125, 0.125]], [0, 0, 0])
    # half the width of the face: IoU exactly 0.5, not > 0.5
    dets = Detections.from_arrays([0, 0], [0, 1], [0.9, 0.9], [[0.4375, 0.5, 0.125, 0.25], face])
    assert box_iou(dets.box[:1], truth.box[:1])[0] == np.float32(0.5)
    found = match(dets, truth, EvalParams())
    assert list(found.gt_index) == [-1, -1]  # too little overlap; wrong class
    same = Detections.from_arrays([0], [0], [0.9], [face])
    assert list(match(same, truth, EvalParams()).gt_index) == [0]  # tie: the first face


def test_box_iou_float32_values() -> None:
    a = np.array([[0.5, 0.5, 0.25, 0.25], [0.5, 0.5, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]])
    b = np.array([[0.5, 0.5, 0.25, 0.25], [0.875, 0.875, 0.125, 0.125], [0.5, 0.5, 0.0, 0.0]])
    iou = box_iou(a, b)
    assert iou.dtype == np.float32
    assert list(iou) == [1.0, 0.0, 0.0]  # identical, disjoint, empty (0, not nan)
    # float32 like darknet: 0.6 - 0.4 is not 0.2 there, so a box on itself is not exactly 1
    assert box_iou(np.array([[0.5, 0.5, 0.2, 0.2]]), np.array([[0.5, 0.5, 0.2, 0.2]]))[0] != 1


def test_average_precision_by_hand() -> None:
    # TP, FP, TP over 2 faces: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    precision = np.array([1.0, 0.5, 2 / 3])
    recall = np.array([0.5, 0.5, 1.0])
    assert average_precision(precision, recall, 0) == pytest.approx(0.5 + 0.5 * 2 / 3)
    eleven = (6 * 1.0 + 5 * (2 / 3)) / 11  # recall 0..0.5: 1; 0.6..1.0: 2/3
    assert average_precision(precision, recall, 11) == pytest.approx(eleven)
    assert average_precision(np.array([]), np.array([]), 101) == 0.0


def test_inf_box_of_an_untrained_net_is_a_false_positive_not_a_crash() -> None:
    truth = _one_image_truth([[0.5, 0.5, 0.25, 0.25]], [0])
    dets = Detections.from_arrays([0, 0], [0, 0], [0.9, 0.8],
                                  [[0.5, 0.5, np.inf, 0.25], [0.5, 0.5, 0.25, 0.25]])  # fmt: skip
    with np.errstate(all="raise"):
        result, matches, _ = evaluate(dets, truth, EvalParams(), NAMES[:1])
    assert list(matches.gt_index) == [-1, 0]
    assert (result.tp, result.fp) == (1, 1)
    assert result.map == pytest.approx(0.5)
