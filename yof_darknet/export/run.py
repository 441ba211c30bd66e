"""The work of ``yof-darknet export``: Darknet cfg + weights -> an ONNX model that records where
it came from (:class:`~yof_darknet.formats.modelinfo.ModelInfo`), fp32 or int8.

    info = export_model(ExportOptions(Path("yolov3-tiny.cfg"), Path("final.weights"),
                                      Path("model.onnx")))
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx

from yof_darknet.core.errors import DarknetError, ExportError
from yof_darknet.core.fileio import atomic_write_bytes, check_output_file, sha256_file
from yof_darknet.export.graph import INPUT, build_model
from yof_darknet.export.options import BN_FLAVORS, CALIBRATIONS, WEIGHT_BITS, ExportOptions
from yof_darknet.export.quantize import cpu_has_vnni, quantize_static_qdq
from yof_darknet.formats.cfg import apply_setting, net_int, parse_cfg, read_cfg_text
from yof_darknet.formats.imagefiles import read_image, read_list
from yof_darknet.formats.modelinfo import METADATA_KEY, ModelInfo, head_specs
from yof_darknet.formats.names import resolve_names
from yof_darknet.formats.network import check_network
from yof_darknet.formats.weights import check_finite, read_header
from yof_darknet.tools.netinput import fill_input

# pjreddie prints "12: 3.4, 5.6 avg, 0.001 rate", AlexeyAB "12: 3.4, 5.6 avg loss, ..." and
# hank-ai "avg loss=": the first iteration line of a train.log tells who trained the weights.
# `classifier train`: pjreddie "12, 0.375: 3.4, 5.6 avg, 0.1 rate, 0.2 seconds, 48 images",
# AlexeyAB the same line + ", 0.01 hours left".
_PJREDDIE_LINE = re.compile(
    r"^\s*\d+: [0-9.naif-]+, [0-9.naif-]+ avg, "
    r"|^\s*\d+, [0-9.]+: [0-9.naif-]+, [0-9.naif-]+ avg, .* \d+ images\s*$",
    re.MULTILINE,
)


def detect_bn_flavor(weights: Path) -> str:
    """The darknet that trained ``weights``, from the ``train.log`` of its run folder
    (``runs/NAME/weights/x.weights`` -> ``runs/NAME/train.log``): ``pjreddie`` when that log
    is pjreddie's, else ``alexeyab`` (the fork this toolkit trains with; hank-ai folds alike)."""
    for folder in (weights.parent, weights.parent.parent):
        log = folder / "train.log"
        if log.is_file():
            with log.open(errors="replace") as handle:
                head = handle.read(1 << 20)
            return "pjreddie" if _PJREDDIE_LINE.search(head) else "alexeyab"
    return "alexeyab"


def _check_paths(options: ExportOptions) -> None:
    for path, what in ((options.cfg, "cfg"), (options.weights, "weights")):
        if not Path(path).is_file():
            raise ExportError(f"{path}: {what} file not found")
    inputs = [options.cfg, options.weights] + ([options.calibrate] if options.calibrate else [])
    out = Path(options.out).resolve()
    if any(out == Path(p).resolve() for p in inputs):
        raise ExportError(
            f"{options.out}: --out-file would overwrite an input file; pick another name"
        )
    check_output_file(options.out)  # a folder is refused here, a stream (/dev/stdout) is fine
    if options.int8 and options.calibrate is None:
        raise ExportError("--int8 needs --calibrate LIST (e.g. the training list, train.txt)")
    if options.calibration not in CALIBRATIONS:
        raise ExportError(f"--calibration {options.calibration}: one of {CALIBRATIONS}")
    if options.bn_flavor not in BN_FLAVORS:
        raise ExportError(f"--bn-flavor {options.bn_flavor}: one of {BN_FLAVORS}")
    if options.weight_bits not in WEIGHT_BITS:
        raise ExportError(f"--weight-bits {options.weight_bits}: one of {WEIGHT_BITS}")


def calibration_images(listing: Path, count: int) -> list[Path]:
    """``count`` images spread evenly over a darknet image list (relative paths: from the
    current folder as darknet reads them, else from the list's folder)."""
    if not listing.is_file():
        raise ExportError(f"{listing}: calibration list not found")
    entries = [Path(line) for line in read_list(listing)]
    if not entries:
        raise ExportError(f"{listing}: the calibration list is empty")
    picked = np.unique(np.linspace(0, len(entries) - 1, min(count, len(entries))).astype(int))
    paths = []
    for index in picked:
        path = entries[index]
        if not path.is_absolute() and not path.exists():
            path = listing.parent / path
        paths.append(path)
    return paths


def _blobs(paths: list[Path], info: ModelInfo, skipped: list[str]) -> Iterator[np.ndarray]:
    for path in paths:
        image = read_image(path)
        if image is None:
            skipped.append(f"{path}: missing or unreadable image")
            continue
        blob = np.empty((1, 3, info.height, info.width), dtype=np.float32)
        fill_input(image, blob[0], info.letter_box)
        yield blob


