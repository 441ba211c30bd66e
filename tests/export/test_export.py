"""The Darknet -> ONNX export: every layer kind against OpenCV's Darknet importer, the batch-norm
flavor from real training logs, the recorded metadata, and files that must not be touched."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from click.testing import CliRunner

from tests.support.model import TinyModel
from yof_darknet.cli import main
from yof_darknet.core.errors import ExportError
from yof_darknet.core.fileio import sha256_file
from yof_darknet.export.run import ExportOptions, detect_bn_flavor, export_model
from yof_darknet.infer.engines import OpenCVEngine, read_model_info
from yof_darknet.infer.netcfg import opencv_cfg_text
from yof_darknet.infer.weightsfile import write_random_weights
from yof_darknet.tools.netinput import darknet_input

# Every layer kind the export knows, at 64x64: mish/swish/logistic/linear/leaky convolutions, a
# grouped route (CSP-style), a shortcut, the stride-1 size-2 maxpool, upsample, two [yolo] heads.
LAYERS_CFG = """[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=mish

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=swish

[route]
layers=-1
groups=2
group_id=1

[convolutional]
batch_normalize=1
filters=8
size=1
stride=1
pad=1
activation=logistic

[shortcut]
from=-2
activation=linear

[maxpool]
size=2
stride=1

[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=leaky

[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

[yolo]
mask=3,4,5
anchors=10,14, 23,27, 37,58, 81,82, 135,169, 344,319
classes=2
num=6
scale_x_y=1.05

[route]
layers=-3

[upsample]
stride=2

[route]
layers=-1,-7

[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58, 81,82, 135,169, 344,319
classes=2
num=6
"""


def _shapes(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    images = []
    for _ in range(count):
        image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        cv2.circle(image, tuple(int(v) for v in rng.integers(16, 48, 2)), 12, (40, 200, 90), -1)
        images.append(image)
    return images


def test_every_layer_kind_matches_opencv(tmp_path: Path):
    cfg = tmp_path / "layers.cfg"
    cfg.write_text(LAYERS_CFG)
    weights = tmp_path / "layers.weights"
    images = _shapes(np.random.default_rng(3), 4)
    write_random_weights(cfg, weights, seed=2, calibrate=images)
    names = tmp_path / "obj.names"
    names.write_text("a\nb\n")
    out = tmp_path / "layers.onnx"
    # OpenCV folds sqrt(var + 1e-6): closest to pjreddie's sqrt(var) + 1e-6.
    export_model(ExportOptions(cfg, weights, out, names=names, bn_flavor="pjreddie"))
    info = read_model_info(out)
    assert info.outputs == ("conv_8", "conv_13")
    assert info.heads[0].scale_x_y == pytest.approx(1.05) and info.heads[1].scale_x_y == 1.0
    assert info.heads[0].anchors == ((81, 82), (135, 169), (344, 319))
    assert info.names == ("a", "b") and (info.width, info.height) == (64, 64)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    opencv = OpenCVEngine(darknet_cfg=opencv_cfg_text(LAYERS_CFG).encode(), weights=weights)
    for image in images:
        blob, _ = darknet_input(image, 64, 64, letter_box=False)
        ours = session.run(list(info.outputs), {"images": blob})
        theirs = opencv.run(blob)
        for a, b in zip(ours, theirs, strict=True):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_bn_flavor_from_real_training_logs(darknet_fixtures: Path, tmp_path: Path):
    """Darknet's own train output names the fork: pjreddie folds sqrt(var) + 1e-6."""
    for fork, log, expected in (
        ("debian", "train.stdout.txt", "pjreddie"),
        ("alexeyab", "train_map.stdout.txt", "alexeyab"),
        ("hankai", "train_map.stdout.txt", "alexeyab"),
    ):
        run = tmp_path / fork
        (run / "weights").mkdir(parents=True)
        shutil.copy(darknet_fixtures / fork / log, run / "train.log")
        assert detect_bn_flavor(run / "weights" / "x.weights") == expected, fork
    assert detect_bn_flavor(tmp_path / "nowhere" / "x.weights") == "alexeyab"


def test_bn_flavor_from_a_classifier_training_log(tiny_classifier, tmp_path: Path):
    """`classifier train` lines: Debian's real log is pjreddie's; AlexeyAB's printf adds
    ", N hours left" to the same line."""
    assert detect_bn_flavor(tiny_classifier.weights) == "pjreddie"
    run = tmp_path / "alexeyab"
    (run / "weights").mkdir(parents=True)
    (run / "train.log").write_text(
        "3, 0.571: 1.946733, 1.946733 avg, 0.050000 rate, 0.021000 seconds, 12 images, "
        "0.000022 hours left\n"
    )
    assert detect_bn_flavor(run / "weights" / "x.weights") == "alexeyab"


def test_flavors_fold_their_own_epsilon(tiny_model: TinyModel, tmp_path: Path):
    """The two foldings differ (slightly), and the auto choice for a pjreddie run is pjreddie's."""
    outs = {}
    for flavor in ("pjreddie", "alexeyab", "auto"):
        path = tmp_path / f"{flavor}.onnx"
        outs[flavor] = export_model(ExportOptions(tiny_model.cfg, tiny_model.weights, path,
                                                  bn_flavor=flavor))  # fmt: skip
    assert outs["auto"].info.bn_flavor == "pjreddie"
    blob, _ = darknet_input(cv2.imread(str(tiny_model.valid_images[0])), 96, 96, False)
    heads = {
        flavor: ort.InferenceSession(str(result.out)).run(None, {"images": blob})[0]
        for flavor, result in outs.items()
    }
    np.testing.assert_array_equal(heads["auto"], heads["pjreddie"])
    assert 0 < np.abs(heads["pjreddie"] - heads["alexeyab"]).max() < 1e-2


def test_export_cli_records_sources_and_never_overwrites_inputs(
    tiny_model: TinyModel, tmp_path: Path
):
    before = {p: sha256_file(p) for p in (tiny_model.cfg, tiny_model.weights)}
    out = tmp_path / "model.onnx"
    runner = CliRunner()
    args = ["export", "--cfg", str(tiny_model.cfg), "--weights", str(tiny_model.weights)]
    result = runner.invoke(main, [*args, "--out-file", str(out), "--size", "128"])
    assert result.exit_code == 0, result.output
    assert "128x128, 7 classes, BN pjreddie" in result.output
    info = read_model_info(out)
    assert info.cfg_sha256 == sha256_file(tiny_model.cfg)
    assert info.weights_sha256 == before[tiny_model.weights]
    assert (info.width, info.height, info.letter_box, info.precision) == (128, 128, False, "fp32")
    for target in (tiny_model.weights, tiny_model.cfg):
        refused = runner.invoke(main, [*args, "--out-file", str(target)])
        assert refused.exit_code == 1 and "would overwrite an input" in refused.output
    refused = runner.invoke(main, [*args, "--out-file", str(out), "--int8"])
    assert refused.exit_code == 1 and "--int8 needs --calibrate" in refused.output
    assert {p: sha256_file(p) for p in before} == before


def test_unsupported_layers_name_their_line(tiny_model: TinyModel, tmp_path: Path):
    cfg = tmp_path / "odd.cfg"
    text = tiny_model.cfg.read_text().replace("activation=leaky", "activation=selu", 1)
    cfg.write_text(text)
    line = text.splitlines().index("activation=selu") + 1
    with pytest.raises(ExportError, match="activation=selu is not supported"):
        export_model(ExportOptions(cfg, tiny_model.weights, tmp_path / "odd.onnx"))
    short = tmp_path / "short.weights"
    short.write_bytes(tiny_model.weights.read_bytes()[:-400])
    with pytest.raises(ExportError, match="ends before the cfg's last layer"):
        export_model(ExportOptions(tiny_model.cfg, short, tmp_path / "short.onnx"))
    assert not (tmp_path / "odd.onnx").exists() and not (tmp_path / "short.onnx").exists()
    assert line > 0


def test_options_the_export_would_drop_are_refused(tiny_model: TinyModel, tmp_path: Path):
    lines = tiny_model.cfg.read_text().splitlines()
    at = lines.index("[convolutional]", 1) + 1  # its 1-based line; its options start here
    for option in ("xnor=1", "binary=1", "dontload=1", "flipped=1", "unknown_option=3"):
        cfg = tmp_path / "odd.cfg"
        cfg.write_text("\n".join([*lines[:at], option, *lines[at:]]) + "\n")
        with pytest.raises(ExportError, match=rf"line {at}: \[convolutional\] {option} is not"):
            export_model(ExportOptions(cfg, tiny_model.weights, tmp_path / "odd.onnx"))
    # options that change nothing at inference (training, their defaults) are fine
    cfg.write_text("\n".join([*lines[:at], "xnor=0", "stopbackward=1", *lines[at:]]) + "\n")
    export_model(ExportOptions(cfg, tiny_model.weights, tmp_path / "fine.onnx"))
    assert not (tmp_path / "odd.onnx").exists() and (tmp_path / "fine.onnx").is_file()


def test_out_that_is_a_folder_or_a_stream(tiny_model: TinyModel, tmp_path: Path):
    args = ["export", "--cfg", str(tiny_model.cfg), "--weights", str(tiny_model.weights)]
    folder = tmp_path / "models"
    folder.mkdir()
    refused = CliRunner().invoke(main, [*args, "--out-file", str(folder)])
    assert refused.exit_code == 1 and "is a folder" in refused.output
    assert list(folder.iterdir()) == []
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = CliRunner().invoke(main, [*args, "--out-file", str(fifo)])
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    model = onnx.load_from_string(got[0])
    assert [o.name for o in model.graph.output] == ["conv_15", "conv_22"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "models"]


def test_sigterm_during_int8_export_leaves_nothing_in_tmpdir(tiny_model: TinyModel, tmp_path):
    images = (tiny_model.root / "train.txt").read_text().splitlines()
    listing = tmp_path / "calibrate.txt"
    listing.write_text("\n".join(images * 40) + "\n")  # slow enough to be stopped mid-way
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out = tmp_path / "int8.onnx"
    process = subprocess.Popen(
        [sys.executable, "-m", "yof_darknet", "export", "--cfg", str(tiny_model.cfg),
         "--weights", str(tiny_model.weights), "--out-file", str(out), "--int8",
         "--calibrate", str(listing), "--images", "640"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(tmpdir)},
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if any(tmpdir.rglob("*.onnx")):  # the fp32 model is written, calibration runs
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and stderr.count("\n") == 1
    left = [p.name for p in tmpdir.iterdir() if p.name != ".ses"]  # ONNX Runtime's session id
    assert left == [] and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibrate.txt", "tmp"]
