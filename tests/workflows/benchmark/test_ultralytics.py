"""`yof-darknet benchmark --ultralytics MODEL.onnx`: an Ultralytics export's rows beside ours,
int8 quantized on the same calibration images, mAP from `map`'s path. A hand-built graph with
the export's layout and metadata runs everywhere; a real export when `ultralytics` is installed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from tests.support.model import TinyModel
from tests.support.ultralytics import export_tiny, hand_built_model
from yof_darknet.cli import main
from yof_darknet.core.expressions import CLASSES
from yof_darknet.core.fileio import sha256_file
from yof_darknet.evaluate.options import MapOptions
from yof_darknet.evaluate.run import run_map
from yof_darknet.export.ultralytics import decode_nodes, quantize_ultralytics
from yof_darknet.infer.detector import Detector

needs_ultralytics = pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None,
    reason="ultralytics (AGPL, optional extra) is not installed",
)


def whole_image_boxes(width: int = 96, height: int = 64) -> np.ndarray:
    """(1, 4 + classes, classes): one box over the whole input per class, probability 0.5."""
    anchors = [[width / 2, height / 2, width, height] + [0.5 * (c == k) for c in range(7)]
               for k in range(len(CLASSES))]  # fmt: skip
    return np.array(anchors, np.float32).T[None]


def ground_truth_boxes(tiny_model: TinyModel) -> np.ndarray:
    """(1, 4 + classes, faces): every face of the validation images at its place in the
    96x64 input (96x96 images letterboxed: scaled to 64x64, 16 grey columns left), probability
    0.9 for its class; every image gets all of them (the output is constant), so each image
    has its own faces found and the others' as false positives."""
    anchors = []
    for image in tiny_model.valid_images:
        for line in image.with_suffix(".txt").read_text().splitlines():
            k, cx, cy, w, h = line.split()
            probs = [0.9 * (c == int(k)) for c in range(len(CLASSES))]
            anchors.append([16 + 64 * float(cx), 64 * float(cy), 64 * float(w), 64 * float(h),
                            *probs])  # fmt: skip
    return np.array(anchors, np.float32).T[None]


@pytest.fixture(scope="module")
def benchmarked(tiny_model: TinyModel, tmp_path_factory) -> tuple[Path, Path, dict]:
    folder = tmp_path_factory.mktemp("bench-ultralytics")
    model = hand_built_model(folder / "best.onnx", ground_truth_boxes(tiny_model), convs=True)
    inputs = (tiny_model.cfg, tiny_model.weights, tiny_model.data, model)
    before = [sha256_file(p) for p in inputs]
    out = folder / "out"
    args = ["benchmark", "--cfg", str(tiny_model.cfg), "--weights", str(tiny_model.weights),
            "--data", str(tiny_model.data), "--ultralytics", str(model), "--sizes", "96",
            "--rounds", "3", "--pause-ms", "0", "--streams", "", "--images", "8",
            "--out", str(out)]  # fmt: skip
    for engine in ("opencv", "ort-fp32", "ort-int8"):
        args += ["--engine", engine]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert [sha256_file(p) for p in inputs] == before
    return out, model, json.loads((out / "benchmark.json").read_text())


def test_ultralytics_rows_beside_ours(benchmarked):
    out, model, report = benchmarked
    rows = [(r["network"], r["engine"], r["precision"], r["size"]) for r in report["rows"]]
    ours = [("", e, p, 96) for e, p in [("opencv", "fp32"), ("ort-fp32", "fp32"),
                                         ("ort-int8", "int8")]]  # fmt: skip
    theirs = [("ultralytics", e, p, 96) for _, e, p, _ in ours]  # the export's own width
    assert rows == ours + theirs
    assert report["model"]["ultralytics"] == str(model)
    for row in report["rows"]:
        assert 0 < row["median_ms"] <= row["p95_ms"] and row["fps"] > 0
    table = (out / "benchmark.md").read_text()
    assert "beside Ultralytics best.onnx" in table.splitlines()[0]
    cells = [line.split("|")[1].strip() for line in table.splitlines() if "| Ultralytics" in line]
    assert cells == ["Ultralytics opencv", "Ultralytics ort-fp32", "Ultralytics ort-int8"]
    # the ratios compare our engines with each other only
    assert report["ratios"] and all("Ultralytics" not in r for r in report["ratios"])


