"""The rows a benchmark measures: one detector per engine x precision x network size, each
with its model file (for mAP), the multiply-accumulates of one forward pass and the memory it
added to the process.

ONNX Runtime, OpenVINO and the GPU rows all run the same exported files, written once per size
into ``OUT/models/`` (fp32, and int8 calibrated as ``yof-darknet export --int8`` does) and
reused by a re-run when they come from the same cfg and weights.

``--ultralytics MODEL.onnx`` adds the same engines on an Ultralytics export at its own size
(``network`` "ultralytics"): ONNX Runtime on the file given and on its int8 version
(``OUT/models/ultralytics-int8.onnx``, quantized on the same calibration images), OpenCV DNN
through its ONNX reader.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from yof_darknet.core.errors import BenchmarkError
from yof_darknet.workflows.benchmark.machine import peak_rss_mib, reset_peak_rss, rss_mib
from yof_darknet.workflows.benchmark.options import ENGINES, BenchmarkOptions

if TYPE_CHECKING:
    from yof_darknet.infer.detector import Detector

Echo = Callable[[str], None]


@dataclass
class Row:
    name: str  # the --engine it comes from
    engine: str  # what runs it, in words
    precision: str
    size: int
    detector: Detector
    model: Path | None  # the ONNX file it runs (None: OpenCV's Darknet importer)
    macs: float  # multiply-accumulates of the convolutions in one forward pass
    memory_mib: float = 0.0  # see measure_memory
    notes: list[str] = field(default_factory=list)
    network: str = ""  # "": the Darknet model of --cfg/--weights; "ultralytics": --ultralytics

    @property
    def key(self) -> str:
        return f"{self.network + '/' if self.network else ''}{self.name}@{self.size}"


def available_engines() -> dict[str, str | None]:
    """{engine: None if it can run here, else why not (with the fix)}."""
    import onnxruntime as ort

    from yof_darknet.infer.engines import has_darknet_importer

    providers = ort.get_available_providers()
    openvino = importlib.util.find_spec("openvino") is not None
    why: dict[str, str | None] = {name: None for name in ENGINES}
    if not has_darknet_importer():
        why["opencv"] = (
            "this OpenCV has no Darknet importer (OpenCV 5): pip install 'opencv-python<5'"
        )
    for name in ("openvino-fp32", "openvino-int8"):
        if not openvino:
            why[name] = "OpenVINO is not installed: pip install openvino"
    if "CUDAExecutionProvider" not in providers:
        why["ort-cuda-fp32"] = (
            "ONNX Runtime has no CUDA provider here: pip install onnxruntime-gpu (and a GPU)"
        )
    if "TensorrtExecutionProvider" not in providers:
        why["ort-tensorrt-fp32"] = (
            "ONNX Runtime has no TensorRT provider here: onnxruntime-gpu with TensorRT (and a GPU)"
        )
    return why


def chosen_engines(asked: Sequence[str]) -> list[str]:
    """The engines of ``--engine`` (all available ones when none is named); an unavailable one
    that was named is an error saying how to get it."""
    why = available_engines()
    if not asked:
        return [name for name in ENGINES if why[name] is None]
    for name in asked:
        if why[name] is not None:
            raise BenchmarkError(f"--engine {name}: {why[name]}")
    return list(dict.fromkeys(asked))


def conv_macs(model: Path) -> float:
    """Multiply-accumulates of every Conv in an fp32 ONNX model, batch 1 (shapes inferred)."""
    import onnx

    proto = onnx.load(str(model))
    graph_input = proto.graph.input[0].type.tensor_type.shape.dim[0]
    graph_input.ClearField("dim_param")
    graph_input.dim_value = 1
    for output in proto.graph.output:  # named sizes (conv_15_h): let inference give numbers
        output.type.tensor_type.ClearField("shape")
    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*inferred.graph.value_info, *inferred.graph.output]
    }
    weights = {t.name: list(t.dims) for t in proto.graph.initializer}
    total = 0.0
    for node in proto.graph.node:
        if node.op_type != "Conv" or node.output[0] not in shapes:
            continue
        _, per_output_channel, kernel_h, kernel_w = weights[node.input[1]]
        total += float(np.prod(shapes[node.output[0]])) * per_output_channel * kernel_h * kernel_w
    return total


def _fresh(model: Path, cfg: Path, weights: Path) -> bool:
    """Whether ``model`` exists and was exported from these cfg and weights."""
    from yof_darknet.core.fileio import sha256_file
    from yof_darknet.infer.engines import read_model_info

    if not model.is_file():
        return False
    try:
        info = read_model_info(model)
    except Exception:  # a damaged file: export again
        return False
    import hashlib

    cfg_sha = hashlib.sha256(cfg.read_text(errors="replace").encode()).hexdigest()
    return info.cfg_sha256 == cfg_sha and info.weights_sha256 == sha256_file(weights)


def export_models(
    options: BenchmarkOptions, size: int, calibrate: Path | None, want_int8: bool, echo: Echo
) -> dict[str, Path]:
    """{precision: ONNX file} at ``size`` in ``OUT/models/``, exported unless already there."""
    from yof_darknet.export.run import ExportOptions, export_model

    folder = Path(options.out) / "models"
    folder.mkdir(parents=True, exist_ok=True)
    models = {"fp32": folder / f"fp32-{size}.onnx"}
    if want_int8:
        models["int8"] = folder / f"int8-{size}.onnx"
    for precision, path in models.items():
        if _fresh(path, options.cfg, options.weights):
            continue
        echo(f"benchmark: exporting {precision} at {size}x{size} to {path}")
        export_model(
            ExportOptions(options.cfg, options.weights, path, size=size,
                          int8=precision == "int8", calibrate=calibrate, images=options.images)
        )  # fmt: skip
    return models


class _ProviderEngine:
    """ONNX Runtime on one execution provider (CUDA, TensorRT), as ``OrtEngine`` runs the CPU."""

    def __init__(self, model: Path, outputs: Sequence[str], provider: str) -> None:
        import onnxruntime as ort

        self.name, self.backend = provider, "cuda"
        self.session = ort.InferenceSession(
            str(model), providers=[provider, "CUDAExecutionProvider", "CPUExecutionProvider"]
        )
        if self.session.get_providers()[0] != provider:
            raise BenchmarkError(f"{model}: ONNX Runtime could not start {provider}")
        self._input, self._outputs = self.session.get_inputs()[0].name, list(outputs)

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self._outputs, {self._input: blob})


class _OpenVINOEngine:
    """OpenVINO's own runtime on an exported model, ``threads`` CPU threads, one stream;
    ``fp32`` pins its inference precision (it would pick bf16 on CPUs with AVX-512 BF16)."""

    def __init__(self, model: Path, outputs: Sequence[str], threads: int, fp32: bool) -> None:
        import openvino as ov

        core = ov.Core()
        network = core.read_model(str(model))
        config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        if fp32:
            config["INFERENCE_PRECISION_HINT"] = "f32"
        self._compiled = core.compile_model(network, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._outputs = [self._compiled.output(name) for name in outputs]
        self.name, self.backend = "openvino", "cpu"

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        self._request.infer({0: blob})
        return [self._request.get_tensor(o).data.copy() for o in self._outputs]


def ultralytics_models(
    options: BenchmarkOptions, calibrate: Path | None, want_int8: bool, echo: Echo
) -> tuple[dict[str, Path], list[str]]:
    """{precision: ONNX file} of ``--ultralytics``: the file given, and its int8 version in
    ``OUT/models/`` (quantized unless already there); and notes on what could not be made."""
    from yof_darknet.export.ultralytics import is_quantized_from, quantize_ultralytics

    assert options.ultralytics is not None
    models = {"fp32": Path(options.ultralytics)}
    if not want_int8 or calibrate is None:
        return models, []
    int8 = Path(options.out) / "models" / "ultralytics-int8.onnx"
    int8.parent.mkdir(parents=True, exist_ok=True)
    if not is_quantized_from(int8, models["fp32"], calibrate, options.images):
        echo(f"benchmark: quantizing {options.ultralytics} to int8 ({int8})")
        try:
            quantize_ultralytics(models["fp32"], int8, calibrate, options.images)
        except Exception as exc:  # ONNX Runtime's quantizer on a graph it cannot handle
            return models, [f"int8 rows not measured: quantizing it failed: {exc}"]
    models["int8"] = int8
    return models, []


def make_row(
    name: str,
    size: int,
    models: dict[str, Path],
    options: BenchmarkOptions,
    threads: int,
    network: str = "",
) -> Row:
    """The detector of one row (``network`` "ultralytics": of the ``--ultralytics`` export,
    whose ``models`` are its fp32 and int8 files)."""
    from yof_darknet.infer.detector import Detector
    from yof_darknet.infer.engines import read_model_info

    precision = "int8" if "int8" in name else "fp32"
    if network:
        if precision not in models:
            raise BenchmarkError(f"--ultralytics {models['fp32']}: no {precision} model")
        if name == "opencv":
            detector = Detector(model=models["fp32"], threads=threads, device="cpu",
                                engine="opencv")  # fmt: skip
            return Row(name, "OpenCV DNN (ONNX reader)", precision, detector.width, detector,
                       models["fp32"], 0.0, network=network)  # fmt: skip
    model = None if name == "opencv" else models[precision]
    if name == "opencv":
        detector = Detector(options.cfg, options.weights, size=size, threads=threads,
                            engine="opencv")  # fmt: skip
        return Row(name, "OpenCV DNN (Darknet importer)", precision, size, detector, None, 0.0)
    assert model is not None
    nospin = name.endswith("nospin")
    detector = Detector(model=model, threads=threads, device="cpu", spinning=not nospin)
    engine = "ONNX Runtime" + (" (--no-spin)" if nospin else "")
    if name.startswith(("openvino", "ort-cuda", "ort-tensorrt")):
        # the pre- and post-processing stay the detector's; its ONNX Runtime session goes
        detector.engine = None  # type: ignore[assignment]
        found = detector.ultralytics
        outputs = found.outputs if found is not None else read_model_info(model).outputs
        if name.startswith("openvino"):
            detector.engine = _OpenVINOEngine(model, outputs, threads, fp32=precision == "fp32")
            engine = "OpenVINO"
        else:
            provider = "CUDA" if name == "ort-cuda-fp32" else "Tensorrt"
            detector.engine = _ProviderEngine(model, outputs, f"{provider}ExecutionProvider")
            engine = f"ONNX Runtime {provider.replace('Tensorrt', 'TensorRT')}"
    return Row(name, engine, precision, detector.width, detector, model, 0.0, network=network)


def _probe(
    name: str, size: int, models: dict[str, Path], options: BenchmarkOptions, threads: int,
    frame: np.ndarray, network: str = "",
) -> float:  # fmt: skip
    """In a fresh process: the peak memory (MiB) that loading the row and running 3 frames adds
    to a process that has imported the libraries."""
    import cv2  # noqa: F401  (the libraries every row loads, before the baseline)
    import onnxruntime  # noqa: F401

    if name.startswith("openvino"):
        import openvino  # noqa: F401

    reset_peak_rss()
    before = rss_mib()
    row = make_row(name, size, models, options, threads, network)
    detector = row.detector
    for _ in range(3):
        detector.detect(frame)
    return max(peak_rss_mib() - before, 0.0)


def measure_memory(
    name: str, size: int, models: dict[str, Path], options: BenchmarkOptions, threads: int,
    frame: np.ndarray, network: str = "",
) -> float:  # fmt: skip
    """The peak memory one row adds to a process (MiB): the model, the engine's buffers and
    arenas, measured in a fresh process (in this one, memory freed by an earlier row would be
    reused and hide it); 0 where the kernel gives no peak mark."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_probe, (name, size, models, options, threads, frame, network))
