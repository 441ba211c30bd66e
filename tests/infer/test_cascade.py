from __future__ import annotations

import json
import re
import subprocess

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.boxes import iou_xyxy
from yof_darknet.cli import main
from yof_darknet.core.errors import InferenceError
from yof_darknet.infer.cascade import Cascade, parse_cascade
from yof_darknet.workflows.compare import compose_frame, face_photos


@pytest.fixture(scope="module")
def cascade(tiny_classifier) -> Cascade:
    return Cascade(tiny_classifier.cfg, tiny_classifier.weights, threads=1)


@pytest.fixture(scope="module")
def five_faces() -> np.ndarray:
    return compose_frame(5, face_photos())


def test_the_cascade_finds_every_real_face_and_scores_face_times_class(cascade, five_faces):
    found = cascade.detect(five_faces, thresh=0.0)
    boxes = {d.xyxy for d in found}
    assert len(boxes) == 5
    faces = cascade.faces.detect(five_faces)
    assert {f.xyxy for f in faces} == boxes
    probabilities = cascade.classify(five_faces, faces)
    for face, row in zip(faces, probabilities, strict=True):
        scores = {d.class_id: d.score for d in found if d.xyxy == face.xyxy}
        expected = {c: face.score * p for c, p in enumerate(row) if face.score * p > 0}
        assert scores == pytest.approx(expected, rel=1e-5)
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)


def test_classify_on_given_boxes_gives_one_distribution_per_box(cascade, five_faces):
    faces = cascade.faces.detect(five_faces)
    probabilities = cascade.classify(five_faces, faces)
    assert probabilities.shape == (5, 7)
    assert np.allclose(probabilities.sum(1), 1.0, atol=1e-4)


def test_detect_cascade_writes_json_and_annotated_copies(tiny_classifier, five_faces, tmp_path):
    image = tmp_path / "five.png"
    cv2.imwrite(str(image), five_faces)
    spec = f"{tiny_classifier.cfg}:{tiny_classifier.weights}"
    result = CliRunner().invoke(
        main,
        [
            "detect",
            str(image),
            "--cascade",
            spec,
            "--thresh",
            "0",
            "--smooth",
            "--json",
            str(tmp_path / "out.jsonl"),
            "--save",
            str(tmp_path / "annotated"),
        ],
    )
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(record["detections"]) >= 5 and all("track" in d for d in record["detections"])
    assert len({tuple(d["box"]) for d in record["detections"]}) == 5
    saved = cv2.imread(str(tmp_path / "annotated" / "five.png"))
    assert saved.shape == five_faces.shape and not np.array_equal(saved, five_faces)


def test_a_lone_portrait_is_one_face_where_retinaface_puts_it(cascade):
    photo = face_photos()[0]
    (face,) = cascade.faces.detect(photo)
    (best, *_) = cascade.detect(photo, thresh=0.0)
    assert iou_xyxy(best.xyxy, face.xyxy) == pytest.approx(1.0)


def test_bad_cascade_specs_and_models_say_what_is_wrong(tiny_classifier, tmp_path):
    with pytest.raises(InferenceError, match="expected CLASSIFIER_CFG:WEIGHTS"):
        parse_cascade("only.cfg")
    detector_cfg = tmp_path / "yolo.cfg"
    detector_cfg.write_text("[net]\nwidth=64\nheight=64\n[yolo]\nclasses=7\n")
    with pytest.raises(InferenceError, match="not a classifier cfg"):
        Cascade(detector_cfg, tiny_classifier.weights)
    with pytest.raises(InferenceError, match="2 class names"):
        Cascade(tiny_classifier.cfg, tiny_classifier.weights, ["a", "b"])


def test_the_classifier_on_onnx_runtime_equals_opencv_dnn(recorded_classifier, five_faces):
    """The classifier's ONNX export ([avgpool], [softmax]) on ONNX Runtime against OpenCV DNN's
    Darknet importer, on real face crops and on the recorded classifier's training crops (the
    recorded model: its probabilities are spread, so the check reads real numbers)."""
    from yof_darknet.export.cache import CACHE_FOLDER
    from yof_darknet.infer.cascade import Classifier

    cfg, weights = recorded_classifier.cfg, recorded_classifier.weights
    ort = Cascade(cfg, weights, threads=1, engine="ort")
    opencv = Cascade(cfg, weights, threads=1, engine="opencv")
    assert "onnxruntime" in ort.description.split("+")[1]
    assert "opencv" in opencv.description.split("+")[1]
    assert list((weights.parent / CACHE_FOLDER).glob("*.onnx"))
    faces = ort.faces.detect(five_faces)
    a, b = ort.classify(five_faces, faces), opencv.classify(five_faces, faces)
    assert a.shape == b.shape == (5, 7)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    crops = [cv2.imread(str(p)) for p in sorted(recorded_classifier.crops.rglob("*.png"))[:16]]
    assert len(crops) == 16
    probs = [Classifier(cfg, weights, engine=e).probabilities(crops) for e in ("ort", "opencv")]
    np.testing.assert_allclose(probs[0], probs[1], rtol=0, atol=1e-5)
    assert probs[0].max() < 0.9  # not one-hot: a near tie would not flip a class here


def test_the_classifier_on_onnx_runtime_equals_darknets_own_predict(
    recorded_classifier, debian_darknet
):
    """Debian's darknet (which trained it) is the reference: `classifier predict` prints every
    class's probability in percent with two decimals, so they agree within 5e-5."""
    from yof_darknet.infer.cascade import Classifier

    crops = recorded_classifier.crops
    labels = (crops / "labels.txt").read_text().split()
    paths = sorted(crops.rglob("*.png"))[::10]
    ours = Classifier(recorded_classifier.cfg, recorded_classifier.weights).probabilities(
        [cv2.imread(str(p)) for p in paths]
    )
    data = crops.parent / "predict.data"
    data.write_text(f"classes={len(labels)}\nlabels={crops / 'labels.txt'}\n")
    for path, row in zip(paths, ours, strict=True):
        done = subprocess.run(
            [str(debian_darknet), "classifier", "predict", str(data), str(recorded_classifier.cfg),
             str(recorded_classifier.weights), str(path), "-t", str(len(labels))],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        printed = dict(
            (name, float(percent) / 100)
            for percent, name in re.findall(r"^\s*([0-9.]+)%: (\S+)$", done.stdout, re.M)
        )
        assert sorted(printed) == sorted(labels), done.stdout
        np.testing.assert_allclose(row, [printed[n] for n in labels], rtol=0, atol=5e-5 + 1e-6)


def test_a_diverged_classifier_is_refused_at_load(tiny_classifier, tmp_path):
    data = bytearray(tiny_classifier.weights.read_bytes())
    body = np.frombuffer(data, dtype="<f4", offset=20)
    body[len(body) // 2] = np.inf
    weights = tmp_path / "diverged.weights"
    weights.write_bytes(bytes(data))
    for engine in ("ort", "opencv"):
        with pytest.raises(InferenceError, match="1 of its parameters are not finite"):
            Cascade(tiny_classifier.cfg, weights, engine=engine)
    assert not (tmp_path / ".yof-onnx").exists()
