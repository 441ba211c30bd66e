"""`detect` on folders and lists whose names are not UTF-8 or hold shell syntax: read, never a
crash (OpenCV crashed with SIGSEGV on such a name, a list died with UnicodeDecodeError)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.hostile import jpeg_bytes, real_pixels, truncated
from tests.support.model import tiny_cfg
from yof_darknet.formats.imagefiles import opencv_path, read_image, read_list
from yof_darknet.infer.sources import resolve_source
from yof_darknet.infer.weightsfile import write_random_weights

LATIN1 = os.fsdecode(b"caf\xe9.jpg")
NAMES = ["plain.jpg", LATIN1, "s$(touch${IFS}V).jpg", os.fsdecode(b"sub\xff/deep.jpg")]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    photo = real_pixels()[:96, :96].copy()
    for name in NAMES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(jpeg_bytes(photo))
    (folder / "broken.jpg").write_bytes(truncated(jpeg_bytes(photo))[:200])
    return folder


def test_folders_and_lists_of_any_names_are_read(photos, tmp_path):
    source = resolve_source(str(photos))
    assert len(source.images) == len(NAMES) + 1
    for path in source.images:
        image = read_image(path)
        assert (image is None) == (path.name == "broken.jpg")
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"".join(os.fsencode(photos / n) + b"\r\n" for n in NAMES))
    assert [Path(p) for p in read_list(listing)] == [photos / n for n in NAMES]
    assert [p.name for p in resolve_source(str(listing)).images] == [Path(n).name for n in NAMES]


def test_a_video_whose_name_is_not_utf8_opens_through_a_link(tmp_path, dataset_fixtures):
    import cv2

    video = tmp_path / os.fsdecode(b"vid\xe9o.avi")
    video.write_bytes(
        (dataset_fixtures / "Aff-Wild2" / "videos" / "batch1" / "9001.avi").read_bytes()
    )
    with opencv_path(video) as name:
        assert name.isascii() and Path(name).resolve() == video.resolve()
        capture = cv2.VideoCapture(name)
    ok, frame = capture.read()  # the open file outlives the link
    capture.release()
    assert ok and frame.shape == (120, 160, 3)
    with opencv_path(tmp_path / "plain.avi") as name:
        assert name == str(tmp_path / "plain.avi")


@pytest.mark.slow
def test_detect_on_such_a_folder_and_list_runs_to_the_end(photos, tmp_path, darknet_fixtures):
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(tiny_cfg((darknet_fixtures / "dataset" / "yolov3-tiny-obj.cfg").read_text()))
    weights = tmp_path / "tiny.weights"
    write_random_weights(cfg, weights, seed=3)
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"".join(os.fsencode(photos / n) + b"\n" for n in NAMES))
    for source in (photos, listing):
        out = tmp_path / f"out-{source.name}.json"
        done = subprocess.run(
            [sys.executable, "-m", "yof_darknet", "detect", os.fsencode(source), "--cfg", str(cfg),
             "--weights", str(weights), "--engine", "opencv", "--json", str(out)],
            capture_output=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        frames = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(frames) == len(NAMES)  # broken.jpg skipped (and said so), none crashed
    assert not list(tmp_path.rglob("V"))
