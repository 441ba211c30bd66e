"""Class-agnostic face AP: hand-made detections with exact values, the chance level against a
simulation, the verdict and its thresholds, and the lines under Table II."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.darknet import NAMES
from yof_darknet.evaluate.ap import Detections, EvalParams, GroundTruth, evaluate
from yof_darknet.evaluate.faceap import (
    CHANCE_FACTOR,
    FACE_AP_NOTHING,
    VERDICT_MIN_FACES,
    FaceCheck,
    face_ap,
    face_check,
    face_detections,
    placed_face_ap,
    verdict,
)
from yof_darknet.evaluate.table import Table2, render, write_table

K = len(NAMES)
B1, B2, B3 = [0.3, 0.3, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2], [0.5, 0.5, 0.4, 0.4]
ELSEWHERE = [0.1, 0.9, 0.1, 0.1]


@pytest.fixture
def truth() -> GroundTruth:
    """Image 0: an anger face (B1) and a happiness face (B2); image 1: a surprise face (B3)."""
    return GroundTruth.from_arrays([0, 0, 1], [0, 3, 5], [B1, B2, B3], 2)


@pytest.fixture
def records() -> Detections:
    """Darknet-style: B1 twice (anger 0.9, fear 0.4), B2 as disgust (wrong class, right face),
    a box on no face in image 1, and B3 as sadness."""
    return Detections.from_arrays(
        [0, 0, 0, 1, 1], [0, 2, 1, 5, 4], [0.9, 0.4, 0.7, 0.8, 0.3], [B1, B1, B2, ELSEWHERE, B3]
    )


def test_a_box_counts_once_with_its_best_score(records: Detections) -> None:
    faces = face_detections(records)
    assert faces.class_id.tolist() == [0, 0, 0, 0]
    np.testing.assert_array_equal(faces.score, np.float32([0.9, 0.7, 0.8, 0.3]))
    np.testing.assert_array_equal(faces.image, [0, 0, 1, 1])
    np.testing.assert_array_equal(faces.box, np.float32([B1, B2, ELSEWHERE, B3]))


def test_the_best_record_is_kept_wherever_it_comes_and_boxes_stay_apart() -> None:
    # same box in two images, and two boxes of one image that differ in one float32 bit
    nudged = np.nextafter(np.float32(0.3), np.float32(1))
    dets = Detections.from_arrays(
        [0, 1, 0, 0], [1, 1, 4, 2], [0.2, 0.5, 0.6, 0.6], [B1, B1, B1, [nudged, 0.3, 0.2, 0.2]]
    )
    faces = face_detections(dets)
    assert faces.image.tolist() == [1, 0, 0]  # image 1's record, then image 0's best, the nudged
    np.testing.assert_array_equal(faces.score, np.float32([0.5, 0.6, 0.6]))


def test_face_ap_exact_values(records: Detections, truth: GroundTruth) -> None:
    # ranked faces: 0.9 hit, 0.8 miss, 0.7 hit, 0.3 hit; 3 faces
    # precision 1, 1/2, 2/3, 3/4; recall 1/3, 1/3, 2/3, 1
    assert face_ap(records, truth, EvalParams()) == pytest.approx(1 / 3 + 2 / 3 * 3 / 4)
    # 11 points: recall 0-0.3 at precision 1, 0.4-1.0 at 3/4
    eleven = face_ap(records, truth, EvalParams(points=11))
    assert eleven == pytest.approx((4 * 1 + 7 * 0.75) / 11)
    # the expression mAP of the same records: only anger's face is found as anger
    expressions, _, _ = evaluate(records, truth, EvalParams(), NAMES)
    assert expressions.map == pytest.approx(1 / K)


def test_face_ap_keeps_the_iou_rule(truth: GroundTruth) -> None:
    # a box shifted so that IoU with B3 is 0.6: a face at IoU > 0.5, a miss at IoU > 0.75
    shifted = [0.5 + 0.1, 0.5, 0.4, 0.4]  # overlap 0.3 x 0.4 = 0.12; union 0.2 → IoU 0.6
    dets = Detections.from_arrays([1], [2], [0.5], [shifted])
    assert face_ap(dets, truth, EvalParams(iou_thresh=0.5)) == pytest.approx(1 / 3)
    assert face_ap(dets, truth, EvalParams(iou_thresh=0.75)) == 0.0


def test_boxes_placed_at_random_tell_found_faces_from_whole_image_boxes() -> None:
    """Large faces: boxes as large as the image (what `detector valid` makes of an untrained
    net's boxes) match them wherever they are; boxes on the faces lose them when moved."""
    rng = np.random.default_rng(4)
    n = 400
    centre = 0.4 + rng.random((n, 2)) * 0.2
    faces = GroundTruth.from_arrays(
        np.arange(n), rng.integers(0, K, n), np.hstack([centre, np.full((n, 2), 0.75)]), n
    )
    whole = Detections.from_arrays(
        np.arange(n), np.zeros(n), rng.random(n), np.tile([0.5, 0.5, 1.0, 1.0], (n, 1))
    )
    check = face_check(whole, faces, EvalParams(), 0.0, K)
    assert check.face_ap > 0.5 and check.placed_face_ap == check.face_ap
    assert check.verdict.kind == "nothing"
    assert "not 5 points above the" in check.verdict.text
    # a perfect detector of faces that fill 3/4 of the image still gains 12 points on its
    # boxes placed at random (which fit only near the middle): it finds faces
    found = Detections.from_arrays(np.arange(n), faces.class_id, rng.random(n), faces.box)
    check = face_check(found, faces, EvalParams(), 0.0, K)
    assert check.face_ap == 1.0 and 0.8 < check.placed_face_ap < 0.95
    assert check.verdict.kind == "chance"
    small = GroundTruth.from_arrays(
        faces.image, faces.class_id, np.hstack([centre, np.full((n, 2), 0.1)]), n
    )
    on_small = Detections.from_arrays(np.arange(n), faces.class_id, rng.random(n), small.box)
    assert placed_face_ap(on_small, small, EvalParams()) < 0.01


def test_face_ap_of_no_detection_is_zero(truth: GroundTruth) -> None:
    empty = Detections.from_arrays([], [], [], np.zeros((0, 4)))
    assert face_ap(empty, truth, EvalParams()) == 0.0


def _perfect_faces(rng: np.random.Generator, faces: int) -> GroundTruth:
    """One face per image, the same box, a random expression (uniform over K)."""
    return GroundTruth.from_arrays(
        np.arange(faces), rng.integers(0, K, faces), np.tile(B3, (faces, 1)), faces
    )


def _all_classes(faces: GroundTruth, probs: np.ndarray, objectness: np.ndarray) -> Detections:
    """Every class of every face's box, scored objectness x class probability (darknet's)."""
    n = len(faces)
    return Detections.from_arrays(
        np.repeat(faces.image, K), np.tile(np.arange(K), n),
        (objectness[:, None] * probs).reshape(-1), np.repeat(faces.box, K, axis=0),
    )  # fmt: skip


def _map(dets: Detections, faces: GroundTruth) -> float:
    return evaluate(dets, faces, EvalParams(), NAMES)[0].map


def test_uninformed_class_probabilities_score_face_ap_over_k() -> None:
    """Random class probabilities on perfectly found faces: mAP ≈ face AP / K."""
    rng = np.random.default_rng(0)
    values = []
    for _ in range(5):
        faces = _perfect_faces(rng, 2000)
        dets = _all_classes(faces, rng.dirichlet(np.ones(K), 2000), rng.random(2000))
        assert face_ap(dets, faces, EvalParams()) == 1.0
        values.append(_map(dets, faces))
    # the AP of a random ranking sits a little above its share (1.12x at most here)
    assert 1 / K < np.mean(values) < 1.1 / K


def test_the_level_holds_for_faces_found_imperfectly_and_any_class_shares() -> None:
    """Class probabilities that are the training priors (the same for every box) on a detector
    that misses faces and finds false ones: mAP = face AP / K, whatever the shares (a little
    above on a finite test set: 6 % above on 3,000 faces, 1.4 % on 30,000)."""
    rng = np.random.default_rng(1)
    shares = np.array([0.4, 0.05, 0.05, 0.2, 0.1, 0.1, 0.1])
    n = 3000
    faces = GroundTruth.from_arrays(
        np.arange(n), rng.choice(K, n, p=shares), np.tile(B3, (n, 1)), n
    )
    found = rng.random(n) < 0.7  # 70 % of the faces found; 1,000 boxes on no face
    image = np.concatenate([np.nonzero(found)[0], rng.integers(0, n, 1000)])
    box = np.concatenate([np.tile(B3, (found.sum(), 1)), np.tile(ELSEWHERE, (1000, 1))])
    objectness = np.concatenate([rng.random(found.sum()) * 0.6 + 0.3, rng.random(1000) * 0.6])
    dets = Detections.from_arrays(
        np.repeat(image, K), np.tile(np.arange(K), len(image)),
        (objectness[:, None] * shares).reshape(-1), np.repeat(box, K, axis=0),
    )  # fmt: skip
    level = face_ap(dets, faces, EvalParams()) / K
    assert 0.3 < level * K < 0.7
    assert level < _map(dets, faces) < 1.1 * level


def test_one_guessed_label_per_box_scores_below_the_level() -> None:
    """Guessing one label per box scores about face AP / K², below face AP / K: the level is
    the most a detector that finds faces but guesses expressions can expect."""
    rng = np.random.default_rng(2)
    faces = _perfect_faces(rng, 2000)
    dets = Detections.from_arrays(
        faces.image, rng.integers(0, K, 2000), rng.random(2000), faces.box
    )
    assert face_ap(dets, faces, EvalParams()) == 1.0
    assert 1 / K**2 < _map(dets, faces) < 1.8 / K**2


def test_chance_factor_covers_an_uninformed_detector_from_the_minimum_faces() -> None:
    rng = np.random.default_rng(3)
    ratios = []
    for _ in range(40):
        faces = _perfect_faces(rng, VERDICT_MIN_FACES)
        probs = rng.dirichlet(np.ones(K), VERDICT_MIN_FACES)
        dets = _all_classes(faces, probs, rng.random(VERDICT_MIN_FACES))
        check = face_check(dets, faces, EvalParams(), _map(dets, faces), K)
        assert check.faces == VERDICT_MIN_FACES
        ratios.append(check.expression_map / check.chance_map)
        assert check.verdict.kind == "chance"
    assert max(ratios) < CHANCE_FACTOR


@pytest.mark.parametrize(
    ("face", "expressions", "kind", "words"),
    [
        (0.0, 0.0, "nothing", "learned nothing: it finds no faces (face AP 0.00 %"),
        (FACE_AP_NOTHING - 1e-6, 0.05, "nothing", "learned nothing"),
        (FACE_AP_NOTHING, 0.0, "chance", "at chance: it finds faces (face AP 5.00 %)"),
        (0.586, 0.106, "chance", "learned no expression (mAP 10.60 % is not 1.5x the 8.37 %"),
        (0.7, 0.7 / K * CHANCE_FACTOR, "above", "above chance"),
        (0.7, 0.35, "above", "tells expressions apart (mAP 35.00 %, 3.5x the 10.00 % of"),
    ],
)
def test_verdict_thresholds(face: float, expressions: float, kind: str, words: str) -> None:
    said = verdict(face, expressions, K, 1000)
    assert said.kind == kind
    assert words in said.text
    assert "too few" not in said.text


def test_verdict_when_boxes_placed_at_random_do_almost_as_well() -> None:
    said = verdict(0.3, 0.2, K, 1000, placed_face_ap=0.26)
    assert said.kind == "nothing"
    assert said.text == (
        "learned nothing: it finds no faces (face AP 30.00 %, not 5 points above the "
        "26.00 % its boxes score placed at random)"
    )
    assert verdict(0.3, 0.2, K, 1000, placed_face_ap=0.24).kind == "above"


def test_verdict_on_few_faces_says_so() -> None:
    assert "only 80 faces were scored, too few" in verdict(0.5, 0.3, K, 80).text
    assert "too few" not in verdict(0.01, 0.0, K, 80).text  # no faces found is plain anyway


def test_lines_under_table_ii_and_json(
    records: Detections, truth: GroundTruth, tmp_path: Path
) -> None:
    result, _, _ = evaluate(records, truth, EvalParams(), NAMES)
    check = face_check(records, truth, EvalParams(), result.map, K)
    paths = write_table(Table2(result, "test", face=check), tmp_path)
    markdown = paths["md"].read_text()
    placed = f"{check.placed_face_ap * 100:.2f}"
    assert (
        "Face AP (every class merged into one face class, same IoU and evaluator): 83.33 % "
        f"(its boxes placed at random: {placed} %). A detector that finds these faces but "
        "guesses expressions would score mAP 11.90 % (face AP / 7)." in markdown
    )
    assert "Verdict: at chance: it finds faces (face AP 83.33 %) but learned no expression" in (
        markdown
    )
    assert markdown.index("| **mAP** |") < markdown.index("Face AP") < markdown.index("Numbers:")
    data = json.loads(paths["json"].read_text())
    assert data["face_ap"] == pytest.approx(5 / 6)
    assert data["face"]["chance_map"] == pytest.approx(5 / 6 / K)
    assert data["face"]["verdict"] == "chance" and data["face"]["faces"] == 3
    assert render(Table2(result, "test", face=check), "md") == markdown


def test_a_table_without_detections_says_why_face_ap_is_missing(
    records: Detections, truth: GroundTruth
) -> None:
    result, _, _ = evaluate(records, truth, EvalParams(), NAMES)
    table = Table2(result, "a log", face_note="a `detector map` log holds per-class APs only")
    assert "Face AP: not computed (a `detector map` log holds per-class APs only)." in render(
        table, "md"
    )
    data = json.loads(render(table, "json"))
    assert data["face_ap"] is None and data["face"] is None


def test_face_check_dict_round_trip() -> None:
    check = FaceCheck(0.5, 0.2, K, 400)
    assert check.to_dict()["chance_map"] == pytest.approx(0.5 / K)
    assert check.to_dict()["verdict"] == "above"
