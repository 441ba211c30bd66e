"""``BenchmarkOptions``: every option of ``yof-darknet benchmark`` (its click options are
generated from these fields by ``cli/params.py``). Import-light: no ONNX Runtime or OpenCV."""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from pathlib import Path

from yof_darknet.core.errors import BenchmarkError
from yof_darknet.core.options import option

# engine-precision rows; GPU and OpenVINO ones need their packages (and a GPU)
ENGINES = (
    "opencv",  # OpenCV DNN's Darknet importer, fp32
    "ort-fp32",  # ONNX Runtime, CPU
    "ort-int8",
    "ort-int8-nospin",  # int8 with the threads sleeping between operators (detect --no-spin)
    "openvino-fp32",  # OpenVINO's own runtime (pip install openvino) on the exported models
    "openvino-int8",
    "ort-cuda-fp32",  # ONNX Runtime's CUDA execution provider (onnxruntime-gpu)
    "ort-tensorrt-fp32",  # its TensorRT execution provider
)


def parse_counts(text: str, what: str, step: int = 1) -> tuple[int, ...]:
    """``"320,416"`` -> (320, 416); each a positive multiple of ``step``; ``""``: none."""
    counts = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        if not part.isdigit() or int(part) <= 0 or int(part) % step:
            rule = f"positive multiples of {step}" if step > 1 else "positive whole numbers"
            raise BenchmarkError(f"{what} {text!r}: give {rule}, comma-separated (e.g. 320,416)")
        counts.append(int(part))
    return tuple(dict.fromkeys(counts))


@dataclass(frozen=True)
class BenchmarkOptions:
    """Options of ``yof-darknet benchmark`` (see its ``--help``)."""

    cfg: Path = option(MISSING, "The Darknet cfg.", path="file")
    weights: Path = option(MISSING, "Its .weights file.", path="file")
    data: Path | None = option(
        None,
        "obj.data: mAP (and face AP where the evaluator gives it) on its test list (valid=), "
        "timing frames from it, int8 calibrated on its train list.",
        path="file",
    )
    ultralytics: Path | None = option(
        None,
        "An Ultralytics ONNX export (`yolo export format=onnx`, trained on --data's "
        "ultralytics.yaml): the same engines on it, at its own size, beside the Darknet model "
        "(int8: quantized here on the same calibration images; opencv: OpenCV DNN's ONNX reader).",
        path="file",
    )
    sizes: str = option("416,320", "Network sizes, comma-separated multiples of 32.")
    engines: tuple[str, ...] = option(
        (),
        "Rows to measure (repeatable) [default: every one installed here: opencv, ort-fp32, "
        "ort-int8, ort-int8-nospin, openvino-* with openvino, ort-cuda/tensorrt with a GPU].",
        choices=ENGINES,
        multiple=True,
        flag="--engine",
        aliases=("--engines",),
    )
    rounds: int = option(40, "Timed frames per row (every row runs once per round).", min=1)
    threads: int | None = option(None, "Engine CPU threads [default: the CPUs given].", min=1)
    pause_ms: int = option(
        100,
        "Idle milliseconds before each timed frame (a spinning engine would bill the next).",
        min=0,
    )
    calibrate: Path | None = option(
        None,
        "int8 calibration list [default: --data's train list, else the timing frames].",
        path="file",
    )
    images: int = option(100, "int8 calibration images, spread over the list.", min=1)
    streams: str = option(
        "1,2,4", "Concurrent video streams of the throughput test, comma-separated ('': none)."
    )
    video: Path | None = option(
        None,
        "Video file of the stream test [default: a 640x480 clip made of the timing frames].",
        path="file",
    )
    stream_frames: int = option(120, "Frames per stream in the throughput test.", min=1)
    out: Path = option(Path("runs/benchmark"), "Output folder.", path="out")

    def __post_init__(self) -> None:
        parse_counts(self.sizes, "--sizes", 32)
        parse_counts(self.streams, "--streams")

    @property
    def size_list(self) -> tuple[int, ...]:
        sizes = parse_counts(self.sizes, "--sizes", 32)
        if not sizes:
            raise BenchmarkError("--sizes: give at least one network size (e.g. 416)")
        return sizes

    @property
    def stream_counts(self) -> tuple[int, ...]:
        return parse_counts(self.streams, "--streams")
