"""Format-exact look-alikes of the raw ExpW and Aff-Wild2 releases, written by the tests.

``write_lookalikes(root)`` writes, from nothing but this module and the project's face drawing
(:func:`yof_darknet.samples.faces.draw_face`), the tree the dataset tests read:

- ``ExpW/image/origin/*.jpg`` (10 JPEGs, one without a row) and ``ExpW/label/label.lst`` (14 rows,
  single spaces, LF, trailing newline): one row per trap of the real format (a low score, exactly
  50, a duplicate, a box past the image's edge, a zero-size box, a score above 100, several faces
  in one image, a whole-image box);
- ``Aff-Wild2/`` in the ABAW 2020 layout: ``videos/batch1/9001.avi`` (MJPG, 30 fps, 160x120, 20
  frames, one face, absent in frames 8-10) labelled by ``annotations/EXPR_Set/Validation_Set/
  9001.txt``, and ``videos/batch2/9002-25-320x180.mp4`` (mp4v, 25 fps, 24 frames, a left face
  throughout, a right face in frames 0-17) labelled by ``Training_Set/9002-25-320x180_left.txt``
  and ``_right.txt`` (the right file has one line more than the video has frames, as the real
  releases sometimes do);
- ``Aff-Wild2-ABAW3plus/annotations/EXPR_Classification_Challenge/{Train_Set,Validation_Set}/``:
  the later layout, header ending ``,Other``, value 7 in 9001, the right file trimmed to N lines;
- ``_synthetic_truth/truth.json``: every drawn face box per frame and a note per label.lst row, so
  a test checks a conversion against known truth with a stand-in face detector (the faces are
  drawn: RetinaFace does not see them).

The content is fixed (no randomness); the bytes of the JPEGs and videos are whatever this
machine's OpenCV encodes, which no test depends on (frames are recognised by their decoded pixels).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from yof_darknet.samples.faces import draw_face

WARNING = "synthetic sample; not real ExpW / Aff-Wild2 data"
HEADER_2020 = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise"
HEADER_ABAW3 = HEADER_2020 + ",Other"
BACKGROUND = (160, 190, 160)  # BGR
FACE = (80, 160, 220)
VIDEO_BACKGROUND = (85, 85, 85)
VIDEO_FACES = {"main": (60, 140, 200), "left": (60, 140, 210), "right": (70, 200, 120)}

# image name -> (width, height); unlabeled_extra_1.jpg has no row (the real origin/ has more
# images than label.lst names)
EXPW_IMAGES = {
    "angry_actor_104.jpg": (240, 160),
    "disgusted_man_31.jpg": (200, 200),
    "afraid_child_7.jpg": (180, 240),
    "happy_family_55.jpg": (320, 200),
    "sad_woman_12.jpg": (160, 160),
    "surprised_boss_3.jpg": (220, 180),
    "neutral_student_88.jpg": (200, 150),
    "laughing_friends_19.jpg": (300, 180),
    "crying_baby_41.jpg": (150, 200),
    "unlabeled_extra_1.jpg": (120, 120),
}
# (image, face_id, top, left, right, bottom, confidence as written, label, note)
EXPW_ROWS = (
    ("angry_actor_104.jpg", 0, 28, 113, 226, 141, "22.9362", 0,
     "low score (<=50): value copied from the public sample line"),
    ("disgusted_man_31.jpg", 0, 40, 50, 150, 140, "71.0284", 1, "kept"),
    ("afraid_child_7.jpg", 0, 60, 30, 150, 180, "58.4417", 2, "kept"),
    ("happy_family_55.jpg", 0, 30, 20, 90, 100, "88.1953", 3, "multi-face image, face 0"),
    ("happy_family_55.jpg", 1, 40, 120, 190, 110, "64.7730", 3, "multi-face image, face 1"),
    ("happy_family_55.jpg", 2, 50, 230, 300, 120, "12.3001", 6,
     "multi-face image, face 2, low score"),
    ("sad_woman_12.jpg", 0, 0, 0, 160, 160, "95.5012", 4,
     "box == whole image (touches all borders)"),
    ("surprised_boss_3.jpg", 0, 20, 150, 230, 110, "77.9030", 5,
     "right=230 > width=220: out-of-image box (synthetic edge case)"),
    ("neutral_student_88.jpg", 0, 30, 60, 140, 120, "50.0000", 6,
     "exactly 50: excluded by '> 50', included by '>= 50'"),
    ("neutral_student_88.jpg", 0, 30, 60, 140, 120, "50.0000", 6,
     "exact duplicate line (meerkat calls drop_duplicates)"),
    ("laughing_friends_19.jpg", 0, 40, 30, 110, 120, "103.6625", 3,
     "score > 100 (synthetic; real range unverified)"),
    ("laughing_friends_19.jpg", 1, 50, 180, 250, 130, "31.0047", 3, "second face, low score"),
    ("crying_baby_41.jpg", 0, 70, 25, 125, 175, "50.0001", 4, "just above 50"),
    ("crying_baby_41.jpg", 1, 10, 10, 10, 10, "66.1200", 4,
     "degenerate zero-size box (synthetic edge case)"),
)  # fmt: skip

# 9001: one person whose box moves one pixel a frame and who is gone in frames 8-10
LABELS_9001 = (0, 0, 0, 4, 4, 4, 4, 4, -1, -1, -1, 5, 5, 5, 1, 1, 2, 3, 6, 6)
LABELS_9001_ABAW3 = (0, 0, 7, 4, 4, 4, 4, 4, -1, -1, -1, 5, 5, 5, 1, 1, 2, 3, 7, 6)
LABELS_9002_LEFT = (-1, -1, *[4] * 10, *[0] * 6, *[5] * 6)
LABELS_9002_RIGHT = (*[0] * 6, *[1] * 6, *[3] * 6, *[-1] * 7)  # 25 lines for 24 frames
LEFT_9002 = (30, 40, 110, 140)
RIGHT_9002 = (200, 35, 285, 140)
RIGHT_9002_FRAMES = 18


def _boxes_9001(frame: int) -> list[tuple[str, tuple[int, int, int, int]]]:
    if 8 <= frame <= 10:
        return []
    return [("main", (50 + frame, 20, 110 + frame, 95))]


def _boxes_9002(frame: int) -> list[tuple[str, tuple[int, int, int, int]]]:
    boxes = [("left", LEFT_9002)]
    return [*boxes, ("right", RIGHT_9002)] if frame < RIGHT_9002_FRAMES else boxes


# stem -> (video, fourcc, fps, (width, height), frames, boxes of a frame, annotation files)
VIDEOS = {
    "9001": ("videos/batch1/9001.avi", "MJPG", 30, (160, 120), 20, _boxes_9001,
             ["annotations/EXPR_Set/Validation_Set/9001.txt"]),
    "9002-25-320x180": ("videos/batch2/9002-25-320x180.mp4", "mp4v", 25, (320, 180), 24,
                        _boxes_9002,
                        ["annotations/EXPR_Set/Training_Set/9002-25-320x180_left.txt",
                         "annotations/EXPR_Set/Training_Set/9002-25-320x180_right.txt"]),
}  # fmt: skip


def _annotation(header: str, labels: tuple[int, ...]) -> str:
    return header + "\n" + "".join(f"{value}\n" for value in labels)


def _write_expw(root: Path) -> dict:
    origin = root / "image" / "origin"
    origin.mkdir(parents=True)
    for name, (width, height) in EXPW_IMAGES.items():
        image = np.full((height, width, 3), BACKGROUND, np.uint8)
        for row in EXPW_ROWS:
            if row[0] == name and row[4] > row[3] and row[5] > row[2]:
                top, left, right, bottom, label = row[2], row[3], row[4], row[5], row[7]
                draw_face(image, (left, top, right, bottom), label, FACE)
        assert cv2.imwrite(str(origin / name), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    (root / "label").mkdir()
    lines = [" ".join(str(v) for v in row[:8]) for row in EXPW_ROWS]
    (root / "label" / "label.lst").write_text("".join(f"{line}\n" for line in lines))
    fields = ("image_name", "face_id", "top", "left", "right", "bottom", "confidence", "label",
              "note")  # fmt: skip
    return {
        "images": {n: {"width": w, "height": h} for n, (w, h) in EXPW_IMAGES.items()},
        "rows": [dict(zip(fields, row, strict=True)) for row in EXPW_ROWS],
    }


def _draw_video_face(image: np.ndarray, box: tuple[int, int, int, int], colour) -> None:
    left, top, right, bottom = box
    cx, cy = (left + right) // 2, (top + bottom) // 2
    rx, ry = (right - left) // 2, (bottom - top) // 2
    cv2.ellipse(image, (cx, cy), (rx, ry), 0, 0, 360, colour, -1)
    for eye in (-1, 1):
        cv2.circle(image, (cx + eye * rx // 3, cy - ry // 3), max(rx // 8, 2), (20, 20, 20), -1)
    cv2.line(image, (cx - rx // 3, cy + ry // 2), (cx + rx // 3, cy + ry // 2), (20, 20, 20), 1)


def _write_video(path: Path, fourcc: str, fps: int, size: tuple[int, int], frames: int,
                 boxes) -> list[list[dict]]:  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), path
    truth = []
    for frame in range(frames):
        image = np.full((size[1], size[0], 3), VIDEO_BACKGROUND, np.uint8)
        placed = boxes(frame)
        for who, box in placed:
            _draw_video_face(image, box, VIDEO_FACES[who])
        # the frame number keeps every frame's pixels distinct
        cv2.putText(image, str(frame), (2, size[1] - 4), cv2.FONT_HERSHEY_PLAIN, 0.8,
                    (255, 255, 255), 1)  # fmt: skip
        writer.write(image)
        truth.append([{"who": who, "left": b[0], "top": b[1], "right": b[2], "bottom": b[3]}
                      for who, b in placed])  # fmt: skip
    writer.release()
    return truth


def _write_affwild2(root: Path, abaw3: Path) -> dict:
    truth = {}
    for stem, (video, fourcc, fps, size, frames, boxes, listed) in VIDEOS.items():
        per_frame = _write_video(root / video, fourcc, fps, size, frames, boxes)
        capture = cv2.VideoCapture(str(root / video))
        decoded = 0
        while capture.read()[0]:
            decoded += 1
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        assert decoded == frames, (video, decoded)
        truth[stem] = {
            "video": video, "fps": fps, "size": list(size), "frames_decoded": decoded,
            "CAP_PROP_FRAME_COUNT": count, "annotation_files": listed,
        }  # fmt: skip
        if stem == "9002-25-320x180":
            truth[stem]["note"] = (
                "_left = person whose face is on the LEFT of the image (smaller x); "
                "_right file has N+1 lines"
            )
        truth[stem]["boxes_per_frame"] = per_frame
    texts = {
        "Validation_Set/9001.txt": LABELS_9001,
        "Training_Set/9002-25-320x180_left.txt": LABELS_9002_LEFT,
        "Training_Set/9002-25-320x180_right.txt": LABELS_9002_RIGHT,
    }
    for name, labels in texts.items():
        path = root / "annotations" / "EXPR_Set" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_annotation(HEADER_2020, labels))
    later = {
        "Validation_Set/9001.txt": LABELS_9001_ABAW3,
        "Train_Set/9002-25-320x180_left.txt": LABELS_9002_LEFT,
        "Train_Set/9002-25-320x180_right.txt": LABELS_9002_RIGHT[:-1],
    }
    for name, labels in later.items():
        path = abaw3 / "annotations" / "EXPR_Classification_Challenge" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_annotation(HEADER_ABAW3, labels))
    return truth


def write_lookalikes(root: Path) -> Path:
    """Write the ExpW and Aff-Wild2 look-alikes and their truth into ``root``; returns it."""
    root.mkdir(parents=True, exist_ok=True)
    truth = {
        "WARNING": WARNING,
        "ExpW": _write_expw(root / "ExpW"),
        "Aff-Wild2": _write_affwild2(root / "Aff-Wild2", root / "Aff-Wild2-ABAW3plus"),
    }
    (root / "_synthetic_truth").mkdir()
    (root / "_synthetic_truth" / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return root
