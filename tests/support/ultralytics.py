"""Ultralytics ONNX models for the tests: one built by hand with the export's output layout and
metadata (no ``ultralytics`` needed), and tiny real ones exported by ``ultralytics`` itself."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from yof_darknet.core.expressions import CLASSES


def ultralytics_props(width: int, height: int, end2end: bool, names=CLASSES) -> dict[str, str]:
    """``metadata_props`` as ``yolo export format=onnx`` writes them (Python literals)."""
    return {
        "author": "Ultralytics",
        "version": "8.4.190",
        "stride": "32",
        "task": "detect",
        "batch": "1",
        "imgsz": str([height, width]),
        "names": str(dict(enumerate(names))),
        "end2end": str(end2end),
    }


def hand_built_model(
    path: Path,
    output: np.ndarray,
    width: int = 96,
    height: int = 64,
    convs: bool = False,
    **props: str,
) -> Path:
    """An ONNX graph ``images (1, 3, height, width) -> output0`` that returns ``output`` (plus
    0 x the mean of the input, so the input is really read), with Ultralytics' metadata.
    ``convs``: the mean is taken after two convolutions named as in an export (a backbone
    ``/model.0/`` and a head branch ``/model.1/cv2.0/``), which int8 quantization can quantize;
    the nodes after them are named as the head's decoding (``/model.1/``)."""
    end2end = output.shape[-1] == 6
    rng = np.random.default_rng(0)
    initializers = [
        numpy_helper.from_array(output.astype(np.float32), "raw"),
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
    ]
    nodes = []
    features = "images"
    if convs:
        for index, (name, channels) in enumerate(
            [("/model.0/conv/Conv", 3), ("/model.1/cv2.0/cv2.0.0/conv/Conv", 8)]
        ):
            weight = numpy_helper.from_array(
                rng.normal(0, 0.3, (8, channels, 3, 3)).astype(np.float32), f"w{index}"
            )
            initializers.append(weight)
            nodes.append(
                helper.make_node(
                    "Conv", [features, f"w{index}"], [f"c{index}"], name=name, pads=[1, 1, 1, 1]
                )
            )
            features = f"c{index}"
    nodes += [
        helper.make_node("ReduceMean", [features], ["mean"], keepdims=0, name="/model.1/Mean"),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"], name="/model.1/Mul"),
        helper.make_node("Add", ["raw", "nothing"], ["output0"], name="/model.1/Add"),
    ]
    graph = helper.make_graph(
        nodes,
        "hand_built_ultralytics",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, height, width])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    for key, value in {**ultralytics_props(width, height, end2end), **props}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def export_tiny(folder: Path, base: str, imgsz: tuple[int, int], **export) -> Path:
    """A real Ultralytics model built from ``base`` (``v8/yolov8.yaml``, ``26/yolo26.yaml``) at
    scale n with our 7 classes, untrained with seed 0, exported to ONNX by Ultralytics.

    The head's class convolutions get random weights (seed 0): an untrained head's class biases
    start at ~1e-4 probability, where no box passes a threshold."""
    import torch
    import yaml
    from ultralytics import YOLO
    from ultralytics.utils import ROOT

    cfg = yaml.safe_load((ROOT / "cfg" / "models" / base).read_text())
    cfg["nc"] = len(CLASSES)
    name = Path(base).stem + "n"
    spec = folder / f"{name}.yaml"  # the "n" in the name picks the nano scale
    spec.write_text(yaml.safe_dump(cfg))
    torch.manual_seed(0)
    model = YOLO(str(spec))
    head = model.model.model[-1]
    for branch in [*head.cv3, *getattr(head, "one2one_cv3", [])]:
        torch.nn.init.normal_(branch[-1].bias, 0, 1)
        torch.nn.init.normal_(branch[-1].weight, 0, 0.3)
    model.model.names = dict(enumerate(CLASSES))
    here = Path.cwd()
    os.chdir(folder)  # a model built from a yaml is exported into the current folder
    try:
        return folder / model.export(format="onnx", imgsz=imgsz, verbose=False, **export)
    finally:
        os.chdir(here)
