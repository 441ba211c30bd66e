"""The engines that run a Darknet network: ONNX Runtime (an exported model) and OpenCV DNN
(Darknet's cfg + weights through OpenCV's Darknet importer, or an fp32 ONNX model through its
ONNX reader). Each takes a (batch, 3, H, W) float32 blob and returns the raw ``[yolo]`` head
outputs in cfg order, which :mod:`yof_darknet.infer.yolo` decodes the same way for both.

OpenCV 5 removed the Darknet importer: it is looked up only when ``--engine opencv`` is asked
for, so everything else (ONNX Runtime, video I/O, drawing) works with OpenCV 5.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from yof_darknet.core.errors import InferenceError
from yof_darknet.formats.modelinfo import METADATA_KEY, ModelInfo
from yof_darknet.formats.ultralytics import UltralyticsInfo, is_ultralytics, read_ultralytics_info

OPENCV5_HINT = (
    "OpenCV {version} has no Darknet importer (OpenCV 5 removed it): use --engine ort (the "
    "default), or install opencv-python<5 for --engine opencv"
)
DEVICES = ("auto", "cpu", "cuda")


class Engine(Protocol):
    name: str
    backend: str  # cpu | cuda

    def run(self, blob: np.ndarray) -> list[np.ndarray]: ...


def has_darknet_importer() -> bool:
    return hasattr(cv2.dnn, "readNetFromDarknet")


def opencv_cuda_available() -> bool:
    """Whether the installed OpenCV was built with CUDA and sees a GPU."""
    try:
        return cv2.cuda.getCudaEnabledDeviceCount() > 0
    except (cv2.error, AttributeError):
        return False


class OpenCVEngine:
    """OpenCV DNN on Darknet's cfg text + weights (``darknet_cfg`` given) or on an fp32 ONNX
    model (``onnx`` given); ``threads`` sets OpenCV's process-wide thread count."""

    name = "opencv"

    def __init__(
        self,
        *,
        darknet_cfg: bytes | None = None,
        weights: Path | None = None,
        onnx: Path | None = None,
        outputs: list[str] | None = None,
        threads: int | None = None,
        device: str = "auto",
    ) -> None:
        if threads is not None:
            cv2.setNumThreads(threads)
        if onnx is not None:
            self.net = cv2.dnn.readNetFromONNX(str(onnx))
            self._outputs = list(outputs or self.net.getUnconnectedOutLayersNames())
        else:
            if not has_darknet_importer():
                raise InferenceError(OPENCV5_HINT.format(version=cv2.__version__))
            assert darknet_cfg is not None and weights is not None
            try:
                self.net = cv2.dnn.readNetFromDarknet(
                    np.frombuffer(darknet_cfg, dtype=np.uint8),
                    np.fromfile(weights, dtype=np.uint8),
                )
            except cv2.error as exc:
                raise InferenceError(
                    f"{weights}: OpenCV cannot load these weights "
                    f"({str(exc).strip().splitlines()[-1]}); are they from this cfg?"
                ) from None
            self._outputs = _darknet_head_layers(self.net)
        use_cuda = device != "cpu" and opencv_cuda_available()
        if device == "cuda" and not use_cuda:
            raise InferenceError("--device cuda: this OpenCV has no CUDA or sees no GPU")
        self.backend = "cuda" if use_cuda else "cpu"
        if use_cuda:
            self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_CUDA)
            self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CUDA)
        else:
            self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
            self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        self.net.setInput(blob)
        return list(self.net.forward(self._outputs))


def _darknet_head_layers(net: cv2.dnn.Net) -> list[str]:
    """The layers feeding OpenCV's ``yolo_N`` layers (the raw head convolutions): OpenCV puts a
    ``permute_N`` between them, so the head is the layer just before that. Other outputs (a
    classifier's softmax) stay as they are."""
    names = list(net.getLayerNames())
    heads = []
    for output in net.getUnconnectedOutLayersNames():
        if not output.startswith("yolo_"):  # a classifier's softmax: its output as it is
            heads.append(output)
            continue
        permute = names.index("permute_" + output.rsplit("_", 1)[1])
        heads.append(names[permute - 1])
    return heads


