"""The two engines side by side: ONNX Runtime on the exported model against OpenCV DNN (its
Darknet importer and its ONNX reader), batches against single images, the model cache, and the
errors a user sees when an engine or device is not there."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.model import TinyModel
from yof_darknet.cli import main
from yof_darknet.core.errors import InferenceError
from yof_darknet.core.fileio import sha256_file
from yof_darknet.export.cache import CACHE_FOLDER
from yof_darknet.export.run import ExportOptions, export_model
from yof_darknet.infer.detector import Detector
from yof_darknet.infer.video import stream_detections


def _sized(tiny_model: TinyModel, tmp_path: Path) -> list[np.ndarray]:
    source = cv2.imread(str(tiny_model.valid_images[1]))
    images = [cv2.imread(str(p)) for p in tiny_model.valid_images]
    for width, height in ((150, 96), (96, 140), (200, 120), (64, 80)):
        images.append(cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA))
    return images


def _assert_rows_close(a: np.ndarray, b: np.ndarray, net: int = 96) -> None:
    """Scores within 1e-4; boxes that fit in the input within 1e-4 of their size (+ 1e-4 of the
    input), and within 0.01 px of the network input for the rows that can become detections
    (objectness above `detector map`'s 0.005) with a box inside the image.

    A barely trained model also predicts boxes several (up to 16) inputs wide, which every
    output clips to the image: w = anchor * exp(t) turns the engines' float32 difference in t
    into the same relative difference in w, so those are held to 1e-3 of their size (CI met
    1.3e-4 on a box 4.7 inputs tall; OpenCV's importer is itself 2e-5 off darknet's scores
    where ONNX Runtime is 2e-6, see tests/infer/test_detector.py)."""
    np.testing.assert_allclose(a[:, 4:], b[:, 4:], rtol=0, atol=1e-4)
    fits = (a[:, 2:4] <= 1.0).all(axis=1)
    np.testing.assert_allclose(a[fits, :4], b[fits, :4], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a[~fits, :4], b[~fits, :4], rtol=1e-3, atol=1e-4)
    live = (a[:, 4] > 0.005) & fits
    assert live.sum() > 0
    assert np.abs((a[live, :4] - b[live, :4]) * net).max() < 0.01


@pytest.mark.parametrize("letter_box", [False, True])
def test_ort_equals_opencv_darknet_importer(
    tiny_model: TinyModel, tmp_path: Path, letter_box: bool
):
    cfg = tiny_model.cfg
    if letter_box:
        cfg = tmp_path / "letterbox.cfg"
        cfg.write_text(tiny_model.cfg.read_text().replace("[net]\n", "[net]\nletter_box=1\n", 1))
    ort = Detector(cfg, tiny_model.weights, engine="ort")
    opencv = Detector(cfg, tiny_model.weights, engine="opencv")
    assert ort.spec.letter_box is letter_box
    for image in _sized(tiny_model, tmp_path):
        (a, pa), (b, pb) = ort.forward(image), opencv.forward(image)
        assert pa == pb
        _assert_rows_close(a, b)


def test_opencv_onnx_reader_runs_the_fp32_export(tiny_model: TinyModel, tmp_path: Path):
    model = tmp_path / "tiny.onnx"
    export_model(ExportOptions(tiny_model.cfg, tiny_model.weights, model))
    reader = Detector(model=model, engine="opencv")
    ort = Detector(model=model)
    assert reader.description == "opencv onnx" and ort.description == "onnxruntime fp32"
    for image in _sized(tiny_model, tmp_path)[:3]:
        _assert_rows_close(reader.forward(image)[0], ort.forward(image)[0])


@pytest.mark.parametrize("engine", ["ort", "opencv"])
def test_a_batch_equals_its_images_one_by_one(tiny_model: TinyModel, tmp_path: Path, engine):
    detector = Detector(tiny_model.cfg, tiny_model.weights, engine=engine)
    images = _sized(tiny_model, tmp_path)
    batched = detector.detect_batch(images, thresh=0.05)
    single = [detector.detect(image, thresh=0.05) for image in images]
    assert sum(len(d) for d in single) > 0
    for got, expected in zip(batched, single, strict=True):
        assert [d.class_id for d in got] == [d.class_id for d in expected]
        np.testing.assert_allclose([d.score for d in got], [d.score for d in expected], atol=1e-5)
        np.testing.assert_allclose(
            [d.xyxy for d in got], [d.xyxy for d in expected], atol=1e-3
        )  # fmt: skip


def test_batched_video_frames_equal_frame_by_frame(tiny_model: TinyModel, tmp_path: Path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 96))
    for index in range(7):
        writer.write(cv2.imread(str(tiny_model.valid_images[index % 6])))
    writer.release()
    detector = Detector(tiny_model.cfg, tiny_model.weights)

    def run(batch: int):
        capture = cv2.VideoCapture(str(path))
        frames = list(stream_detections(capture, detector, live=False, thresh=0.05, nms=0.45,
                                        batch=batch))  # fmt: skip
        capture.release()
        return frames

    one, three = run(1), run(3)
    assert [f.index for f in three] == [f.index for f in one] == list(range(7))
    for a, b in zip(one, three, strict=True):
        assert [d.class_id for d in a.detections] == [d.class_id for d in b.detections]
        np.testing.assert_allclose([d.score for d in a.detections],
                                   [d.score for d in b.detections], atol=1e-5)  # fmt: skip


def test_cfg_and_weights_are_exported_once_into_a_cache(
    tiny_model: TinyModel, tmp_path: Path, monkeypatch
):
    run = tmp_path / "run"
    run.mkdir()
    cfg, weights = run / "tiny.cfg", run / "tiny.weights"
    cfg.write_bytes(tiny_model.cfg.read_bytes())
    weights.write_bytes(tiny_model.weights.read_bytes())
    before = {p: sha256_file(p) for p in (cfg, weights)}
    first = Detector(cfg, weights)
    assert first.model is not None and first.model.parent == run / CACHE_FOLDER
    stamp = first.model.stat().st_mtime_ns
    again = Detector(cfg, weights)
    assert again.model == first.model and first.model.stat().st_mtime_ns == stamp
    assert Detector(cfg, weights, size=128).model != first.model  # one per network size
    assert sorted(p.name for p in run.iterdir()) == sorted([CACHE_FOLDER, "tiny.cfg",
                                                             "tiny.weights"])  # fmt: skip
    assert {p: sha256_file(p) for p in before} == before
    # the cache folder cannot be made (a file of that name is in the way, as in a read-only
    # folder): the user's cache instead, and the file in the way stays as it was.
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "tiny.weights").write_bytes(weights.read_bytes())
    (blocked / CACHE_FOLDER).write_text("not ours")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    elsewhere = Detector(cfg, blocked / "tiny.weights")
    assert elsewhere.model is not None and (tmp_path / "cache") in elsewhere.model.parents
    assert (blocked / CACHE_FOLDER).read_text() == "not ours"


def test_model_from_other_weights_or_size_is_refused(tiny_model: TinyModel, tmp_path: Path):
    model = tmp_path / "tiny.onnx"
    export_model(ExportOptions(tiny_model.cfg, tiny_model.weights, model))
    other = tmp_path / "other.weights"
    data = bytearray(tiny_model.weights.read_bytes())
    data[-4:] = b"\x00\x00\x80\x3f"
    other.write_bytes(bytes(data))
    with pytest.raises(InferenceError, match="exported from other weights"):
        Detector(tiny_model.cfg, other, model=model)
    with pytest.raises(InferenceError, match="exported for 96x96, not 128x128"):
        Detector(model=model, size=128)
    with pytest.raises(InferenceError, match=r"no yof-darknet metadata|not an ONNX model"):
        Detector(model=tiny_model.cfg)


def test_cuda_without_a_cuda_engine_is_a_clear_error(tiny_model: TinyModel):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    with pytest.raises(InferenceError, match=r"no CUDA execution provider.*onnxruntime-gpu"):
        Detector(tiny_model.cfg, tiny_model.weights, device="cuda")


def test_detect_cli_with_model_and_engines(tiny_model: TinyModel, tmp_path: Path):
    model = tmp_path / "tiny.onnx"
    export_model(ExportOptions(tiny_model.cfg, tiny_model.weights, model))
    image = str(tiny_model.valid_images[0])
    runner = CliRunner()
    outputs = {}
    for name, args in (
        ("model", ["--model", str(model)]),
        ("ort", ["--cfg", str(tiny_model.cfg), "--weights", str(tiny_model.weights)]),
        ("opencv", ["--cfg", str(tiny_model.cfg), "--weights", str(tiny_model.weights),
                    "--engine", "opencv"]),
    ):  # fmt: skip
        result = runner.invoke(main, ["detect", image, "--thresh", "0.05", *args])
        assert result.exit_code == 0, result.output
        outputs[name] = json.loads(result.stdout)
    assert "onnxruntime fp32" in result.stderr or "opencv darknet importer" in result.stderr
    assert outputs["model"] == outputs["ort"]
    assert [d["class"] for d in outputs["ort"]["detections"]] == [
        d["class"] for d in outputs["opencv"]["detections"]
    ]
    missing = runner.invoke(main, ["detect", image])
    assert missing.exit_code == 2 and "give --weights and --cfg, or --model" in missing.output
