"""Darknet's pre-processing: the exact numpy resize against darknet's C loops, and the fast
ONNX Runtime resize against the exact one, on the pixels and on a trained model's scores; the
resize graph of RGBA pixels (what `serve`'s page runs) against detect's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.support.model import TinyModel
from yof_darknet.infer.detector import Detector
from yof_darknet.infer.yolo import decode_heads
from yof_darknet.tools.netinput import (
    darknet_resize,
    fill_input,
    resize_exact_into,
    resize_graph,
    resize_into,
)


def test_darknet_resize_reference():
    """darknet's resize_image, written as its C loops, against the vectorised version."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(7, 11, 3), dtype=np.uint8)
    src = image[..., ::-1].astype(np.float32) / np.float32(255)
    out_h, out_w = 5, 4
    w_scale = np.float32(11 - 1) / np.float32(out_w - 1)
    h_scale = np.float32(7 - 1) / np.float32(out_h - 1)
    part = np.zeros((7, out_w, 3), np.float32)
    for r in range(7):
        for c in range(out_w):
            if c == out_w - 1:
                part[r, c] = src[r, -1]
            else:
                sx = np.float32(c) * w_scale
                ix = int(sx)
                dx = sx - np.float32(ix)
                part[r, c] = (np.float32(1) - dx) * src[r, ix] + dx * src[r, ix + 1]
    expected = np.zeros((out_h, out_w, 3), np.float32)
    for r in range(out_h):
        sy = np.float32(r) * h_scale
        iy = int(sy)
        dy = sy - np.float32(iy)
        expected[r] = (np.float32(1) - dy) * part[iy]
        if r != out_h - 1:
            expected[r] += dy * part[iy + 1]
    np.testing.assert_array_equal(darknet_resize(image, out_w, out_h), expected)


@pytest.mark.parametrize(
    ("in_wh", "out_wh"),
    [((640, 480), (416, 416)), ((640, 480), (320, 320)), ((96, 96), (96, 96)),
     ((150, 96), (416, 256)), ((33, 1000), (8, 416)), ((1, 40), (32, 32)), ((40, 40), (1, 7)),
     ((320, 240), (416, 416)), ((1280, 720), (288, 288)), ((97, 61), (96, 96))],
)  # fmt: skip
def test_fast_resize_follows_the_exact_one(in_wh, out_wh):
    """Only the rounding of the sample positions differs, by up to two units in the last place
    of a position (~ side x 2**-23 pixels), times the step between neighbouring pixels (up to
    1 on this noise; 2e-5 in all on camera frames). The last row is Darknet's exactly, also
    where Darknet leaves it nearly black (240 -> 416, 720 -> 288, 61 -> 96)."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(in_wh[1], in_wh[0], 3), dtype=np.uint8)
    fast = np.empty((3, out_wh[1], out_wh[0]), np.float32)
    exact = np.empty_like(fast)
    resize_into(image, fast)
    resize_exact_into(image, exact)
    np.testing.assert_allclose(fast, exact, rtol=0, atol=max(in_wh) * 2.0**-22)
    np.testing.assert_array_equal(fast[:, -1], exact[:, -1])
    # a view into a bigger blob (a letterbox window) is written in place too
    window = np.zeros((3, out_wh[1] + 4, out_wh[0] + 6), np.float32)
    resize_into(image, window[:, 2:-2, 3:-3])
    np.testing.assert_array_equal(window[:, 2:-2, 3:-3], fast)
    assert not window[:, :2].any() and not window[:, :, :3].any()


@pytest.mark.parametrize("letter_box", [False, True])
def test_fast_resize_keeps_the_scores(tiny_model: TinyModel, letter_box: bool):
    """The trained model's decoded rows on fast and on exact inputs: objectness and class
    scores within 1e-5 (Darknet's records differ from ours by up to 1e-3 for other reasons)."""
    detector = Detector(tiny_model.cfg, tiny_model.weights)
    source = cv2.imread(str(tiny_model.valid_images[1]))
    worst = 0.0
    for width, height in ((150, 96), (96, 140), (200, 120), (64, 80)):
        image = cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA)
        fast = np.full((1, 3, 96, 96), 0.5, np.float32)
        exact = fast.copy()
        where = fill_input(image, fast[0], letter_box)
        top, left = (96 - where.new_h) // 2, (96 - where.new_w) // 2
        resize_exact_into(image, exact[0, :, top : top + where.new_h, left : left + where.new_w])
        rows = [decode_heads(detector.engine.run(b), detector.heads, 96, 96) for b in (fast, exact)]
        worst = max(worst, float(np.abs(rows[0][..., 4:] - rows[1][..., 4:]).max()))
    assert worst < 1e-5, worst


@pytest.mark.parametrize(("in_wh", "out_wh"), [((640, 480), (416, 312)), ((97, 61), (96, 60))])
def test_the_rgba_resize_graph_gives_detects_pixels(in_wh, out_wh):
    """``resize_graph("rgba")`` (any size, the output size an input: the browser page's) on the
    RGBA form of a BGR image equals the fixed-size BGR graph detect runs, bit for bit, and so
    detect's input but for the last row (which resize_into writes as Darknet does, and so does
    the page)."""
    import onnxruntime as ort

    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(in_wh[1], in_wh[0], 3), dtype=np.uint8)
    rgba = cv2.cvtColor(image, cv2.COLOR_BGR2RGBA)
    rgba[..., 3] = rng.integers(0, 256, size=rgba.shape[:2], dtype=np.uint8)  # ignored
    session = ort.InferenceSession(
        resize_graph("rgba").SerializeToString(), providers=["CPUExecutionProvider"]
    )
    sizes = np.array([1, 3, out_wh[1], out_wh[0]], np.int64)
    (page,) = session.run(None, {"rgba": rgba, "sizes": sizes})
    fixed = ort.InferenceSession(
        resize_graph("bgr", in_wh, out_wh).SerializeToString(),
        providers=["CPUExecutionProvider"],
    )
    np.testing.assert_array_equal(page, fixed.run(None, {"bgr": image})[0])
    detect = np.empty((3, out_wh[1], out_wh[0]), np.float32)
    resize_into(image, detect)
    assert page.shape == detect.shape and page.dtype == np.float32
    np.testing.assert_array_equal(page[:, :-1], detect[:, :-1])
    with pytest.raises(ValueError, match="pixels"):
        resize_graph("rgb")
