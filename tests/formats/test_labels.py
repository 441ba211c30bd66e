from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.boxes import parse_line
from yof_darknet.core.errors import DatasetError
from yof_darknet.formats.labels import (
    alexeyab_label_path,
    check_label_path,
    label_line,
    label_path,
    pjreddie_label_path,
    xyxy_to_cxcywh_norm,
)


def test_label_line_exact_numbers():
    # box (30, 60)-(150, 180) in a 180x240 image: centre (90, 120), size 120x120
    assert label_line(2, (30, 60, 150, 180), (180, 240)) == "2 0.500000 0.500000 0.666667 0.500000"
    assert label_line(3, (20, 30, 90, 100), (320, 200)) == (
        f"3 {55 / 320:.6f} {65 / 200:.6f} {70 / 320:.6f} {70 / 200:.6f}"
    )
    assert xyxy_to_cxcywh_norm((0, 0, 160, 160), (160, 160)) == (0.5, 0.5, 1.0, 1.0)


def test_random_boxes_round_trip_within_one_pixel():
    rng = np.random.default_rng(1)
    for _ in range(2000):
        width, height = (int(v) for v in rng.integers(2, 4000, size=2))
        x1, x2 = sorted(rng.uniform(0, width, size=2))
        y1, y2 = sorted(rng.uniform(0, height, size=2))
        cls = int(rng.integers(0, 7))
        got_cls, box = parse_line(
            label_line(cls, (x1, y1, x2, y2), (width, height)), (width, height)
        )
        assert got_cls == cls
        assert np.allclose(box, (x1, y1, x2, y2), atol=1.0), (width, height, (x1, y1, x2, y2), box)


@pytest.mark.parametrize(
    "path",
    [
        "/data/raw/out/expw/a.jpg",
        "/data/images/expw/a.jpg",
        "/data/JPEGImages/expw/a.jpg",
        "/data/out/expw/drawing_man_1.jpg",
        "/data/out/expw/a.jpg.jpg",
        "/data/out/expw/a.JPG",
        "/data/out/expw/a.jpeg",
        "/data/out/expw/a.jpg ",
        "/data/out/expw/a\nb.jpg",
    ],
)
def test_check_label_path_rejects_paths_a_fork_rewrites(path):
    with pytest.raises(DatasetError):
        check_label_path(Path(path))


def test_check_label_path_accepts_plain_paths_and_says_why_otherwise():
    assert check_label_path(Path("/data/darknet/expw/angry_actor_104.jpg")) == Path(
        "/data/darknet/expw/angry_actor_104.txt"
    )
    assert check_label_path(Path("/d/x.png")) == Path("/d/x.txt")
    with pytest.raises(DatasetError, match=r"pjreddie.*/data/labels/expw/a\.txt"):
        check_label_path(Path("/data/images/expw/a.jpg"))


def test_fork_rewrites_match_the_c_code():
    # pjreddie: first occurrence of each substring, anywhere
    assert pjreddie_label_path("/a/images/b/images.jpg") == "/a/labels/b/images.txt"
    assert pjreddie_label_path("/a/straw/x.jpg") == "/a/stlabels/x.txt"
    # AlexeyAB: only the COCO/VOC folders, extension only at the end
    assert alexeyab_label_path("/a/images/x.jpg") == "/a/images/x.txt"
    assert alexeyab_label_path("/a/JPEGImages/x.jpg.png") == "/a/labels/x.jpg.txt"


def test_label_path_follows_alexeyab() -> None:
    assert label_path(Path("/d/JPEGImages/valid/a.jpg")) == Path("/d/labels/valid/a.txt")
    assert label_path(Path("/d/faces/a.png")) == Path("/d/faces/a.txt")