def test_ultralytics_int8_is_quantized_and_read_as_int8(benchmarked):
    out, model, _ = benchmarked
    int8 = out / "models" / "ultralytics-int8.onnx"
    proto = onnx.load(str(int8))
    assert any(n.op_type == "QuantizeLinear" for n in proto.graph.node)
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["author"] == "Ultralytics" and props["names"] == str(dict(enumerate(CLASSES)))
    detector = Detector(model=int8)
    assert detector.precision == "int8" and detector.ultralytics is not None
    image = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    ours = [(d.name, round(d.score, 3)) for d in detector.detect(image)]
    fp32 = [(d.name, round(d.score, 3)) for d in Detector(model=model).detect(image)]
    assert ours == fp32  # the decoding stayed fp32: the same boxes and scores
    assert (out / "models" / "ultralytics-int8.onnx").stat().st_mtime > 0


def test_ultralytics_rows_scored_by_map(benchmarked, tiny_model: TinyModel):
    out, model, report = benchmarked
    rows = {(r["network"], r["engine"]): r for r in report["rows"]}
    expected = run_map(MapOptions(data=tiny_model.data, engine="ort", model=model))
    assert expected.table.face is not None
    fp32 = rows["ultralytics", "ort-fp32"]
    assert fp32["map"] == pytest.approx(expected.table.combined.map)
    assert fp32["face_ap"] == pytest.approx(expected.table.face.face_ap)
    assert 0.2 < fp32["map"] < 1 and 0.2 < fp32["face_ap"] < 1
    int8 = run_map(MapOptions(data=tiny_model.data, engine="ort",
                              model=out / "models" / "ultralytics-int8.onnx"))  # fmt: skip
    assert rows["ultralytics", "ort-int8"]["map"] == pytest.approx(int8.table.combined.map)
    # OpenCV DNN on the export: the same file's score, and the note says whose detections
    opencv = rows["ultralytics", "opencv"]
    assert opencv["map"] == fp32["map"]
    assert any("ONNX Runtime's detections of the same fp32 file" in n for n in opencv["notes"])
    # ours are scored as before: OpenCV DNN's row through its own detections
    assert rows["", "opencv"]["notes"] == []


def test_a_rerun_reuses_the_int8_model(tiny_model: TinyModel, tmp_path):
    model = hand_built_model(tmp_path / "best.onnx", whole_image_boxes(), convs=True)
    listing = tiny_model.data.parent / "train.txt"
    int8 = tmp_path / "int8.onnx"
    done = quantize_ultralytics(model, int8, listing, images=4)
    assert done.calibrated_on == 4 and done.calibration == "percentile"
    assert "/model.0/conv/Conv" in done.fp32_nodes
    from yof_darknet.export.ultralytics import is_quantized_from

    assert is_quantized_from(int8, model, listing, 4)
    assert not is_quantized_from(int8, model, listing, 5)
    hand_built_model(model, whole_image_boxes() * 0.5, convs=True)  # another fp32 model
    assert not is_quantized_from(int8, model, listing, 4)


def test_decoding_nodes_stay_fp32(tmp_path):
    model = onnx.load(str(hand_built_model(tmp_path / "m.onnx", whole_image_boxes(), convs=True)))
    assert decode_nodes(model) == ["/model.1/Mean", "/model.1/Mul", "/model.1/Add"]


@needs_ultralytics
@pytest.mark.slow
def test_real_export_quantized_keeps_its_boxes(tmp_path, tiny_model: TinyModel):
    """A real (untrained, random-headed) YOLOv8n export: the head's decoding (DFL, grid,
    strides, concatenation) stays fp32, its branch convolutions are quantized, and int8 finds
    boxes close to fp32's."""
    path = export_tiny(tmp_path, "v8/yolov8.yaml", (96, 96))
    proto = onnx.load(str(path))
    kept = decode_nodes(proto)
    head = kept[0].split("/")[1]
    assert any("/dfl/" in n for n in kept) and any(n.endswith("Concat") for n in kept)
    assert not any("/cv2." in n or "/cv3." in n for n in kept)
    assert all(n.startswith(f"/{head}/") for n in kept)
    int8 = tmp_path / "int8.onnx"
    quantize_ultralytics(path, int8, tiny_model.data.parent / "train.txt", images=8)
    image = cv2.imread(str(tiny_model.valid_images[0]))
    fp32, _ = Detector(model=path).forward(image)
    ours, _ = Detector(model=int8).forward(image)
    assert ours.shape == fp32.shape
    # boxes (relative to the input) and scores near fp32's: quantized with the box
    # coordinates' scale (0..96 in 256 steps), the probabilities would all read 0 or 0.38
    assert np.abs(ours[:, :4] - fp32[:, :4]).mean() < 0.05
    assert np.abs(ours[:, 4] - fp32[:, 4]).mean() < 0.05
