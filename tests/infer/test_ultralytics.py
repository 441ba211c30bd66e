"""Ultralytics ONNX exports through our detector: a hand-built graph with the export's layout
and metadata (always), and tiny real exports against Ultralytics' own ``predict`` (when the
optional ``ultralytics`` package is installed: ``pip install -e '.[ultralytics]'``)."""

from __future__ import annotations

import importlib.util
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.ultralytics import export_tiny, hand_built_model
from yof_darknet.cli import main
from yof_darknet.core.errors import InferenceError
from yof_darknet.core.expressions import CLASSES
from yof_darknet.datasets.build import build_datasets, expw_job
from yof_darknet.infer.detector import Detector
from yof_darknet.samples.write import write_expw_sample

HAS_ULTRALYTICS = importlib.util.find_spec("ultralytics") is not None
needs_ultralytics = pytest.mark.skipif(
    not HAS_ULTRALYTICS, reason="ultralytics (AGPL, optional extra) is not installed"
)


def column(cx: float, cy: float, w: float, h: float, scores: dict[int, float]) -> list[float]:
    probs = [scores.get(c, 0.0) for c in range(len(CLASSES))]
    return [cx, cy, w, h, *probs]


def undo_letterbox(cx, cy, w, h, image_wh=(200, 120), net_wh=(96, 64)):
    """Ultralytics' geometry written out for a 200x120 image in a 96x64 input: scale 0.48,
    resized to 96x58, 3 grey rows above; back to image pixels as x1, y1, x2, y2."""
    gain_x, gain_y = 96 / 200, 58 / 120
    cx, cy, w, h = cx / gain_x, (cy - 3) / gain_y, w / gain_x, h / gain_y
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)


def test_boxes_without_objectness_best_class_then_nms(tmp_path, image):
    anchors = [
        column(48, 32, 20, 10, {2: 0.9}),
        column(49, 32, 20, 10, {2: 0.8, 4: 0.3}),  # under the first box: NMS drops it
        column(20, 20, 10, 10, {4: 0.7, 2: 0.6}),  # kept once, in its best class only
        column(70, 40, 10, 10, {0: 0.1}),  # under the threshold
    ]
    output = np.array(anchors, np.float32).T[None]  # (1, 4 + classes, anchors)
    detector = Detector(model=hand_built_model(tmp_path / "v8.onnx", output))
    assert (detector.width, detector.height, detector.names) == (96, 64, list(CLASSES))
    found = detector.detect(image, thresh=0.25, nms=0.45)
    assert [(d.name, round(d.score, 6)) for d in found] == [("fear", 0.9), ("sadness", 0.7)]
    np.testing.assert_allclose(found[0].xyxy, undo_letterbox(48, 32, 20, 10), atol=1e-3)
    np.testing.assert_allclose(found[1].xyxy, undo_letterbox(20, 20, 10, 10), atol=1e-3)


def test_nms_free_export_keeps_its_boxes(tmp_path, image):
    output = np.array(
        [[[38, 27, 58, 37, 0.9, 2], [39, 27, 59, 37, 0.8, 2], [10, 10, 20, 20, 0.1, 5]]],
        np.float32,
    )
    detector = Detector(model=hand_built_model(tmp_path / "e2e.onnx", output))
    found = detector.detect(image, thresh=0.25, nms=0.45)
    assert [(d.name, round(d.score, 6)) for d in found] == [("fear", 0.9), ("fear", 0.8)]
    np.testing.assert_allclose(found[0].xyxy, undo_letterbox(48, 32, 20, 10), atol=1e-3)


def test_a_model_that_is_neither_kind_is_refused(tmp_path):
    output = np.zeros((1, 11, 4), np.float32)
    model = hand_built_model(tmp_path / "m.onnx", output, author="someone", imgsz="")
    import onnx

    proto = onnx.load(str(model))
    del proto.metadata_props[:]
    onnx.save(proto, str(model))
    with pytest.raises(InferenceError, match=r"neither a yof-darknet export .* nor an Ultralytics"):
        Detector(model=model)


