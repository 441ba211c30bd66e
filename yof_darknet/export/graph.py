"""Darknet cfg + weights -> an ONNX graph, with the ``onnx`` helpers only (no torch).

Layer by layer, as darknet's ``parse_network_cfg`` + ``load_weights`` read them:

* ``[convolutional]``: Conv with batch norm folded into the filters and biases, using the
  epsilon of the darknet that trained the weights (pjreddie: ``(x - mean) / (sqrt(var) +
  1e-6)``; AlexeyAB and hank-ai: ``(x - mean) / sqrt(var + 1e-5)``), then the activation
  (linear, leaky 0.1, relu, logistic, mish, swish);
* ``[maxpool]``: MaxPool with darknet's padding (``padding`` = size - 1 by default, split
  ``pad // 2`` before and the rest after: the stride-1, size-2 layer of yolov3-tiny pads one
  row and column at the bottom and right; padded cells never win, as darknet's -inf);
* ``[route]``: Concat of the layers, each cut to its ``group_id``-th of ``groups`` channel
  groups; ``[shortcut]``: Add; ``[upsample]``: nearest Resize (asymmetric, floor);
  ``[dropout]``: nothing at inference;
* ``[yolo]``: the convolution before it becomes a graph output, named like OpenCV names it
  (``conv_15``; ``logistic_N`` when it ends in a logistic, as with ``new_coords=1``); decoding
  stays outside the model (:mod:`yof_darknet.infer.yolo`);
* classifiers (``yof-darknet train-classifier``): ``[avgpool]`` (darknet's global average:
  GlobalAveragePool) and a final ``[softmax]`` over the channels (``groups=1``, temperature 1),
  whose (batch, classes) probabilities are the one output, ``probs``.

Anything else, a layer or an option (``xnor=1``, ``binary=1``...; see ``check_options``), is
refused with the cfg line, never approximated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from yof_darknet.core.errors import ExportError
from yof_darknet.formats.cfg import Section, net_int

OPSET = 13
INPUT = "images"
PROBS = "probs"
BN_EPSILON = {"pjreddie": "sqrt(var) + 1e-6", "alexeyab": "sqrt(var + 1e-5)"}


@dataclass
class _Layer:
    tensor: str | None  # None: a [yolo] layer (nothing may read it)
    channels: int

    @property
    def name(self) -> str:
        """The tensor the next layer reads (the build refuses a layer reading a [yolo])."""
        assert self.tensor is not None
        return self.tensor


class _Builder:
    def __init__(self, floats: np.ndarray, bn_flavor: str) -> None:
        if bn_flavor not in BN_EPSILON:
            raise ExportError(f"unknown darknet flavor {bn_flavor!r} for batch norm")
        self.floats, self.offset, self.bn_flavor = floats, 0, bn_flavor
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def take(self, count: int) -> np.ndarray:
        if self.offset + count > self.floats.size:
            raise ExportError("the weights file ends before the cfg's last layer")
        part = self.floats[self.offset : self.offset + count]
        self.offset += count
        return part

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: Sequence[str], output: str, **attributes) -> str:
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attributes))
        return output


# The options each layer may carry: those the export reads, and those that change nothing at
# inference (training, losses, CUDA streams). Any other option would be exported as if absent
# (``xnor=1`` as a float convolution), so it is refused with its line.
_TRAINING = {"learning_rate", "stopbackward", "train_only_bn", "dont_update", "burnin_update",
             "onlyforward", "show_receptive_field", "stream", "wait_stream"}  # fmt: skip
_OPTIONS = {
    "convolutional": {"filters", "size", "stride", "pad", "padding", "groups", "batch_normalize",
                      "activation", "stride_x", "stride_y", "dilation", "antialiasing",
                      "share_index", "angle", "reverse"},
    "maxpool": {"size", "stride", "padding", "stride_x", "stride_y", "maxpool_depth",
                "antialiasing"},
    "route": {"layers", "groups", "group_id"},
    "shortcut": {"from", "activation", "weights_type", "weights_normalization"},
    "upsample": {"stride", "scale"},
    "dropout": {"probability", "dropblock", "dropblock_size_abs", "dropblock_size_rel"},
    "avgpool": set(),
    "softmax": {"groups", "temperature", "noloss", "spatial"},
    "yolo": {"anchors", "beta_nms", "classes", "cls_normalizer", "counters_per_class",
             "delta_normalizer", "dets_for_show", "dets_for_track", "embedding_layer",
             "focal_loss", "ignore_thresh", "iou_loss", "iou_normalizer", "iou_thresh",
             "iou_thresh_kind", "jitter", "label_smooth_eps", "map", "mask", "max", "max_delta",
             "new_coords", "nms_kind", "num", "obj_normalizer", "objectness_smooth", "random",
             "resize", "scale_x_y", "show_details", "sim_thresh", "track_ciou_norm",
             "track_history_size", "truth_thresh"},
}  # fmt: skip
_OPTIONS |= {"conv": _OPTIONS["convolutional"], "max": _OPTIONS["maxpool"],
             "avg": _OPTIONS["avgpool"]}  # fmt: skip
# Options that change nothing at these values (darknet's defaults) and everything otherwise.
_NEUTRAL = {"xnor": 0, "binary": 0, "bin_output": 0, "sway": 0, "rotate": 0, "stretch": 0,
            "stretch_sway": 0, "flipped": 0, "dot": 0, "cbn": 0, "coordconv": 0,
            "assisted_excitation": 0, "grad_centr": 0, "maxpool_zero_nonmax": 0, "dontload": 0,
            "dontloadscales": 0, "clip": 0}  # fmt: skip


def check_options(s: Section) -> None:
    """Refuse an option of ``s`` the export would not honour (see ``_OPTIONS``), by its line."""
    known = _OPTIONS.get(s.name)
    if known is None:
        return  # the layer itself is refused where it is built
    for key, value in s.options.items():
        if key in known or key in _TRAINING:
            continue
        if key in _NEUTRAL:
            try:
                if float(value) == _NEUTRAL[key]:
                    continue
            except ValueError:
                pass
        raise ExportError(
            f"line {s.line}: [{s.name}] {key}={value} is not supported by the export (it "
            "would be exported as if absent); remove it or keep this model in darknet"
        )


def _int(section: Section, key: str, default: int) -> int:
    value = section.get(key)
    try:
        return default if value in (None, "") else int(float(value))
    except ValueError:
        raise ExportError(f"line {section.line}: [{section.name}] {key}={value!r}") from None


def _convolutional(b: _Builder, s: Section, index: int, source: _Layer) -> _Layer:
    filters, size = _int(s, "filters", 1), _int(s, "size", 1)
    stride, groups = _int(s, "stride", 1), _int(s, "groups", 1)
    pad = size // 2 if _int(s, "pad", 0) else _int(s, "padding", 0)
    for key in ("stride_x", "stride_y", "dilation", "antialiasing", "share_index"):
        if key in s.options and _int(s, key, 0) not in (0, 1):
            raise ExportError(f"line {s.line}: [convolutional] {key}= is not supported")
    channels = source.channels // groups
    biases = b.take(filters).astype(np.float64)
    if _int(s, "batch_normalize", 0):
        scales, mean, var = (b.take(filters).astype(np.float64) for _ in range(3))
        denom = np.sqrt(var) + 1e-6 if b.bn_flavor == "pjreddie" else np.sqrt(var + 1e-5)
        factor = scales / denom
        biases = biases - mean * factor
    else:
        factor = np.ones(filters)
    kernel = b.take(filters * channels * size * size).astype(np.float64)
    kernel = kernel.reshape(filters, channels, size, size) * factor[:, None, None, None]
    name = f"conv_{index}"
    out = b.node(
        "Conv",
        [source.name, b.constant(f"{name}.w", kernel.astype(np.float32)),
         b.constant(f"{name}.b", biases.astype(np.float32))],
        name,
        kernel_shape=[size, size], strides=[stride, stride], pads=[pad] * 4, group=groups,
    )  # fmt: skip
    return _Layer(_activation(b, s, out, index), filters)


def _activation(b: _Builder, s: Section, tensor: str, index: int) -> str:
    kind = s.get("activation", "logistic")
    name = f"{kind}_{index}"
    if kind == "linear":
        return tensor
    if kind == "leaky":
        return b.node("LeakyRelu", [tensor], name, alpha=0.1)
    if kind == "relu":
        return b.node("Relu", [tensor], name)
    if kind == "logistic":
        return b.node("Sigmoid", [tensor], name)
    if kind == "mish":  # x * tanh(softplus(x)), as darknet; opset 13 has no Mish
        soft = b.node("Softplus", [tensor], f"{name}.softplus")
        return b.node("Mul", [tensor, b.node("Tanh", [soft], f"{name}.tanh")], name)
    if kind == "swish":
        return b.node("Mul", [tensor, b.node("Sigmoid", [tensor], f"{name}.sigmoid")], name)
    raise ExportError(f"line {s.line}: activation={kind} is not supported by the export")


def _maxpool(b: _Builder, s: Section, index: int, source: _Layer) -> _Layer:
    size = _int(s, "size", 1)
    stride = _int(s, "stride", size)
    pad = _int(s, "padding", size - 1)
    for key in ("stride_x", "stride_y", "maxpool_depth", "antialiasing"):
        if _int(s, key, 0) not in (0, 1) or (key == "maxpool_depth" and _int(s, key, 0)):
            raise ExportError(f"line {s.line}: [maxpool] {key}= is not supported")
    before, after = pad // 2, pad - pad // 2
    out = b.node(
        "MaxPool", [source.name], f"pool_{index}",
        kernel_shape=[size, size], strides=[stride, stride], pads=[before, before, after, after],
    )  # fmt: skip
    return _Layer(out, source.channels)


def _refer(layers: list[_Layer], s: Section, index: int, value: int) -> _Layer:
    target = value if value >= 0 else index + value
    if not 0 <= target < index or layers[target].tensor is None:
        raise ExportError(f"line {s.line}: [{s.name}] refers to layer {value}, not an output")
    return layers[target]


def _route(b: _Builder, s: Section, index: int, layers: list[_Layer]) -> _Layer:
    groups, group_id = _int(s, "groups", 1), _int(s, "group_id", 0)
    parts: list[str] = []
    channels = 0
    for n, value in enumerate(s.ints("layers")):
        layer = _refer(layers, s, index, value)
        width = layer.channels // groups
        tensor = layer.tensor
        assert tensor is not None
        if groups > 1:
            start, end = group_id * width, (group_id + 1) * width
            tensor = b.node(
                "Slice",
                [tensor, b.constant(f"route_{index}.{n}.start", np.array([start])),
                 b.constant(f"route_{index}.{n}.end", np.array([end])),
                 b.constant(f"route_{index}.{n}.axis", np.array([1]))],
                f"route_{index}.{n}",
            )  # fmt: skip
        parts.append(tensor)
        channels += width
    if not parts:
        raise ExportError(f"line {s.line}: [route] without layers=")
    if len(parts) == 1:
        return _Layer(parts[0], channels)
    return _Layer(b.node("Concat", parts, f"route_{index}", axis=1), channels)


def _shortcut(b: _Builder, s: Section, index: int, layers: list[_Layer]) -> _Layer:
    other = _refer(layers, s, index, _int(s, "from", 0))
    previous = layers[index - 1]
    if other.channels != previous.channels or s.get("weights_type", "none") != "none":
        raise ExportError(f"line {s.line}: only a plain [shortcut] of equal channels is supported")
    out = b.node("Add", [previous.name, other.name], f"shortcut_{index}")
    return _Layer(_activation(b, s, out, index) if "activation" in s.options else out,
                  previous.channels)  # fmt: skip


def _upsample(b: _Builder, s: Section, index: int, source: _Layer) -> _Layer:
    stride = _int(s, "stride", 2)
    if stride < 1 or float(s.get("scale", "1") or 1) != 1:
        raise ExportError(f"line {s.line}: [upsample] needs a positive stride and no scale=")
    scales = b.constant(f"up_{index}.scales", np.array([1, 1, stride, stride], np.float32))
    out = b.node(
        "Resize", [source.name, "", scales], f"up_{index}",
        mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor",
    )  # fmt: skip
    return _Layer(out, source.channels)


def _avgpool(b: _Builder, index: int, source: _Layer) -> _Layer:
    return _Layer(b.node("GlobalAveragePool", [source.name], f"avgpool_{index}"), source.channels)


def _softmax(b: _Builder, s: Section, index: int, source: _Layer) -> _Layer:
    if _int(s, "groups", 1) != 1 or float(s.get("temperature", "1") or 1) != 1:
        raise ExportError(f"line {s.line}: only [softmax] groups=1 temperature=1 is supported")
    flat = b.node("Flatten", [source.name], f"softmax_{index}.flat", axis=1)
    return _Layer(b.node("Softmax", [flat], PROBS, axis=1), source.channels)


def build_model(
    sections: list[Section], floats: np.ndarray, bn_flavor: str, name: str
) -> tuple[onnx.ModelProto, list[str]]:
    """The ONNX model (input ``images``, (batch, C, H, W) float32 at the cfg's size) and the
    names of its outputs: one raw head per ``[yolo]`` in cfg order, or a classifier's ``probs``
    (its cfg ends with ``[softmax]``)."""
    b = _Builder(floats.astype(np.float32, copy=False), bn_flavor)
    width, height = net_int(sections, "width"), net_int(sections, "height")
    channels = net_int(sections, "channels", 3)
    layers: list[_Layer] = []
    outputs: list[tuple[str, int]] = []
    current = _Layer(INPUT, channels)
    for index, s in enumerate(sections[1:]):
        check_options(s)
        if current.tensor is None and s.name not in ("route", "dropout", "yolo"):
            raise ExportError(
                f"line {s.line}: [{s.name}] reads the output of a [yolo] layer (darknet feeds it "
                "the head's activations); put a [route] between them"
            )
        if s.name in ("convolutional", "conv"):
            current = _convolutional(b, s, index, current)
        elif s.name in ("maxpool", "max"):
            current = _maxpool(b, s, index, current)
        elif s.name == "route":
            current = _route(b, s, index, layers)
        elif s.name == "shortcut":
            current = _shortcut(b, s, index, layers)
        elif s.name == "upsample":
            current = _upsample(b, s, index, current)
        elif s.name == "dropout":
            pass
        elif s.name in ("avgpool", "avg"):
            current = _avgpool(b, index, current)
        elif s.name == "softmax" and index == len(sections) - 2:
            current = _softmax(b, s, index, current)
        elif s.name == "yolo":
            new_coords = _int(s, "new_coords", 0) == 1
            if current.tensor is None or not current.tensor.startswith(
                ("conv_", "logistic_") if new_coords else "conv_"
            ):
                raise ExportError(
                    f"line {s.line}: [yolo] must follow a linear [convolutional] (a logistic "
                    "one with new_coords=1)"
                )
            outputs.append((current.tensor, current.channels))
            current = _Layer(None, current.channels)
        else:
            raise ExportError(f"line {s.line}: layer [{s.name}] is not supported by the export")
        layers.append(current)
    if b.offset != b.floats.size:
        raise ExportError(
            f"the weights hold {b.floats.size} floats but the cfg reads {b.offset}: "
            "these weights belong to another cfg"
        )
    if outputs:
        values = [
            helper.make_tensor_value_info(o, TensorProto.FLOAT, ["batch", c, f"{o}_h", f"{o}_w"])
            for o, c in outputs
        ]
    elif current.tensor == PROBS:
        outputs = [(PROBS, current.channels)]
        shape: list[str | int] = ["batch", current.channels]
        values = [helper.make_tensor_value_info(PROBS, TensorProto.FLOAT, shape)]
    else:
        raise ExportError("the cfg has no [yolo] layer and no final [softmax]: nothing to export")
    graph = helper.make_graph(
        b.nodes,
        name,
        [
            helper.make_tensor_value_info(
                INPUT, TensorProto.FLOAT, ["batch", channels, height, width]
            )
        ],
        values,
        b.initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="yof-darknet"
    )
    model.ir_version = 8  # opset 13's IR: readable by older ONNX Runtime and OpenCV builds
    onnx.checker.check_model(model)
    return model, [o for o, _ in outputs]