@dataclass(frozen=True)
class ExportResult:
    info: ModelInfo
    out: Path
    calibrated_on: int = 0
    skipped: tuple[str, ...] = ()


def _with_metadata(model: onnx.ModelProto, info: ModelInfo) -> bytes:
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, info.to_json()
    model.doc_string = (
        f"yof-darknet export ({info.precision}) of a Darknet cfg sha256 {info.cfg_sha256} "
        f"with weights sha256 {info.weights_sha256}"
    )
    return model.SerializeToString()


def export_model(options: ExportOptions) -> ExportResult:
    """Convert (and with ``int8`` quantize) as ``options`` say; the output is written atomically."""
    _check_paths(options)
    cfg, weights, out = Path(options.cfg), Path(options.weights), Path(options.out)
    try:
        text = read_cfg_text(cfg)
        sections = parse_cfg(text, str(cfg))
        if options.size is not None:
            size = options.size
            width, height = (size, size) if isinstance(size, int) else size
            apply_setting(sections, "net.width", str(width))
            apply_setting(sections, "net.height", str(height))
        width, height = net_int(sections, "width"), net_int(sections, "height")
        heads = head_specs(sections, str(cfg))
        header = read_header(weights)
        check_finite(weights, sections, cfg)
        check_network(cfg, sections, weights)
    except DarknetError as exc:
        raise ExportError(str(exc)) from None
    # a detector's grid needs a multiple of 32; a classifier only its pooling (darknet checks)
    step = 32 if heads else 1
    if width <= 0 or height <= 0 or width % step or height % step:
        raise ExportError(f"{cfg}: network size {width}x{height} is not a multiple of {step}")
    flavor = detect_bn_flavor(weights) if options.bn_flavor == "auto" else options.bn_flavor
    floats = np.fromfile(weights, dtype="<f4", offset=header.size)
    try:
        model, outputs = build_model(sections, floats, flavor, cfg.stem)
    except ExportError as exc:
        raise ExportError(f"{cfg} + {weights}: {exc}") from None
    names = resolve_names(options.names, cfg, weights)
    # a classifier's class count: the width of its one output, (batch, classes)
    classes = heads[0].classes if heads else model.graph.output[0].type.tensor_type.shape.dim[1]
    classes = classes if isinstance(classes, int) else classes.dim_value
    if len(names) != classes:
        raise ExportError(
            f"{cfg}: the model has classes={classes} but {len(names)} class names "
            "were given; pass the matching --names file"
        )
    info = ModelInfo(
        width=width,
        height=height,
        letter_box=bool(net_int(sections, "letter_box", 0)),
        names=tuple(names),
        heads=tuple(heads),
        outputs=tuple(outputs),
        cfg_sha256=hashlib.sha256(text.encode()).hexdigest(),
        weights_sha256=sha256_file(weights),
        bn_flavor=flavor,
    )
    if not options.int8:
        atomic_write_bytes(out, _with_metadata(model, info))
        return ExportResult(info, out)
    return _export_int8(options, model, info)


def _export_int8(options: ExportOptions, model: onnx.ModelProto, info: ModelInfo) -> ExportResult:
    assert options.calibrate is not None
    bits = options.weight_bits
    reduce_range = not cpu_has_vnni() if bits == "auto" else bits == "7"
    paths = calibration_images(Path(options.calibrate), options.images)
    skipped: list[str] = []
    blobs = list(_blobs(paths, info, skipped))
    if not blobs:
        raise ExportError(f"{options.calibrate}: none of its images could be read")
    fp32_nodes: list[str] = list(info.outputs) if options.fp32_heads else []
    quantization = {
        "format": "QDQ",
        "calibration": options.calibration,
        "calibration_images": len(blobs),
        "calibration_list": Path(options.calibrate).name,
        "weight_bits": 7 if reduce_range else 8,
        "weight_scales": "tensor" if options.per_tensor else "channel",
        "fp32_nodes": fp32_nodes,
    }
    with tempfile.TemporaryDirectory(prefix="yof-export-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        fp32.write_bytes(model.SerializeToString())
        int8 = Path(tmp) / "int8.onnx"
        quantization["fp32_nodes"] = quantize_static_qdq(
            fp32,
            int8,
            blobs,
            input_name=INPUT,
            calibration=options.calibration,
            reduce_range=reduce_range,
            per_channel=not options.per_tensor,
            fp32_first=not options.int8_first,
            exclude=fp32_nodes,
        )
        quantized = onnx.load(str(int8))
    info = replace(info, precision="int8", quantization=quantization)
    atomic_write_bytes(Path(options.out), _with_metadata(quantized, info))
    return ExportResult(info, Path(options.out), len(blobs), tuple(skipped))
