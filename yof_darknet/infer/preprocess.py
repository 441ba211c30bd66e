"""Darknet's own image pre-processing, vectorised: ``resize_image`` and ``letterbox_image``.

Darknet divides the 8-bit RGB pixels by 255 and resizes with a bilinear filter that samples at
``c * (in - 1) / (out - 1)`` (corners aligned, no area averaging when shrinking), in float32.
``cv2.resize`` samples at pixel centres and averages when shrinking, which moved class scores by
up to 0.01 on the fixtures; this module reproduces darknet's arithmetic step by step instead, so
that a non-square photo gets the same scores as in ``darknet detector test``/``map``.
Only the (at most ``2 * out_h``) source rows the filter reads are converted to float, so the cost
does not grow with the camera resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# (float)(x / 255.) for every byte value, as darknet converts pixels.
_TO_FLOAT = (np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)


@dataclass(frozen=True)
class Placement:
    """Where the image sits inside the network input, in darknet's ``correct_yolo_boxes`` terms:
    the resized image is ``new_w`` x ``new_h`` pixels inside the ``net_w`` x ``net_h`` input."""

    net_w: int
    net_h: int
    new_w: int
    new_h: int


def _taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source index, next index and float32 weight of each output sample along one axis."""
    if n_out == 1 or n_in == 1:
        index = np.zeros(n_out, dtype=np.intp)
        return index, index, np.zeros(n_out, dtype=np.float32)
    scale = np.float32(n_in - 1) / np.float32(n_out - 1)
    position = np.arange(n_out, dtype=np.float32) * scale
    index = position.astype(np.intp)
    weight = position - index.astype(np.float32)
    index = np.minimum(index, n_in - 1)
    return index, np.minimum(index + 1, n_in - 1), weight


def _resize_bgr(image_bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    in_h, in_w = image_bgr.shape[:2]
    ix, ix1, dx = _taps(in_w, width)
    # darknet copies the last source column as is (c == w-1), whatever the scale rounding says.
    ix[-1], ix1[-1], dx[-1] = in_w - 1, in_w - 1, 0.0
    iy, iy1, dy = _taps(in_h, height)
    rows, inverse = np.unique(np.concatenate([iy, iy1]), return_inverse=True)
    at_iy, at_iy1 = inverse[:height], inverse[height:]
    sub = image_bgr[rows]
    # work on (rows, width * 3) arrays: weights broadcast along the contiguous axis are fast.
    part = cv2.LUT(np.take(sub, ix, axis=1), _TO_FLOAT).reshape(len(rows), -1)
    part *= np.repeat(np.float32(1) - dx, 3)
    right = cv2.LUT(np.take(sub, ix1, axis=1), _TO_FLOAT).reshape(len(rows), -1)
    right *= np.repeat(dx, 3)
    part += right
    out = part[at_iy]
    out *= (np.float32(1) - dy)[:, None]
    # darknet adds the lower row's share except on the last output row (or a 1-row source).
    add = slice(0, height - 1 if in_h > 1 else 0)
    out[add] += part[at_iy1[add]] * dy[add, None]
    return out.reshape(height, width, 3)


def darknet_resize(image_bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Darknet's ``resize_image`` of an 8-bit BGR image: float32 RGB in [0, 1], HxWx3.

    >>> darknet_resize(np.full((5, 7, 3), 255, np.uint8), 3, 2).shape
    (2, 3, 3)
    """
    return _resize_bgr(image_bgr, width, height)[..., ::-1]


def darknet_input(
    image_bgr: np.ndarray, net_w: int, net_h: int, letter_box: bool
) -> tuple[np.ndarray, Placement]:
    """The 1x3xHxW float32 blob darknet feeds its network, and the image's placement in it."""
    in_h, in_w = image_bgr.shape[:2]
    if not letter_box:
        sized = _resize_bgr(image_bgr, net_w, net_h)
        placement = Placement(net_w, net_h, net_w, net_h)
    else:
        if np.float32(net_w) / np.float32(in_w) < np.float32(net_h) / np.float32(in_h):
            new_w, new_h = net_w, (in_h * net_w) // in_w
        else:
            new_w, new_h = (in_w * net_h) // in_h, net_h
        sized = np.full((net_h, net_w, 3), 0.5, dtype=np.float32)
        top, left = (net_h - new_h) // 2, (net_w - new_w) // 2
        sized[top : top + new_h, left : left + new_w] = _resize_bgr(image_bgr, new_w, new_h)
        placement = Placement(net_w, net_h, new_w, new_h)
    blob = np.ascontiguousarray(sized.transpose(2, 0, 1)[None, ::-1])
    return blob, placement


def to_image_boxes(cxcywh_net: np.ndarray, placement: Placement) -> np.ndarray:
    """Darknet's ``correct_yolo_boxes``: boxes relative to the network input -> relative to the
    image (cx, cy, w, h in 0..1), undoing the letterbox shift and scale when there is one."""
    p = placement
    ratio_w = np.float32(p.new_w) / np.float32(p.net_w)
    ratio_h = np.float32(p.new_h) / np.float32(p.net_h)
    shift_w = (p.net_w - p.new_w) / 2.0 / p.net_w
    shift_h = (p.net_h - p.new_h) / 2.0 / p.net_h
    out = np.empty_like(cxcywh_net, dtype=np.float64)
    out[:, 0] = (cxcywh_net[:, 0] - shift_w) / ratio_w
    out[:, 1] = (cxcywh_net[:, 1] - shift_h) / ratio_h
    out[:, 2] = cxcywh_net[:, 2] / ratio_w
    out[:, 3] = cxcywh_net[:, 3] / ratio_h
    return out
