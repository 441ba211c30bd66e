"""int8 models: static QDQ quantization with ONNX Runtime's tools, calibrated on training images.

What keeps accuracy on the 7-class yolov3-tiny (measured on the trained sample model, see the
docs): ``quant_pre_process`` first (shape inference + ORT's graph optimisations, so ORT later
fuses Conv + LeakyRelu into QLinearConv + QLinearLeakyRelu), percentile calibration of the
activations (min/max lets a few outliers waste the 8 bits), and 7-bit weights (``reduce_range``)
on CPUs without VNNI: there ORT's u8 x s8 kernel adds pairs of products in 16 bits, which
8-bit weights can overflow (-1.7 mAP points against -0.1 with 7-bit weights, at no speed cost).

Two defaults measured on an AVX-512 VNNI CPU (docs/guides/benchmarks.md): weights get one scale
per output channel (batch norm folded into the filters leaves channels of very different
magnitudes, which one scale per tensor quantizes coarsely; same speed), and the first
convolution block (conv, activation, the maxpool after it) stays in fp32: with 3 input channels
ONNX Runtime's int8 kernel runs it at a tenth of its usual rate (4.2 ms of a 19 ms forward on
one core at 416, against 2.0 ms for the fp32 one), and the first layer sees the raw pixels.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx

# activations kept per calibration pass: bounds the memory of the collection.
_MAX_INTERMEDIATE = 16
# one-input nodes that may follow the first convolution in its fp32 block
_FOLLOWERS = frozenset({"LeakyRelu", "Relu", "Sigmoid", "MaxPool"})


def first_block(model: onnx.ModelProto) -> list[str]:
    """Names of the first Conv node and of the one-input nodes that follow it alone (its
    activation, a maxpool): the block kept in fp32 by default (``conv_0``, ``leaky_0``,
    ``pool_1`` in yolov3-tiny)."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    first = next((n for n in model.graph.node if n.op_type == "Conv"), None)
    if first is None:
        return []
    block = [first]
    while len(readers := consumers.get(block[-1].output[0], [])) == 1:
        if readers[0].op_type not in _FOLLOWERS:
            break
        block.append(readers[0])
    return [node.name for node in block]


def _chunk(count: int) -> int:
    """Images per calibration pass: ONNX Runtime's min/max calibrator fails ("No data is
    collected") when the image count is a multiple of it, so avoid that."""
    return _MAX_INTERMEDIATE if count % _MAX_INTERMEDIATE else _MAX_INTERMEDIATE - 1


def cpu_has_vnni(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU has VNNI (``avx512_vnni`` or ``avx_vnni`` in /proc/cpuinfo's flags);
    False when the file cannot be read (7-bit weights are then the safe choice)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return bool(flags & {"avx512_vnni", "avx_vnni"})
    return False


def quantize_static_qdq(
    fp32: Path,
    out: Path,
    blobs: Sequence[np.ndarray],
    *,
    input_name: str,
    calibration: str = "percentile",
    reduce_range: bool,
    per_channel: bool = True,
    fp32_first: bool = True,
    exclude: Iterable[str] = (),
) -> list[str]:
    """Write the int8 (QDQ) version of the ``fp32`` model to ``out``, calibrated on ``blobs``
    (network inputs, 1x3xHxW float32); nodes named in ``exclude`` stay fp32, and with
    ``fp32_first`` the :func:`first_block` too. Returns the names of the nodes kept fp32."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._items: Iterator[np.ndarray] = iter(blobs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            blob = next(self._items, None)
            return None if blob is None else {input_name: blob}

    method = {
        "percentile": CalibrationMethod.Percentile,
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
    }[calibration]
    kept = (first_block(onnx.load(str(fp32))) if fp32_first else []) + list(exclude)
    with tempfile.TemporaryDirectory(prefix="yof-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # the graph's shapes are static but for the batch: ONNX's own shape inference is enough
        # (ORT's symbolic one would need sympy).
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            reduce_range=reduce_range,
            per_channel=per_channel,
            calibrate_method=method,
            nodes_to_exclude=kept,
            extra_options={"CalibMaxIntermediateOutputs": _chunk(len(blobs))},
        )
    return kept
