"""The tracker on real faces: two public-domain portraits (yof_darknet/assets/faces) that cross
each other, found by RetinaFace frame by frame."""

from __future__ import annotations

import doctest
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.boxes import iou_xyxy
from yof_darknet.infer import tracker as tracker_module
from yof_darknet.infer.tracker import Box, Tracker
from yof_darknet.samples.affwild2 import (
    Person,
    SampleVideo,
    sample_truth,
    write_sample_video,
)
from yof_darknet.tools.faces import create_detector

FRAMES = 30
# Eileen Collins walks right, Grace Hopper left; Grace is drawn last, so she hides Eileen's face
# for several frames around the crossing.
CROSSING = SampleVideo(
    stem="crossing",
    batch="batch1",
    split="Validation_Set",
    suffix=".avi",
    fourcc="MJPG",
    fps=25,
    size=(400, 180),
    frames=FRAMES,
    persons=(
        Person("left", "eileen_collins", (10, 20), (260, 20), (0.7, 0.7), (4,) * FRAMES, FRAMES),
        Person("right", "grace_hopper", (270, 30), (10, 30), (0.7, 0.7), (0,) * FRAMES, FRAMES),
    ),
)


@pytest.fixture(scope="module")
def crossing_faces(tmp_path_factory) -> list[list]:
    """RetinaFace's faces in every frame of the crossing video."""
    path = tmp_path_factory.mktemp("crossing") / "crossing.avi"
    write_sample_video(CROSSING, path, np.random.default_rng(0))
    detector = create_detector(threshold=0.8, max_side=640, threads=2)
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(detector.detect(read[1]))
    assert len(frames) == FRAMES
    return frames


def _person_of(box, frame: int) -> str:
    truth = sample_truth([CROSSING])["crossing"]
    return max(truth, key=lambda side: iou_xyxy(box, truth[side][frame]))


def test_doctests():
    assert doctest.testmod(tracker_module).failed == 0


def test_two_people_crossing_keep_their_tracks(crossing_faces):
    hidden = [i for i, faces in enumerate(crossing_faces) if len(faces) < 2]
    assert len(hidden) >= 3, "the crossing must hide a face for a few frames"
    assert len(crossing_faces[0]) == len(crossing_faces[-1]) == 2
    tracker = Tracker()
    people_of_track: dict[int, set[str]] = {}
    for frame, faces in enumerate(crossing_faces):
        for track_id, face in tracker.update(faces):
            people_of_track.setdefault(track_id, set()).add(_person_of(face.xyxy, frame))
    # one track per person for the whole video: none swapped, none restarted after the miss
    assert people_of_track == {1: {"left"}, 2: {"right"}}


def test_a_tracker_without_motion_loses_the_hidden_face(crossing_faces):
    """The same video with the prediction off and a short memory (the old tracker's rule):
    the hidden face comes back as a new track, which is what the prediction fixes."""
    tracker = Tracker(max_missed=5, momentum=1.0, max_distance=0.0)
    ids = {t for faces in crossing_faces for t, _ in tracker.update(faces)}
    assert len(ids) > 2


def test_tracks_survive_short_misses_and_end_after_long_ones():
    tracker = Tracker(max_missed=3)
    boxes = [Box((10.0 + 4 * i, 20.0, 50.0 + 4 * i, 60.0)) for i in range(12)]
    ids = []
    for frame, box in enumerate(boxes):
        if 3 <= frame <= 5:  # three frames without the face: the track waits
            tracker.update([])
            continue
        ids += [t for t, _ in tracker.update([box])]
    assert set(ids) == {1}
    for _ in range(4):  # four: it ends, the face starts a new track
        tracker.update([])
    assert [t for t, _ in tracker.update([boxes[-1]])] == [2]


def test_unrelated_faces_far_apart_get_their_own_tracks():
    tracker = Tracker()
    first = tracker.update([Box((0, 0, 20, 20)), Box((200, 0, 220, 20))])
    again = tracker.update([Box((201, 0, 221, 20)), Box((1, 0, 21, 20)), Box((100, 90, 120, 110))])
    assert [t for t, _ in first] == [1, 2]
    assert [t for t, _ in again] == [2, 1, 3]


def test_video_composition_is_real(tmp_path: Path):
    """The crossing video really shows both photos at their truth boxes (first frame)."""
    path = tmp_path / "c.avi"
    write_sample_video(CROSSING, path, np.random.default_rng(0))
    faces = create_detector(threshold=0.8, max_side=640, threads=2).detect(
        cv2.VideoCapture(str(path)).read()[1]
    )
    truth = sample_truth([CROSSING])["crossing"]
    for side in ("left", "right"):
        assert max(iou_xyxy(f.xyxy, truth[side][0]) for f in faces) > 0.6
