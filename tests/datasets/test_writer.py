from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from yof_darknet.datasets.writer import (
    alexeyab_label_path,
    atomic_write_text,
    check_label_path,
    label_line,
    pjreddie_label_path,
    place_image,
    xyxy_to_cxcywh_norm,
)
from yof_darknet.errors import DatasetError


def parse_line(line: str, image_wh: tuple[int, int]) -> tuple[int, tuple[float, ...]]:
    """Darknet label line → (class, pixel box x1 y1 x2 y2): the inverse a reader would apply."""
    cls, cx, cy, w, h = line.split()
    width, height = image_wh
    cx, cy, w, h = float(cx) * width, float(cy) * height, float(w) * width, float(h) * height
    return int(cls), (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


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


def test_place_image_symlink_copy_and_switching(tmp_path):
    source = tmp_path / "src" / "a.jpg"
    source.parent.mkdir()
    source.write_bytes(b"jpeg bytes")
    source.chmod(0o444)
    target = tmp_path / "out" / "a.jpg"

    place_image(source, target)
    assert target.is_symlink() and Path(os.readlink(target)) == source.resolve()

    place_image(source, target, copy=True)  # a copy replaces the symlink
    assert not target.is_symlink() and target.read_bytes() == b"jpeg bytes"
    assert target.stat().st_mode & stat.S_IWUSR, "the copy must not inherit the raw read-only mode"
    mtime = target.stat().st_mtime_ns
    place_image(source, target, copy=True)  # an up-to-date copy is left alone
    assert target.stat().st_mtime_ns == mtime

    place_image(source, target)  # back to a symlink
    assert target.is_symlink()
    assert source.read_bytes() == b"jpeg bytes" and not list(target.parent.glob(".*"))


def test_place_image_replaces_a_stale_copy(tmp_path):
    old, new = tmp_path / "old.jpg", tmp_path / "new.jpg"
    old.write_bytes(b"old!")
    new.write_bytes(b"new!")  # same size, other content and time
    os.utime(new, ns=(1_000_000_000, 1_000_000_000))
    target = tmp_path / "out" / "t.jpg"
    place_image(old, target, copy=True)
    place_image(new, target, copy=True)
    assert target.read_bytes() == b"new!"


def test_atomic_write_text_is_readable_and_leaves_no_temp(tmp_path):
    path = tmp_path / "deep" / "list.txt"
    atomic_write_text(path, "a\n")
    atomic_write_text(path, "b\n")
    assert path.read_text() == "b\n"
    assert path.stat().st_mode & 0o044, "lists must be readable like any file the user writes"
    assert [p.name for p in path.parent.iterdir()] == ["list.txt"]


def test_atomic_writes_from_threads_never_mix(tmp_path):
    path = tmp_path / "shared.txt"
    texts = [f"{i}\n" * 1000 for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda text: atomic_write_text(path, text), texts))
    assert path.read_text() in texts
    assert [p.name for p in tmp_path.iterdir()] == ["shared.txt"]