def _metadata(model: Path) -> tuple[dict[str, str], tuple[str, ...], str]:
    """``metadata_props``, output names and input element type of an ONNX file (``INT8`` for
    a QDQ model: a float input, int8 inside)."""
    import onnx

    try:
        proto = onnx.load(str(model), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError...: all mean "not a model"
        raise InferenceError(f"{model}: not an ONNX model ({exc})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    outputs = tuple(o.name for o in proto.graph.output)
    inputs = [
        i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}
    ]
    elem = inputs[0].type.tensor_type.elem_type if inputs else 0
    if any(node.op_type == "QuantizeLinear" for node in proto.graph.node):
        elem = onnx.TensorProto.INT8  # a QDQ model: float input, int8 inside
    return props, outputs, onnx.TensorProto.DataType.Name(elem) if elem else "?"


def read_model(model: Path) -> ModelInfo | UltralyticsInfo:
    """What an ONNX detector is: a ``yof-darknet export`` (:class:`ModelInfo`) or an
    Ultralytics export (:class:`UltralyticsInfo`, from its own metadata); anything else is
    refused, saying which two kinds are read."""
    props, outputs, elem = _metadata(model)
    if METADATA_KEY in props:
        return ModelInfo.from_json(props[METADATA_KEY])
    if not is_ultralytics(props):
        raise InferenceError(
            f"{model}: neither a yof-darknet export (no {METADATA_KEY!r} metadata) nor an "
            "Ultralytics export (no imgsz/names/stride metadata); make it with `yof-darknet "
            "export` or Ultralytics' `yolo export format=onnx`"
        )
    try:
        info = read_ultralytics_info(props, outputs, str(model))
    except ValueError as exc:
        raise InferenceError(str(exc)) from None
    if elem not in ("FLOAT", "INT8") or len(outputs) != 1:
        raise InferenceError(
            f"{model}: an Ultralytics export with a {elem} input and {len(outputs)} outputs; "
            "only fp32 detect exports (one output) are read: export with half=False, int8=False"
        )
    return replace(info, precision="int8") if elem == "INT8" else info


def read_model_info(model: Path) -> ModelInfo:
    """The :class:`ModelInfo` an export wrote into ``model``."""
    props, _, _ = _metadata(model)
    if METADATA_KEY not in props:
        what = " (an Ultralytics export: give it as --model)" if is_ultralytics(props) else ""
        raise InferenceError(
            f"{model}: no yof-darknet metadata{what}; make the model with `yof-darknet export`"
        )
    return ModelInfo.from_json(props[METADATA_KEY])


class OrtEngine:
    """ONNX Runtime on an exported model. ``threads``: intra-op threads (default: the CPUs this
    process may use). ``spinning``: worker threads spin between the operators of one run
    instead of sleeping (on by default: sleeping and waking them for each of the ~30 parallel
    sections cost the int8 model ~35 % of its forward pass). Spinning stops when ``run()``
    returns (``session.force_spinning_stop``): otherwise a spinning thread keeps a core busy
    ~40-65 ms after each run, stealing it from capture, drawing and other processes. Turn it off
    when other busy threads share the cores during the run. ``device``: ``cuda`` needs
    onnxruntime-gpu and a GPU; ``auto`` takes CUDA when both are there."""

    name = "ort"

    def __init__(
        self,
        model: Path,
        info: ModelInfo | UltralyticsInfo,
        *,
        threads: int | None = None,
        device: str = "auto",
        spinning: bool = True,
    ) -> None:
        import onnxruntime as ort

        if device not in DEVICES:
            raise InferenceError(f"--device {device}: expected one of {', '.join(DEVICES)}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if spinning else "0"
        )
        options.add_session_config_entry("session.force_spinning_stop", "1")
        available = ort.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        elif device == "cuda":
            raise InferenceError(
                "--device cuda: this onnxruntime has no CUDA execution provider "
                f"({', '.join(available)}); pip install onnxruntime-gpu"
            )
        # QDQ propagation moves the first QuantizeLinear of an int8 model whose first block
        # stays fp32 up across its maxpool, which then runs as ONNX Runtime's slow uint8 NCHW
        # MaxPool (21 ms instead of 0.4 at 416); the other maxpools sit between quantized
        # convolutions and are fused into NHWC ones either way.
        disabled = ["QDQPropagationTransformer"] if info.precision == "int8" else []
        try:
            self.session = ort.InferenceSession(
                str(model),
                sess_options=options,
                providers=providers,
                disabled_optimizers=disabled,
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise InferenceError(f"{model}: ONNX Runtime cannot load it ({exc})") from None
        used = self.session.get_providers()
        if device == "cuda" and used[0] != "CUDAExecutionProvider":
            raise InferenceError("--device cuda: ONNX Runtime found no usable GPU")
        self.backend = "cuda" if used[0] == "CUDAExecutionProvider" else "cpu"
        self.info = info
        self._input = self.session.get_inputs()[0].name
        self._outputs = list(info.outputs)

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self._outputs, {self._input: blob})
