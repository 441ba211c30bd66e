"""Derived copies: EXIF-turned photos written upright with their boxes turned, --max-side."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.support.boxes import iou_xyxy, parse_line
from tests.support.expw import tree_digest
from tests.support.hostile import coloured_block, jpeg_bytes, real_pixels, write_expw
from yof_darknet.datasets.build import build_datasets, expw_job
from yof_darknet.datasets.derived import MANIFEST, orient_box, orient_pixels, shrunk_size
from yof_darknet.datasets.expw import convert_expw

RED = (0, 0, 255)
STORED_BOX = (30, 20, 90, 60)  # x1 y1 x2 y2 of the red "face" in the stored pixels


@pytest.fixture(scope="module")
def stored() -> np.ndarray:
    """A real photo's pixels (as stored in the file) with a red block where label.lst's box is."""
    image = real_pixels()[:100, :160].copy()
    x1, y1, x2, y2 = STORED_BOX
    image[y1:y2, x1:x2] = RED
    return image


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_turned_photo_is_written_upright_with_its_box(tmp_path, stored, orientation):
    """Real EXIF-tagged JPEGs, every orientation: the label matches the face in the image
    Darknet reads, which is what OpenCV (and every photo viewer) shows upright, and carries no
    EXIF left for a decoder to apply or not."""
    name = f"turned_{orientation}.jpg"
    data = jpeg_bytes(stored, orientation=orientation)
    x1, y1, x2, y2 = STORED_BOX  # ExpW boxes are in stored pixels: top left right bottom
    root = write_expw(tmp_path / "ExpW", {name: data}, [f"{name} 0 {y1} {x1} {x2} {y2} 90 3"])
    before = tree_digest(root)
    result = convert_expw(root, tmp_path / "out")
    (item,) = result.items
    written = cv2.imdecode(np.fromfile(item.image, np.uint8), cv2.IMREAD_COLOR)
    shown = cv2.imread(str(root / "image" / "origin" / name))  # OpenCV applies the EXIF turn
    assert written.shape == shown.shape
    assert np.abs(written.astype(int) - shown).mean() < 3  # the same picture, re-encoded
    height, width = written.shape[:2]
    (line,) = item.image.with_suffix(".txt").read_text().splitlines()
    class_id, box = parse_line(line, (width, height))
    assert class_id == 3
    assert iou_xyxy(box, coloured_block(written, RED)) > 0.9
    if orientation == 1:
        assert item.image.is_symlink()  # nothing to turn: the raw file itself
    else:
        assert not item.image.is_symlink()
        assert (
            cv2.imread(str(item.image), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION).shape
            == written.shape
        )
        assert result.stats.details["derived"]["upright"] == 1
    assert tree_digest(root) == before


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_box_follows_the_pixels(orientation):
    image = np.zeros((50, 80), np.uint8)
    image[10:20, 5:35] = 255
    turned = orient_pixels(image, orientation)
    ys, xs = np.nonzero(turned)
    expected = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert orient_box((5, 10, 35, 20), (80, 50), orientation) == expected


def test_max_side_shrinks_once_and_never_touches_the_raw(tmp_path, stored):
    big = cv2.resize(stored, (960, 600), interpolation=cv2.INTER_CUBIC)
    small = stored
    root = write_expw(
        tmp_path / "ExpW",
        {"big.jpg": jpeg_bytes(big), "small.jpg": jpeg_bytes(small)},
        ["big.jpg 0 120 180 540 360 90 3", "small.jpg 0 20 30 90 60 90 4"],
    )
    before = tree_digest(root)
    out = tmp_path / "out"
    summary = build_datasets([expw_job(root, max_side=640)], out, test_per_dataset=0)
    expw = summary.stats["datasets"]["expw"]["details"]["derived"]
    assert expw == {"copies": 1, "written_this_run": 1, "upright": 0, "shrunk": 1,
                    "recoded": 0, "masked": 0, "max_side": 640}  # fmt: skip
    shrunk = cv2.imread(str(out / "expw" / "big.jpg"))
    assert shrunk.shape[:2] == (400, 640) and not (out / "expw" / "big.jpg").is_symlink()
    assert (out / "expw" / "small.jpg").is_symlink()  # under the limit: the raw file
    # labels are normalised: the same as without --max-side
    plain = convert_expw(root, tmp_path / "plain")
    for name in ("big", "small"):
        assert (out / "expw" / f"{name}.txt").read_text() == (
            tmp_path / "plain" / f"{name}.txt"
        ).read_text()
    assert plain.stats.details["derived"]["copies"] == 0
    # a re-run writes nothing again (the record matches), and the raw files never changed
    stamp = (out / "expw" / "big.jpg").stat().st_mtime_ns
    again = build_datasets([expw_job(root, max_side=640)], out, test_per_dataset=0)
    assert again.stats["datasets"]["expw"]["details"]["derived"]["written_this_run"] == 0
    assert (out / "expw" / "big.jpg").stat().st_mtime_ns == stamp
    assert (out / "expw" / MANIFEST).is_file()
    # turning the option off goes back to the raw file
    build_datasets([expw_job(root)], out, test_per_dataset=0)
    assert (out / "expw" / "big.jpg").is_symlink()
    assert tree_digest(root) == before


def test_shrunk_size_keeps_the_aspect_ratio():
    assert shrunk_size((1920, 1080), 640) == (640, 360)
    assert shrunk_size((1080, 1920), 640) == (360, 640)
    assert shrunk_size((500, 400), 640) == (500, 400)
    assert shrunk_size((5000, 3), 640) == (640, 1)
    assert shrunk_size((1920, 1080), 0) == (1920, 1080)