def test_other_classes_or_task_or_layout_are_refused(tmp_path, image):
    coco = hand_built_model(
        tmp_path / "coco.onnx", np.zeros((1, 6, 4), np.float32), names=str({0: "a", 1: "b"})
    )
    with pytest.raises(InferenceError, match=r"classes \(a, b\) are not the dataset's"):
        Detector(model=coco, names=list(CLASSES))
    seg = hand_built_model(tmp_path / "seg.onnx", np.zeros((1, 11, 4), np.float32), task="segment")
    with pytest.raises(InferenceError, match="'segment' model; only detect"):
        Detector(model=seg)
    wrong = hand_built_model(tmp_path / "wrong.onnx", np.zeros((1, 12, 4), np.float32))
    with pytest.raises(InferenceError, match=r"wrong.onnx: .*\(batch, 11, anchors\)"):
        Detector(model=wrong).detect(image)


def test_an_int8_export_is_read_as_int8_and_refused_by_opencv(tmp_path, image):
    from yof_darknet.export.ultralytics import quantize_ultralytics

    anchors = [column(48, 32, 20, 10, {2: 0.9}), column(20, 20, 10, 10, {4: 0.7})]
    fp32 = hand_built_model(tmp_path / "m.onnx", np.array(anchors, np.float32).T[None], convs=True)
    paths = []
    for index in range(4):
        paths.append(tmp_path / f"calib_{index}.png")
        cv2.imwrite(str(paths[-1]), np.roll(image, 10 * index, axis=1))
    (tmp_path / "calib.txt").write_text("".join(f"{p}\n" for p in paths))
    int8 = quantize_ultralytics(fp32, tmp_path / "int8.onnx", tmp_path / "calib.txt", 4).out
    detector = Detector(model=int8)
    assert (detector.precision, Detector(model=fp32).precision) == ("int8", "fp32")
    assert [d.name for d in detector.detect(image)] == ["fear", "sadness"]
    with pytest.raises(InferenceError, match=r"int8\.onnx: OpenCV runs fp32 models only"):
        Detector(model=int8, engine="opencv")


def test_map_scores_an_ultralytics_model_with_our_evaluator(tmp_path):
    write_expw_sample(tmp_path / "ExpW", images=30)
    build_datasets([expw_job(tmp_path / "ExpW")], tmp_path / "data", test_per_dataset=6, seed=0)
    # one box per class over the whole input: some test faces are found, most are not
    anchors = [column(48, 32, 96, 64, {c: 0.5}) for c in range(len(CLASSES))]
    model = hand_built_model(tmp_path / "m.onnx", np.array(anchors, np.float32).T[None])
    out = tmp_path / "map"
    args = ["map", "--data", str(tmp_path / "data" / "obj.data"), "--engine", "ort"]
    result = CliRunner().invoke(main, [*args, "--model", str(model), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = json.loads((out / "table2.json").read_text())
    assert table["method"].startswith("ONNX Runtime (fp32) detections")
    tested = (tmp_path / "data" / "test.txt").read_text().splitlines()
    assert table["detections"] == len(CLASSES) * len(tested)  # each box once per class
    assert 0.0 < table["map"] < 0.5


@needs_ultralytics
@pytest.mark.slow
@pytest.mark.parametrize(
    ("base", "export"), [("v8/yolov8.yaml", {}), ("26/yolo26.yaml", {"nms": False})]
)
def test_same_boxes_as_ultralytics_predict(tmp_path, base, export):
    from ultralytics import YOLO

    path = export_tiny(tmp_path, base, (64, 96), **export)
    detector = Detector(model=path)
    assert detector.ultralytics is not None
    assert detector.ultralytics.end2end == (export.get("nms") is False)
    reference = YOLO(str(path), task="detect")
    rng = np.random.default_rng(1)
    compared = 0
    for width, height in [(200, 120), (90, 150), (40, 30), (97, 61), (300, 300)]:
        image = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), np.uint8), (5, 5), 0)
        theirs = reference.predict(image, conf=0.25, iou=0.45, max_det=10_000, verbose=False)[0]
        ours = detector.detect(image, thresh=0.25, nms=0.45)
        boxes = theirs.boxes
        assert len(ours) == len(boxes) > 0
        order = np.argsort(-boxes.conf.numpy(), kind="stable")
        for d, i in zip(ours, order, strict=True):
            assert d.class_id == int(boxes.cls[i])
            assert abs(d.score - float(boxes.conf[i])) < 1e-3
            np.testing.assert_allclose(d.clipped(width, height), boxes.xyxy[i].numpy(), atol=1.0)
            compared += 1
    assert compared >= 5
