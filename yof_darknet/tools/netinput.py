"""Darknet's own image pre-processing (``resize_image``, ``letterbox_image``), fast.

Darknet divides the 8-bit RGB pixels by 255 and resizes with a separable bilinear filter that
samples at ``c * (in - 1) / (out - 1)`` (corners aligned, no area averaging when shrinking), in
float32: first along each row, then between rows. ``cv2.resize`` samples at pixel centres
(class scores moved by up to 0.01 on the fixtures), and ``cv2.remap``/``warpAffine`` round
sample positions to 1/32 pixel, so neither is Darknet's arithmetic.

Two implementations of that arithmetic:

* :func:`resize_into` (every frame, every calibration image): ONNX Runtime's ``Resize``
  (linear, ``align_corners``: Darknet's sample positions and weights) on the float32 pixels,
  one small cached graph per (input size, output size) that also reorders BGR HxWx3 into
  planar RGB, run on the calling thread. It differs from Darknet only in how the
  sample position is rounded (ONNX Runtime computes ``c * (in - 1) / (out - 1)`` in one
  rounding, Darknet ``c * ((in - 1) / (out - 1))`` in two): a position moves by up to two
  units in its last place (~ side x 2**-23 pixels), the pixel by that times the step to its
  neighbour: ~2e-5 on a [0, 1] camera frame, class scores within 1e-5 of the exact resize
  (tests/tools/test_netinput.py). Its last row is then rewritten with Darknet's arithmetic,
  which skips the row below there: where the float32 step ends just short of the last source
  row, Darknet's last row is nearly black, and so is ours. 1.2-1.9 ms per 640x480 frame at 416
  on one core, against ~2.5-4.7 ms for the exact one;
* :func:`resize_exact_into`: Darknet's float32 operations in Darknet's order (bit-identical to
  its C loops) with tables precomputed once per (input size, output size), numpy only: the
  reference the fast one is tested against, and the path for degenerate sizes (an input or
  output side of 1 pixel, where Darknet's special cases apply).

The tables live in this bottom layer because both the detector (every frame) and the int8 export
(calibration images) must feed the network exactly what Darknet would.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from onnx import ModelProto

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


@dataclass(frozen=True)
class _Plan:
    rows: np.ndarray | None  # source rows read (None: all of them, in order)
    columns: np.ndarray  # left then right source column of each output column
    left: np.ndarray  # 1 - dx per output column
    right: np.ndarray  # dx
    upper_row: np.ndarray  # index into the read rows of each output row's upper source row
    lower_row: np.ndarray
    upper: np.ndarray  # (out_h, 1): 1 - dy
    lower: np.ndarray  # (out_h, 1): dy, 0 on the last row (darknet adds nothing there)


@lru_cache(maxsize=32)
def _plan(in_w: int, in_h: int, out_w: int, out_h: int) -> _Plan:
    ix, ix1, dx = _taps(in_w, out_w)
    # darknet copies the last source column as is (c == w-1), whatever the scale rounding says.
    ix[-1], ix1[-1], dx[-1] = in_w - 1, in_w - 1, 0.0
    iy, iy1, dy = _taps(in_h, out_h)
    rows, inverse = np.unique(np.concatenate([iy, iy1]), return_inverse=True)
    lower = dy.copy()
    # darknet adds the lower row's share except on the last output row (or a 1-row source).
    lower[-1 if in_h > 1 else slice(None)] = 0.0
    one = np.float32(1)
    return _Plan(
        rows=None if np.array_equal(rows, np.arange(in_h)) else rows,
        columns=np.concatenate([ix, ix1]),
        left=one - dx,
        right=dx,
        upper_row=inverse[:out_h],
        lower_row=inverse[out_h:],
        upper=(one - dy)[:, None],
        lower=lower[:, None],
    )


def resize_exact_into(image_bgr: np.ndarray, out: np.ndarray) -> None:
    """Darknet's ``resize_image`` of an 8-bit BGR image into ``out``, a float32 (3, H, W) RGB
    array (a view into a blob is fine): planes R, G, B in [0, 1], bit-identical to Darknet."""
    in_h, in_w = image_bgr.shape[:2]
    out_h, out_w = out.shape[1:]
    plan = _plan(in_w, in_h, out_w, out_h)
    source = image_bgr if plan.rows is None else image_bgr[plan.rows]
    lower = np.empty((out_h, out_w), dtype=np.float32)
    for plane, target in zip(cv2.split(source)[::-1], out, strict=True):
        taps = np.asarray(cv2.LUT(np.take(plane, plan.columns, axis=1), _TO_FLOAT), np.float32)
        part, right = taps[:, :out_w], taps[:, out_w:]
        part *= plan.left
        right *= plan.right
        part += right
        np.take(part, plan.upper_row, axis=0, out=target)
        target *= plan.upper
        np.take(part, plan.lower_row, axis=0, out=lower)
        lower *= plan.lower
        target += lower


def resize_graph(
    pixels: str = "bgr", in_wh: tuple[int, int] | None = None, out_wh: tuple[int, int] | None = None
) -> ModelProto:
    """The ONNX model of the fast resize: an 8-bit HxWxC image (``pixels``: ``bgr``, 3
    channels, or ``rgba``, 4, as a browser's canvas gives them) -> float32 planar RGB
    (3, out_h, out_w) in [0, 1], by ONNX Runtime's ``Resize`` (linear, corners aligned). With
    ``in_wh`` and ``out_wh``: fixed shapes; without: any input size, and the output size is a
    second input, ``sizes`` = [1, 3, out_h, out_w] (int64). ``yof-darknet serve``'s page runs
    the ``rgba`` one in ONNX Runtime Web: the same kernel, so the same pixels as ``detect``."""
    from onnx import TensorProto, helper, numpy_helper

    if pixels not in ("bgr", "rgba"):
        raise ValueError(f"pixels={pixels!r}: bgr or rgba")

    def const(name: str, value: np.ndarray) -> TensorProto:
        return numpy_helper.from_array(np.asarray(value), name)

    # the R, G, B planes: reversed out of B, G, R; the first three of R, G, B, A
    start, end, step = ([2], [-4], [-1]) if pixels == "bgr" else ([0], [3], [1])
    channels = 3 if pixels == "bgr" else 4
    node = helper.make_node
    nodes = [
        node("Transpose", [pixels], ["planar"], perm=[2, 0, 1]),
        node("Slice", ["planar", "start", "end", "axis", "step"], ["rgb"]),
        node("Cast", ["rgb"], ["pixels"], to=TensorProto.FLOAT),
        # float32(x) / 255 equals darknet's (float)(x / 255.) for all 256 bytes
        node("Div", ["pixels", "k255"], ["unit"]),
        node("Unsqueeze", ["unit", "axis"], ["batch"]),
        node("Resize", ["batch", "", "", "sizes"], ["resized"], mode="linear",
             coordinate_transformation_mode="align_corners"),
        node("Squeeze", ["resized", "axis"], ["out"]),
    ]  # fmt: skip
    constants = [
        const("start", np.array(start)),
        const("end", np.array(end)),
        const("axis", np.array([0])),
        const("step", np.array(step)),
        const("k255", np.array(255, np.float32)),
    ]
    inputs = [
        helper.make_tensor_value_info(
            pixels,
            TensorProto.UINT8,
            [in_wh[1], in_wh[0], channels] if in_wh else ["h", "w", channels],
        )
    ]
    if out_wh is not None:
        constants.append(const("sizes", np.array([1, 3, out_wh[1], out_wh[0]])))
    else:
        inputs.append(helper.make_tensor_value_info("sizes", TensorProto.INT64, [4]))
    out_shape: list[str | int] = [3, out_wh[1], out_wh[0]] if out_wh else [3, "out_h", "out_w"]
    graph = helper.make_graph(
        nodes,
        "darknet_resize",
        inputs,
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, out_shape)],
        constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


class _Resizer:
    """ONNX Runtime's ``Resize`` (linear, corners aligned) of an 8-bit BGR HxWx3 image into a
    float32 planar RGB (3, out_h, out_w) image in [0, 1]."""

    def __init__(self, in_w: int, in_h: int, out_w: int, out_h: int) -> None:
        import onnxruntime as ort

        model = resize_graph("bgr", (in_w, in_h), (out_w, out_h))
        options = ort.SessionOptions()
        # one thread, the caller's: as fast as two on a quiet machine (~1.1-1.3 ms a 640x480
        # frame), and unlike two it does not wait for a descheduled peer on a busy one.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.shape = [3, out_h, out_w]

    def __call__(self, image_bgr: np.ndarray, out: np.ndarray) -> None:
        image = np.ascontiguousarray(image_bgr)
        if not out.flags.c_contiguous:  # a letterbox window: ONNX Runtime writes elsewhere
            out[...] = self.session.run(None, {"bgr": image})[0]
            return
        binding = self.session.io_binding()
        binding.bind_cpu_input("bgr", image)
        binding.bind_output("out", "cpu", 0, np.float32, self.shape, out.ctypes.data)
        self.session.run_with_iobinding(binding)


@lru_cache(maxsize=8)
def _resizer(in_w: int, in_h: int, out_w: int, out_h: int) -> _Resizer:
    return _Resizer(in_w, in_h, out_w, out_h)


def _last_row_exact(image_bgr: np.ndarray, out: np.ndarray) -> None:
    """Darknet's last output row, where it is not the last source row: when the float32 step
    puts the last sample just short of the last source row (``sy`` = 59.999996 of 60 rows),
    Darknet takes ``(1 - dy)`` of the row above and skips the row below on the last row, so
    that row is nearly black (e.g. 240 -> 416, 720 -> 288, 960 -> 480). ONNX Runtime's Resize
    samples the last row itself; this writes Darknet's (one row: a few microseconds)."""
    in_h, in_w = image_bgr.shape[:2]
    out_h, out_w = out.shape[1:]
    plan = _plan(in_w, in_h, out_w, out_h)
    upper = plan.upper[-1, 0]
    row = int(plan.upper_row[-1] if plan.rows is None else plan.rows[plan.upper_row[-1]])
    source = image_bgr[row : row + 1]
    for plane, target in zip(cv2.split(source)[::-1], out, strict=True):
        taps = np.asarray(cv2.LUT(np.take(plane, plan.columns, axis=1), _TO_FLOAT), np.float32)[0]
        part, right = taps[:out_w] * plan.left, taps[out_w:] * plan.right
        target[-1] = (part + right) * upper


def resize_into(image_bgr: np.ndarray, out: np.ndarray) -> None:
    """Darknet's ``resize_image`` of an 8-bit BGR image into ``out``, a float32 (3, H, W) RGB
    array (a view into a blob is fine): planes R, G, B in [0, 1], within ~2e-5 of Darknet's
    float arithmetic (see the module's docstring), its last row exactly Darknet's."""
    in_h, in_w = image_bgr.shape[:2]
    out_h, out_w = out.shape[1:]
    if min(in_w, in_h, out_w, out_h) < 2:
        resize_exact_into(image_bgr, out)
        return
    _resizer(in_w, in_h, out_w, out_h)(image_bgr, out)
    _last_row_exact(image_bgr, out)


def darknet_resize(image_bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Darknet's ``resize_image`` of an 8-bit BGR image, bit-identical: float32 RGB in [0, 1],
    HxWx3.

    >>> darknet_resize(np.full((5, 7, 3), 255, np.uint8), 3, 2).shape
    (2, 3, 3)
    """
    planes = np.empty((3, height, width), dtype=np.float32)
    resize_exact_into(image_bgr, planes)
    return planes.transpose(1, 2, 0)


def placement(in_w: int, in_h: int, net_w: int, net_h: int, letter_box: bool) -> Placement:
    """Where darknet puts an ``in_w`` x ``in_h`` image in the network input."""
    if not letter_box:
        return Placement(net_w, net_h, net_w, net_h)
    if np.float32(net_w) / np.float32(in_w) < np.float32(net_h) / np.float32(in_h):
        return Placement(net_w, net_h, net_w, (in_h * net_w) // in_w)
    return Placement(net_w, net_h, (in_w * net_h) // in_h, net_h)


def fill_input(image_bgr: np.ndarray, blob: np.ndarray, letter_box: bool) -> Placement:
    """Write darknet's network input for ``image_bgr`` into ``blob`` (3xHxW float32, e.g. one
    item of a batch) and return the image's placement in it."""
    in_h, in_w = image_bgr.shape[:2]
    net_h, net_w = blob.shape[1:]
    where = placement(in_w, in_h, net_w, net_h, letter_box)
    if not letter_box:
        resize_into(image_bgr, blob)
        return where
    blob.fill(0.5)
    top, left = (net_h - where.new_h) // 2, (net_w - where.new_w) // 2
    resize_into(image_bgr, blob[:, top : top + where.new_h, left : left + where.new_w])
    return where


def darknet_input(
    image_bgr: np.ndarray, net_w: int, net_h: int, letter_box: bool
) -> tuple[np.ndarray, Placement]:
    """The 1x3xHxW float32 blob darknet feeds its network, and the image's placement in it."""
    blob = np.empty((1, 3, net_h, net_w), dtype=np.float32)
    return blob, fill_input(image_bgr, blob[0], letter_box)


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
