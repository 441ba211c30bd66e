"""Each raw image decoded once: kept, kept through a derived copy, or left out under a reason."""

from __future__ import annotations

import os
import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.support.expw import tree_digest
from tests.support.hostile import (
    gif_bytes,
    header_only_png,
    jpeg_bytes,
    real_jpegs,
    real_pixels,
    truncated,
    write_expw,
)
from yof_darknet.datasets.build import build_datasets, expw_job
from yof_darknet.datasets.expw import convert_expw
from yof_darknet.datasets.images import (
    CHECKS_FILE,
    ImageChecks,
    ImageInfo,
    ImageProblem,
    inspect_image,
)
from yof_darknet.formats.imagefiles import read_list


def _png16(image_bgr: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image_bgr.astype(np.uint16) * 257)
    assert ok
    return data.tobytes()


def _cmyk_jpeg(image_bgr: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(image_bgr[:, :, ::-1]).convert("CMYK").save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return real_pixels()[:120, :160].copy()


def test_what_each_kind_of_file_is_answered(tmp_path, photo):
    real = real_jpegs(1)[0]
    cases = {
        "real.jpg": real.read_bytes(),
        "progressive.jpg": jpeg_bytes(photo, progressive=True),
        "png16.png": _png16(photo),
        "truncated.jpg": truncated(real.read_bytes()),
        "header.png": header_only_png(),
        "empty.jpg": b"",
        "text.jpg": b"not an image at all",
        "animated.gif": gif_bytes(photo, frames=3),
        "still.gif": gif_bytes(photo),
        "cmyk.jpg": _cmyk_jpeg(photo),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    os.mkfifo(tmp_path / "fifo.jpg")  # would block a plain open-and-read forever
    (tmp_path / "folder.jpg").mkdir()
    answers = {p.name: inspect_image(p) for p in sorted(tmp_path.iterdir())}
    reasons = {n: a.reason for n, a in answers.items() if isinstance(a, ImageProblem)}
    assert reasons == {
        "truncated.jpg": "undecodable_image",
        "header.png": "unreadable_image",
        "empty.jpg": "unreadable_image",
        "text.jpg": "unreadable_image",
        "animated.gif": "animated_image",
        "fifo.jpg": "unreadable_image",
        "folder.jpg": "unreadable_image",
    }
    kept = {n: a for n, a in answers.items() if isinstance(a, ImageInfo)}
    assert {n: a.recode is None for n, a in kept.items()} == {
        "real.jpg": True,
        "progressive.jpg": True,  # stb_image and OpenCV both read progressive JPEG
        "png16.png": True,  # both reduce 16-bit PNG to 8 bits alike
        "still.gif": False,  # Debian's darknet (OpenCV 4.6) reads no GIF: a PNG copy
        "cmyk.jpg": False,  # old stb_image builds read no CMYK JPEG: an RGB copy
    }
    assert kept["still.gif"].copy_suffix == ".png" and kept["cmyk.jpg"].copy_suffix == ".jpg"
    assert (kept["png16.png"].width, kept["png16.png"].height) == (160, 120)


def test_a_jpeg_stb_image_cannot_read_is_recoded():
    data = bytearray(jpeg_bytes(np.full((16, 16, 3), 90, np.uint8)))
    index = data.index(b"\xff\xc0")
    from yof_darknet.datasets.images import _jpeg_recode

    assert _jpeg_recode(bytes(data)) is None
    data[index + 1] = 0xC9  # arithmetic-coded sequential
    assert "0xC9" in _jpeg_recode(bytes(data))
    data[index + 1] = 0xC0
    data[index + 4] = 12  # 12-bit samples
    assert "12 bits" in _jpeg_recode(bytes(data))


def test_undecodable_pictures_are_counted_and_never_listed(tmp_path, photo):
    """The adversarial round's class: a valid header and no decodable data was kept and scored
    as darknet's 10x10 black stand-in. Now each is left out under its reason."""
    real = real_jpegs(1)[0].read_bytes()
    images = {
        "good.jpg": real,
        "truncated.jpg": truncated(real),
        "header.png": header_only_png(),
        "animated.gif": gif_bytes(photo, frames=2),
        "still.gif": gif_bytes(photo),
    }
    rows = [f"{name} 0 5 5 60 60 90 {i % 7}" for i, name in enumerate(images)]
    root = write_expw(tmp_path / "ExpW", images, rows)
    before = tree_digest(root)
    out = tmp_path / "out"
    summary = build_datasets([expw_job(root)], out, test_per_dataset=0)
    expw = summary.stats["datasets"]["expw"]
    assert expw["faces"]["skipped"] == {
        "animated_image": 1,
        "undecodable_image": 1,
        "unreadable_image": 1,
    }
    assert expw["details"]["undecodable_image_examples"][0].startswith("truncated.jpg: JPEG")
    assert expw["details"]["derived"]["recoded"] == 1
    listed = read_list(out / "train.txt")
    assert sorted(os.path.basename(p) for p in listed) == ["good.jpg", "still.png"]
    for path in listed:  # what Darknet reads decodes, at the size its label was made for
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None, path
        if path.endswith("still.png"):
            assert image.shape[:2] == (120, 160)
    copy = out / "expw" / "still.png"
    assert not copy.is_symlink() and copy.read_bytes().startswith(b"\x89PNG")
    assert tree_digest(root) == before


def test_checks_are_kept_and_a_rerun_decodes_only_changed_images(tmp_path, photo):
    root = write_expw(
        tmp_path / "ExpW",
        {"a.jpg": jpeg_bytes(photo), "b.jpg": jpeg_bytes(photo[:, ::-1])},
        ["a.jpg 0 5 5 60 60 90 3", "b.jpg 0 5 5 60 60 90 4"],
    )
    out = tmp_path / "out"
    convert_expw(root, out)
    checks = ImageChecks(out)
    assert set(checks.known) == {"a.jpg", "b.jpg"}
    origin = root / "image" / "origin"
    (origin / "b.jpg").write_bytes(truncated((origin / "b.jpg").read_bytes()))  # changed
    result = convert_expw(root, out)
    assert result.stats.skipped() == {"undecodable_image": 1}
    stored = ImageChecks(out).known
    assert stored["a.jpg"] == checks.known["a.jpg"]  # reused, not decoded again
    assert stored["b.jpg"][1] == "problem"
    assert (out / CHECKS_FILE).is_file()


def test_long_names_are_shortened_or_counted(tmp_path, photo):
    """A raw name of 240 bytes once killed the conversion (its temporary name passed the
    file-system limit); a longer token in label.lst's first rows killed the layout search."""
    long_name = "x" * 236 + ".jpg"  # 240 bytes: fits the file system, not a temporary name
    impossible = "y" * 300 + ".jpg"  # no file can have this name
    root = write_expw(
        tmp_path / "ExpW",
        {long_name: jpeg_bytes(photo)},
        [f"{impossible} 0 5 5 60 60 90 2", f"{long_name} 0 5 5 60 60 90 3"],
    )
    out = tmp_path / "out"
    result = convert_expw(root, out)
    assert result.stats.skipped() == {"missing_image": 1}
    (item,) = result.items
    assert len(item.image.name) <= 100 and item.image.resolve().name == long_name
    table = (out / "renamed.tsv").read_text().splitlines()
    assert table[1] == f"{long_name}\t{item.image.name}"


def test_a_bmp_named_like_a_jpeg_is_linked_as_it_is(tmp_path, photo):
    ok, bmp = cv2.imencode(".bmp", photo)
    assert ok and struct.unpack("<2s", bmp.tobytes()[:2])[0] == b"BM"
    root = write_expw(tmp_path / "ExpW", {"a.jpg": bmp.tobytes()}, ["a.jpg 0 5 5 60 60 90 3"])
    result = convert_expw(root, tmp_path / "out")
    (item,) = result.items
    # a BMP: both decoders read it, but it is another format: re-encoded losslessly
    assert item.image.suffix == ".png" and not item.image.is_symlink()
    decoded = cv2.imread(str(item.image))
    assert np.array_equal(decoded, photo)
