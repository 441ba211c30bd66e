"""The work of ``yof-darknet export``: Darknet cfg + weights -> an ONNX model that records where
it came from (:class:`~yof_darknet.formats.modelinfo.ModelInfo`), fp32 or int8.

    info = export_model(ExportOptions(Path("yolov3-tiny.cfg"), Path("final.weights"),
                                      Path("model.onnx")))
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import onnx

from yof_darknet.errors import DarknetError, ExportError
from yof_darknet.export.graph import INPUT, build_model
from yof_darknet.export.quantize import CALIBRATIONS, cpu_has_vnni, quantize_static_qdq
from yof_darknet.fileio import atomic_write_bytes, read_lines, sha256_file
from yof_darknet.formats.cfg import apply_setting, net_int, parse_cfg
from yof_darknet.formats.modelinfo import METADATA_KEY, ModelInfo, head_specs
from yof_darknet.formats.names import resolve_names
from yof_darknet.formats.netinput import fill_input
from yof_darknet.formats.weights import read_header

BN_FLAVORS = ("auto", "alexeyab", "pjreddie")
# pjreddie prints "12: 3.4, 5.6 avg, 0.001 rate", AlexeyAB "12: 3.4, 5.6 avg loss, ..." and
# hank-ai "avg loss=": the first iteration line of a train.log tells who trained the weights.
_PJREDDIE_LINE = re.compile(r"^\s*\d+: [0-9.naif-]+, [0-9.naif-]+ avg, ", re.MULTILINE)


@dataclass(frozen=True)
class ExportOptions:
    """Options of ``yof-darknet export`` (see its ``--help``)."""

    cfg: Path
    weights: Path
    out: Path
    names: Sequence[str] | Path | None = None
    size: tuple[int, int] | None = None
    bn_flavor: str = "auto"
    int8: bool = False
    calibrate: Path | None = None
    images: int = 100
    calibration: str = "percentile"
    fp32_heads: bool = False
    reduce_range: bool | None = None  # None: 7-bit weights unless the CPU has VNNI


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
        raise ExportError(f"{options.out}: --out would overwrite an input file; pick another name")
    if options.int8 and options.calibrate is None:
        raise ExportError("--int8 needs --calibrate LIST (e.g. the training list, train.txt)")
    if options.calibration not in CALIBRATIONS:
        raise ExportError(f"--calibration {options.calibration}: one of {CALIBRATIONS}")
    if options.bn_flavor not in BN_FLAVORS:
        raise ExportError(f"--bn-flavor {options.bn_flavor}: one of {BN_FLAVORS}")


def calibration_images(listing: Path, count: int) -> list[Path]:
    """``count`` images spread evenly over a darknet image list (relative paths: from the
    current folder as darknet reads them, else from the list's folder)."""
    if not listing.is_file():
        raise ExportError(f"{listing}: calibration list not found")
    entries = [Path(line) for line in read_lines(listing)]
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
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
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
    text = cfg.read_text(errors="replace")
    try:
        sections = parse_cfg(text, str(cfg))
        if options.size is not None:
            apply_setting(sections, "net.width", str(options.size[0]))
            apply_setting(sections, "net.height", str(options.size[1]))
        width, height = net_int(sections, "width"), net_int(sections, "height")
        heads = head_specs(sections, str(cfg))
        header = read_header(weights)
    except DarknetError as exc:
        raise ExportError(str(exc)) from None
    if width <= 0 or height <= 0 or width % 32 or height % 32:
        raise ExportError(f"{cfg}: network size {width}x{height} is not a multiple of 32")
    flavor = detect_bn_flavor(weights) if options.bn_flavor == "auto" else options.bn_flavor
    floats = np.fromfile(weights, dtype="<f4", offset=header.size)
    try:
        model, outputs = build_model(sections, floats, flavor, cfg.stem)
    except ExportError as exc:
        raise ExportError(f"{cfg} + {weights}: {exc}") from None
    names = resolve_names(options.names, cfg, weights)
    if len(names) != heads[0].classes:
        raise ExportError(
            f"{cfg}: the model has classes={heads[0].classes} but {len(names)} class names "
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
    reduce_range = not cpu_has_vnni() if options.reduce_range is None else options.reduce_range
    paths = calibration_images(Path(options.calibrate), options.images)
    skipped: list[str] = []
    blobs = list(_blobs(paths, info, skipped))
    if not blobs:
        raise ExportError(f"{options.calibrate}: none of its images could be read")
    quantization = {
        "format": "QDQ",
        "calibration": options.calibration,
        "calibration_images": len(blobs),
        "calibration_list": Path(options.calibrate).name,
        "weight_bits": 7 if reduce_range else 8,
        "fp32_nodes": list(info.outputs) if options.fp32_heads else [],
    }
    with tempfile.TemporaryDirectory(prefix="yof-export-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        fp32.write_bytes(model.SerializeToString())
        int8 = Path(tmp) / "int8.onnx"
        quantize_static_qdq(
            fp32,
            int8,
            blobs,
            input_name=INPUT,
            calibration=options.calibration,
            reduce_range=reduce_range,
            exclude=quantization["fp32_nodes"],
        )
        quantized = onnx.load(str(int8))
    info = replace(info, precision="int8", quantization=quantization)
    atomic_write_bytes(Path(options.out), _with_metadata(quantized, info))
    return ExportResult(info, Path(options.out), len(blobs), tuple(skipped))
