from __future__ import annotations

import numpy as np
import pytest

from yof_darknet.core.errors import ExportError
from yof_darknet.export.graph import build_model
from yof_darknet.formats.cfg import parse_cfg

HEAD_THEN_CONV = """[net]
width=32
height=32
channels=3

[convolutional]
filters=18
size=1
stride=1
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58
classes=1

[convolutional]
filters=4
size=1
stride=1
activation=linear
"""


def test_a_layer_reading_a_yolo_layer_is_refused_by_its_line():
    sections = parse_cfg(HEAD_THEN_CONV)
    with pytest.raises(ExportError, match=r"line 17: \[convolutional\] reads the output of a"):
        build_model(sections, np.zeros(1000, np.float32), "alexeyab", "head-then-conv")
