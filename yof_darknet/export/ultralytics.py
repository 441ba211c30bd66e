"""int8 of an Ultralytics ONNX export, calibrated as ``export --int8`` calibrates ours: static
QDQ (:func:`~yof_darknet.export.quantize.quantize_static_qdq`) on images of a training list,
each put into the network input as Ultralytics' ``predict`` does (its letterbox).

What stays fp32, besides the first convolution block (as for ours): the head's decoding, i.e.
every node of the last module (``/model.N/``) outside its convolution branches (``cv2``,
``cv3``, ``one2one_cv2``...: the DFL, the anchor grid, the stride products, the concatenation
of boxes and scores), and every node after the last convolution. Quantized, the concatenated
output would share one scale between box coordinates (0 to the input size) and class
probabilities (0 to 1), leaving the probabilities a single step. Ultralytics' own int8 exports
(OpenVINO's) leave out the same nodes.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import onnx

from yof_darknet.core.errors import ExportError
from yof_darknet.core.fileio import atomic_write_bytes, sha256_file
from yof_darknet.export.quantize import cpu_has_vnni, quantize_static_qdq
from yof_darknet.export.run import calibration_images
from yof_darknet.formats.imagefiles import read_image
from yof_darknet.formats.ultralytics import is_ultralytics, letterbox_into, read_ultralytics_info

# metadata key of the int8 file: what it was quantized from and how
QUANTIZED_KEY = "yof_darknet_int8"
_MODULE = re.compile(r"^/model\.(\d+)/")
_BRANCH = re.compile(r"^/model\.\d+/(one2one_)?cv\d+[./]")


def decode_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes that turn the head's convolution outputs into boxes and scores (see
    the module's docstring): the ones kept fp32."""
    nodes = list(model.graph.node)
    modules = [int(m.group(1)) for n in nodes if (m := _MODULE.match(n.name))]
    head = f"/model.{max(modules)}/" if modules else None
    kept = {n.name for n in nodes if head and n.name.startswith(head) and not _BRANCH.match(n.name)}
    # and every node no Conv follows (the graph's nodes are in topological order)
    feeds_conv: set[str] = set()
    for node in reversed(nodes):
        if node.op_type == "Conv" or any(out in feeds_conv for out in node.output):
            feeds_conv.update(node.input)
        else:
            kept.add(node.name)
    return [n.name for n in nodes if n.name in kept and n.name]


@dataclass(frozen=True)
class QuantizedUltralytics:
    out: Path
    calibrated_on: int
    calibration: str  # percentile; minmax where percentile's histogram failed
    skipped: tuple[str, ...] = ()
    fp32_nodes: tuple[str, ...] = ()


def _source(fp32: Path, calibrate: Path, images: int) -> dict[str, object]:
    return {"fp32_sha256": sha256_file(fp32), "calibrate": str(calibrate), "images": images}


def is_quantized_from(out: Path, fp32: Path, calibrate: Path, images: int) -> bool:
    """Whether ``out`` is the int8 model :func:`quantize_ultralytics` made from ``fp32`` on
    ``images`` images of ``calibrate`` (a re-run reuses it)."""
    if not out.is_file():
        return False
    try:
        props = {
            p.key: p.value for p in onnx.load(str(out), load_external_data=False).metadata_props
        }
        recorded = json.loads(props[QUANTIZED_KEY])
    except Exception:  # a damaged or foreign file: quantize again
        return False
    wanted = _source(fp32, calibrate, images)
    return all(recorded.get(k) == v for k, v in wanted.items())


def quantize_ultralytics(
    fp32: Path, out: Path, calibrate: Path, images: int = 100
) -> QuantizedUltralytics:
    """Write the int8 (QDQ) model of the Ultralytics export ``fp32`` to ``out``, calibrated on
    ``images`` images spread over the list ``calibrate``; its Ultralytics metadata is kept, so
    every command reads it as the same model (``precision`` int8)."""
    model = onnx.load(str(fp32))
    props = {p.key: p.value for p in model.metadata_props}
    if not is_ultralytics(props):
        raise ExportError(f"{fp32}: not an Ultralytics export (no imgsz/names/stride metadata)")
    try:
        info = read_ultralytics_info(props, tuple(o.name for o in model.graph.output), str(fp32))
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    skipped: list[str] = []
    blobs = []
    for path in calibration_images(calibrate, images):
        image = read_image(path)
        if image is None:
            skipped.append(f"{path}: missing or unreadable image")
            continue
        blob = np.empty((1, 3, info.height, info.width), dtype=np.float32)
        letterbox_into(image, blob[0])
        blobs.append(blob)
    if not blobs:
        raise ExportError(f"{calibrate}: none of its images could be read")
    calibration = "percentile"
    with tempfile.TemporaryDirectory(prefix="yof-quant-ultralytics-") as tmp:
        int8 = Path(tmp) / "int8.onnx"
        quantize = partial(
            quantize_static_qdq,
            fp32,
            int8,
            blobs,
            input_name=model.graph.input[0].name,
            reduce_range=not cpu_has_vnni(),
            exclude=decode_nodes(model),
        )
        try:
            kept = quantize(calibration=calibration)
        except ValueError as exc:
            # ORT's percentile histogram fails on a tensor of one value across the images
            # (a saturated activation): min/max handles it
            if "bins" not in str(exc):
                raise
            calibration = "minmax"
            kept = quantize(calibration=calibration)
        quantized = onnx.load(str(int8))
    del quantized.metadata_props[:]
    record = {
        **_source(fp32, calibrate, images),
        "calibration_images": len(blobs),
        "calibration": calibration,
    }
    for key, value in {**props, QUANTIZED_KEY: json.dumps(record)}.items():
        entry = quantized.metadata_props.add()
        entry.key, entry.value = key, value
    atomic_write_bytes(out, quantized.SerializeToString())
    return QuantizedUltralytics(out, len(blobs), calibration, tuple(skipped), tuple(kept))
