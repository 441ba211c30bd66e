"""The one YOLO decoder: raw ``[yolo]`` head outputs -> the rows darknet's ``get_yolo_detections``
reads, whichever engine (ONNX Runtime, OpenCV DNN) ran the network.

A head's raw output is the convolution before the ``[yolo]`` layer, (batch, anchors*(5+classes),
grid_h, grid_w). Darknet's yolo layer applies the logistic to x, y, objectness and classes,
``scale_x_y`` to x and y (AlexeyAB), and ``get_yolo_box`` turns a cell into a box relative to the
network input::

    x = (col + sigmoid(tx) * s - (s - 1) / 2) / grid_w      w = exp(tw) * anchor_w / net_w

With ``new_coords=1`` (yolov7-tiny) the convolution before the head already ends in a logistic,
so darknet applies none (``forward_yolo_layer``) and ``w = tw * tw * 4 * anchor_w / net_w``.

Rows come out cell by cell, anchor by anchor (darknet's order): (cx, cy, w, h, objectness,
objectness * class probability...), in float32 like darknet's arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from yof_darknet.core.errors import InferenceError
from yof_darknet.formats.modelinfo import YoloHead


def _logistic(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.float32(1) / (np.float32(1) + np.exp(-values))


def decode_head(raw: np.ndarray, head: YoloHead, net_w: int, net_h: int) -> np.ndarray:
    """(batch, grid_h * grid_w * anchors, 5 + classes) rows of one head's raw output."""
    batch, channels, grid_h, grid_w = raw.shape
    if channels != head.channels:
        raise InferenceError(
            f"a [yolo] head with {len(head.anchors)} anchors and {head.classes} classes needs "
            f"{head.channels} channels, the network gives {channels}"
        )
    count = len(head.anchors)
    # (batch, grid_h, grid_w, anchors, 5 + classes): darknet's row order.
    cells = raw.reshape(batch, count, head.classes + 5, grid_h, grid_w).transpose(0, 3, 4, 1, 2)
    rows = cells.astype(np.float32) if head.new_coords else _logistic(cells.astype(np.float32))
    scale = np.float32(head.scale_x_y)
    xy = rows[..., :2]
    if head.scale_x_y != 1.0:
        xy *= scale
        xy -= np.float32(0.5) * (scale - np.float32(1))
    xy[..., 0] += np.arange(grid_w, dtype=np.float32)[None, None, :, None]
    xy[..., 1] += np.arange(grid_h, dtype=np.float32)[None, :, None, None]
    xy[..., 0] /= np.float32(grid_w)
    xy[..., 1] /= np.float32(grid_h)
    anchors = np.asarray(head.anchors, dtype=np.float32) / np.array([net_w, net_h], np.float32)
    if head.new_coords:
        wh = cells[..., 2:4].astype(np.float32)
        rows[..., 2:4] = wh * wh * np.float32(4) * anchors
    else:
        with np.errstate(over="ignore"):
            rows[..., 2:4] = np.exp(cells[..., 2:4].astype(np.float32)) * anchors
    rows[..., 5:] *= rows[..., 4:5]
    return rows.reshape(batch, -1, head.classes + 5)


def decode_heads(
    raws: Sequence[np.ndarray], heads: Sequence[YoloHead], net_w: int, net_h: int
) -> np.ndarray:
    """(batch, rows, 5 + classes): every head's rows, heads in cfg order."""
    if len(raws) != len(heads):
        raise InferenceError(f"the network gives {len(raws)} outputs for {len(heads)} [yolo] heads")
    return np.concatenate(
        [decode_head(raw, head, net_w, net_h) for raw, head in zip(raws, heads, strict=True)],
        axis=1,
    )
