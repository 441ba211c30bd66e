"""``ExportOptions``: every option of ``yof-darknet export`` (its click options are generated
from these fields by ``cli/params.py``). Import-light: no ONNX or OpenCV here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, dataclass
from pathlib import Path

from yof_darknet.core.options import option

BN_FLAVORS = ("auto", "alexeyab", "pjreddie")
CALIBRATIONS = ("percentile", "minmax", "entropy")
WEIGHT_BITS = ("auto", "7", "8")


@dataclass(frozen=True)
class ExportOptions:
    """Options of ``yof-darknet export`` (see its ``--help``)."""

    cfg: Path = option(MISSING, "The Darknet cfg.", path="file")
    weights: Path = option(MISSING, "Its .weights file.", path="file")
    out: Path = option(
        MISSING,
        "The ONNX model to write (model.onnx).",
        path="any",
        flag="--out-file",
        renamed=("--out",),
    )
    names: Sequence[str] | Path | None = option(
        None, "Class names recorded in the model [default: as `detect` finds them].", path="file"
    )
    size: int | tuple[int, int] | None = option(
        None, "Network input, a multiple of 32 [default: the cfg's].", kind="size"
    )
    bn_flavor: str = option(
        "auto",
        "Darknet that trained the weights, for the batch-norm epsilon folded into the convs "
        "(AlexeyAB/hank-ai sqrt(var + 1e-5), pjreddie sqrt(var) + 1e-6); auto: pjreddie when "
        "the run's train.log is pjreddie's, else alexeyab.",
        choices=BN_FLAVORS,
    )
    int8: bool = option(False, "Static int8 (QDQ) quantization; needs --calibrate.")
    calibrate: Path | None = option(
        None,
        "Image list to calibrate int8 activations on (the training list, train.txt).",
        path="file",
    )
    images: int = option(100, "Calibration images, spread evenly over the list.", min=1)
    calibration: str = option(
        "percentile",
        "How activation ranges are chosen (percentile 99.999 kept accuracy best).",
        choices=CALIBRATIONS,
    )
    fp32_heads: bool = option(False, "Keep the [yolo] head convolutions in fp32.")
    int8_first: bool = option(
        False,
        "Quantize the first convolution block too [default: it stays fp32: with 3 input "
        "channels ONNX Runtime's int8 kernel is slower there, and it reads the raw pixels].",
    )
    per_tensor: bool = option(
        False, "One scale per weight tensor [default: one per output channel, same speed]."
    )
    weight_bits: str = option(
        "auto",
        "int8 weights: 7 bits (reduce_range) unless the CPU has VNNI (avx512_vnni/avx_vnni), "
        "where 8 bits cannot overflow ONNX Runtime's kernels.",
        choices=WEIGHT_BITS,
    )
