from __future__ import annotations

import numpy as np
import pytest

from tests.support.ultralytics import ultralytics_props
from yof_darknet.core.expressions import CLASSES
from yof_darknet.formats.ultralytics import (
    PAD_VALUE,
    is_ultralytics,
    letterbox_into,
    read_ultralytics_info,
)


def test_metadata_as_the_export_writes_it():
    props = ultralytics_props(96, 64, end2end=True)
    assert is_ultralytics(props) and not is_ultralytics({"yof_darknet": "{}"})
    info = read_ultralytics_info(props, ("output0",), "m.onnx")
    assert (info.width, info.height, info.stride, info.end2end) == (96, 64, 32, True)
    assert info.names == CLASSES
    with pytest.raises(ValueError, match=r"m\.onnx: Ultralytics metadata without a readable"):
        read_ultralytics_info({**props, "imgsz": "[64,"}, ("output0",), "m.onnx")


@pytest.mark.parametrize(
    ("wh", "new_wh", "pad"), [((200, 120), (96, 58), (0, 3)), ((30, 40), (48, 64), (24, 0))]
)
def test_letterbox_as_ultralytics_places_the_image(wh, new_wh, pad):
    image = np.full((wh[1], wh[0], 3), (10, 20, 30), np.uint8)  # BGR
    blob = np.empty((3, 64, 96), np.float32)
    placement = letterbox_into(image, blob)
    assert (placement.pad_x, placement.pad_y) == pad
    assert (placement.gain_x, placement.gain_y) == (new_wh[0] / wh[0], new_wh[1] / wh[1])
    x, y = pad
    inside = blob[:, y : y + new_wh[1], x : x + new_wh[0]]
    np.testing.assert_allclose(inside[:, 0, 0], np.array([30, 20, 10]) / 255, rtol=1e-6)  # RGB
    outside = blob.copy()
    outside[:, y : y + new_wh[1], x : x + new_wh[0]] = PAD_VALUE / 255
    np.testing.assert_allclose(outside, PAD_VALUE / 255, rtol=1e-6)
