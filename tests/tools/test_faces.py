from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.support.boxes import iou_xyxy
from yof_darknet.core.errors import DatasetError
from yof_darknet.samples.affwild2 import ASSETS, PHOTO_FACES
from yof_darknet.tools.faces import (
    DETECTORS,
    Face,
    RetinaFaceMobileNet,
    clip_faces,
    create_detector,
    downscale,
)


@pytest.fixture(scope="module")
def retinaface() -> RetinaFaceMobileNet:
    return create_detector("retinaface", threshold=0.8, max_side=640, threads=1)


@pytest.mark.parametrize("photo", sorted(PHOTO_FACES))
def test_retinaface_finds_the_shipped_portraits(retinaface, photo):
    image = cv2.imread(str(ASSETS / f"{photo}.jpg"))
    faces = retinaface.detect(image)
    assert len(faces) == 1
    assert faces[0].score >= 0.8
    assert iou_xyxy(faces[0].xyxy, PHOTO_FACES[photo]) > 0.95


def test_boxes_are_mapped_back_after_downscaling():
    image = cv2.imread(str(ASSETS / "grace_hopper.jpg"))
    big = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    expected = tuple(3 * v for v in PHOTO_FACES["grace_hopper"])
    for max_side in (0, 320, 160):
        faces = create_detector(max_side=max_side).detect(big)
        assert len(faces) == 1, max_side
        assert iou_xyxy(faces[0].xyxy, expected) > 0.85, max_side
        assert all(0 <= v <= 648 for v in faces[0].xyxy)


def test_faces_are_sorted_by_score_and_respect_the_threshold():
    collins = cv2.imread(str(ASSETS / "eileen_collins.jpg"))
    hopper = cv2.imread(str(ASSETS / "grace_hopper.jpg"))
    canvas = np.full((230, 400, 3), 128, np.uint8)
    canvas[:220, :200] = collins
    canvas[:216, 210:396] = hopper
    faces = create_detector(threshold=0.5).detect(canvas)
    assert len(faces) == 2
    assert faces[0].score >= faces[1].score >= 0.5
    assert sorted(face.center_x < 200 for face in faces) == [False, True]
    assert create_detector(threshold=1.0).detect(canvas) == []


def test_no_face_in_a_plain_image(retinaface):
    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (240, 1, 3))
    assert retinaface.detect(gradient) == []


def test_session_uses_the_requested_threads():
    detector = create_detector(threads=2)
    assert detector._session.get_session_options().intra_op_num_threads == 2


def test_downscale_limits_the_long_side():
    image = np.zeros((480, 640, 3), np.uint8)
    small, scale = downscale(image, 320)
    assert small.shape == (240, 320, 3)
    assert scale == 0.5
    assert downscale(image, 0)[0] is image
    assert downscale(image, 1000) == (image, 1.0)


def test_clip_faces_clips_and_drops_degenerate_boxes():
    boxes = np.array([[-5.0, -5.0, 50.0, 60.0], [95.0, 10.0, 120.0, 20.0], [10, 10, 10.5, 30]])
    faces = clip_faces(boxes, np.array([0.9, 0.95, 0.99]), (100, 80))
    assert faces == [Face((95.0, 10.0, 100.0, 20.0), 0.95), Face((0.0, 0.0, 50.0, 60.0), 0.9)]


def test_bad_threshold_and_unknown_detector_are_reported():
    with pytest.raises(DatasetError, match=r"outside 0\.\.1"):
        create_detector(threshold=80)
    with pytest.raises(DatasetError, match=r"unknown face detector 'resnet50'.*retinaface"):
        create_detector("resnet50")


def test_another_detector_plugs_in_by_name(monkeypatch):
    class Everywhere:
        name = "everywhere"

        def __init__(self, threshold: float, max_side: int, threads: int) -> None:
            self.threshold = threshold

        def detect(self, image_bgr: np.ndarray) -> list[Face]:
            height, width = image_bgr.shape[:2]
            return [Face((0.0, 0.0, float(width), float(height)), self.threshold)]

    monkeypatch.setitem(DETECTORS, "everywhere", Everywhere)
    detector = create_detector("everywhere", threshold=0.3)
    assert detector.detect(np.zeros((10, 20, 3), np.uint8)) == [Face((0.0, 0.0, 20.0, 10.0), 0.3)]
