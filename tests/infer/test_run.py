"""`yof-darknet detect` end to end on copies of real images, against bad outputs and models:
special files as outputs, names that would leave --save, non-finite numbers, a stop mid-run,
another run's cfg, swapped --cfg/--weights. The raw inputs stay byte-identical in every case."""

from __future__ import annotations

import json
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
import pytest

from tests.support.expw import tree_digest
from tests.support.model import TinyModel
from yof_darknet.formats.cfg import dump_cfg, read_cfg, yolo_heads
from yof_darknet.formats.network import write_network_record
from yof_darknet.formats.weights import layer_param_counts, read_header

YOF = [sys.executable, "-m", "yof_darknet"]


def _strict(text: str) -> list[dict]:
    """JSON lines parsed as strict JSON (NaN, Infinity refused)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return [json.loads(line, parse_constant=refuse) for line in text.splitlines()]


@pytest.fixture
def raw(tmp_path: Path, darknet_fixtures: Path) -> Path:
    """Copies of the darknet fixtures' images (and their labels), read-only as raw data."""
    root = tmp_path / "raw"
    shutil.copytree(darknet_fixtures / "dataset" / "JPEGImages" / "valid", root / "images")
    return root


def _detect(model: TinyModel, *args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*YOF, "detect", *args, "--cfg", str(model.cfg), "--weights", str(model.weights)],
        cwd=cwd, capture_output=True, text=True, timeout=600, check=False, **kw,
    )  # fmt: skip


def _images(raw: Path) -> list[Path]:
    return sorted((raw / "images").glob("*.jpg"))[:3]


def test_json_into_a_fifo_a_descriptor_and_a_device(tiny_model, raw, tmp_path):
    image = _images(raw)[0]
    before = tree_digest(raw)
    out = tmp_path / "out"
    out.mkdir()
    fifo = out / "pipe.json"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    done = _detect(tiny_model, str(image), "--json", str(fifo), cwd=tmp_path)
    reader.join(timeout=60)
    assert done.returncode == 0, done.stderr
    assert _strict(got[0].decode())[0]["source"] == str(image)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)

    # `--json /dev/stdout` and `>(...)`: a private link to this process's descriptor 1
    (out / "stdout").symlink_to("/proc/self/fd/1")
    done = _detect(tiny_model, str(image), "--json", str(out / "stdout"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _strict(done.stdout)[0]["frame"] == 0
    assert os.readlink(out / "stdout") == "/proc/self/fd/1"

    if os.geteuid() == 0:  # `--json /dev/null` as root: a private node with /dev/null's number
        null = out / "null"
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        done = _detect(tiny_model, str(image), "--json", str(null), "--save", str(out / "s"),
                       cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert stat.S_ISCHR(null.lstat().st_mode)
    expected = ["pipe.json", "stdout", *(["null", "s"] if os.geteuid() == 0 else [])]
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    assert tree_digest(raw) == before


def test_a_folder_as_json_is_refused_before_any_frame(tiny_model, raw, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    before = tree_digest(raw)
    done = _detect(tiny_model, str(raw / "images"), "--json", str(folder), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "is a folder" in done.stderr
    assert list(folder.iterdir()) == [] and tree_digest(raw) == before
    # a FIFO where the --save folder goes: refused as the option is read
    os.mkfifo(tmp_path / "fifo")
    done = _detect(tiny_model, str(raw / "images"), "--save", str(tmp_path / "fifo"), cwd=tmp_path)
    assert done.returncode == 2 and "is not a folder" in done.stderr
    assert stat.S_ISFIFO((tmp_path / "fifo").lstat().st_mode)


def test_list_entries_never_write_outside_save(tiny_model, raw, tmp_path):
    images = _images(raw)
    d = tmp_path / "d"
    (d / "a").mkdir(parents=True)
    (d / "b").mkdir()
    shutil.copy(images[0], d / "a" / "x.jpg")
    shutil.copy(images[1], d / "b" / "y.jpg")
    victim = tmp_path / "b" / "y.jpg"  # where `save/../b/y.jpg` would land
    victim.parent.mkdir()
    victim.write_text("a user's file")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{d}/a/x.jpg\n{d}/a/../b/y.jpg\n{d}/b/y.jpg\n{images[2]}\n")
    before = {"raw": tree_digest(raw), "d": tree_digest(d), "list": listing.read_bytes()}
    save = tmp_path / "save"
    done = _detect(tiny_model, str(listing), "--save", str(save), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "a user's file"
    written = sorted(str(p.relative_to(save)) for p in save.rglob("*") if p.is_file())
    assert len(written) == 4 and len(set(written)) == 4, written
    assert all(not part.startswith("..") for name in written for part in Path(name).parts)
    assert before == {"raw": tree_digest(raw), "d": tree_digest(d), "list": listing.read_bytes()}

    # a link inside --save that leads out: refused before any frame
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.rmtree(save)
    save.mkdir()
    (save / "d").symlink_to(outside)
    done = _detect(tiny_model, str(listing), "--save", str(save), cwd=tmp_path)
    assert done.returncode == 1 and "outside" in done.stderr
    assert list(outside.iterdir()) == []


def _nan_copy(weights: Path, out: Path) -> Path:
    header = read_header(weights)
    data = bytearray(weights.read_bytes())
    body = np.frombuffer(data, dtype="<f4", offset=header.size)
    body[:] = np.nan
    out.write_bytes(bytes(data))
    return out


def test_non_finite_weights_are_refused_by_every_loader(tiny_model, raw, tmp_path):
    weights = _nan_copy(tiny_model.weights, tmp_path / "diverged.weights")
    image = _images(raw)[0]
    commands = {
        "detect": ["detect", str(image), "--weights", str(weights), "--cfg", str(tiny_model.cfg)],
        "export": ["export", "--cfg", str(tiny_model.cfg), "--weights", str(weights),
                   "--out-file", str(tmp_path / "m.onnx")],
        "map": ["map", "--data", str(tiny_model.data), "--weights", str(weights), "--cfg",
                str(tiny_model.cfg), "--engine", "opencv", "--out", str(tmp_path / "map")],
    }  # fmt: skip
    for name, args in commands.items():
        done = subprocess.run([*YOF, *args], capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, (name, done.stderr)
        assert "not finite numbers" in done.stderr and "layer 0" in done.stderr, done.stderr
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "map").exists()


def _exploding_copy(model: TinyModel, out: Path) -> Path:
    """Finite weights whose [yolo] heads give infinite box sizes (exp of a huge tw) with a sure
    objectness: what a diverging model's last saves look like to the decoder."""
    sections = read_cfg(model.cfg)
    counts = layer_param_counts(sections)
    header = read_header(model.weights)
    data = bytearray(model.weights.read_bytes())
    body = np.frombuffer(data, dtype="<f4", offset=header.size)
    starts = np.cumsum([0, *counts])
    for head in yolo_heads(sections):
        conv = head - 2  # index in counts of the [convolutional] before the head
        stride = int(sections[head].get("classes")) + 5
        biases = body[starts[conv] : starts[conv] + int(sections[head - 1].get("filters"))]
        biases[2::stride] = 1e30  # tw: exp(1e30) = inf
        biases[4::stride] = 30.0  # objectness 1
    out.write_bytes(bytes(data))
    return out


def test_non_finite_boxes_are_dropped_and_counted(tiny_model, raw, tmp_path):
    weights = _exploding_copy(tiny_model, tmp_path / "exploding.weights")
    before = tree_digest(raw)
    out = tmp_path / "d.json"
    done = subprocess.run(
        [*YOF, "detect", str(raw / "images"), "--weights", str(weights), "--cfg",
         str(tiny_model.cfg), "--json", str(out), "--save", str(tmp_path / "save")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = _strict(out.read_text())
    assert len(records) == len(list((raw / "images").glob("*.jpg")))
    for record in records:
        for det in record["detections"]:
            assert all(np.isfinite(det["box"])) and np.isfinite(det["score"])
    assert "note: dropped" in done.stderr and "NaN or infinite" in done.stderr
    assert tree_digest(raw) == before


def _video(path: Path, image: Path, frames: int) -> Path:
    picture = cv2.resize(cv2.imread(str(image)), (96, 96))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (96, 96))
    for index in range(frames):
        writer.write(np.roll(picture, index % 96, axis=1))
    writer.release()
    return path


def test_sigterm_leaves_partial_outputs_under_partial_names(tiny_model, raw, tmp_path):
    video = _video(raw / "clip.avi", _images(raw)[0], 4000)
    before = tree_digest(raw)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [*YOF, "detect", str(video), "--cfg", str(tiny_model.cfg), "--weights",
         str(tiny_model.weights), "--save", str(out), "--json", str(out / "d.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        temporaries = list(out.glob(".d.*.partial.json")) if out.is_dir() else []
        if temporaries and temporaries[0].stat().st_size > 2000:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "partial" in stderr and "d.partial.json" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["clip.partial.avi", "d.partial.json"]
    records = _strict((out / "d.partial.json").read_text())
    assert [r["frame"] for r in records] == list(range(len(records)))
    assert cv2.VideoCapture(str(out / "clip.partial.avi")).isOpened()
    assert tree_digest(raw) == before


def _run_folder(model: TinyModel, root: Path) -> tuple[Path, Path]:
    """A run folder as `train` leaves it: its cfg, network.json and weights."""
    run = root / "runs" / "trained"
    (run / "weights").mkdir(parents=True)
    cfg = run / "yolov3-tiny.cfg"
    shutil.copy(model.cfg, cfg)
    write_network_record(run, cfg, read_cfg(cfg))
    weights = run / "weights" / "yolov3-tiny_final.weights"
    shutil.copy(model.weights, weights)
    shutil.copy(model.names, run / "obj.names")
    return cfg, weights


def test_another_cfg_with_a_runs_weights_is_refused(tiny_model, raw, tmp_path):
    cfg, weights = _run_folder(tiny_model, tmp_path)
    sections = read_cfg(cfg)
    for index in yolo_heads(sections):  # the template's anchors: same layers, other anchors
        sections[index].options["anchors"] = "10,14,  23,27,  37,58,  81,82,  135,169,  344,319"
    template = tmp_path / "template.cfg"
    template.write_text(dump_cfg(sections))
    image = _images(raw)[0]
    for args in (
        ["detect", str(image)],
        ["export", "--out-file", str(tmp_path / "m.onnx")],
    ):
        done = subprocess.run(
            [*YOF, *args, "--cfg", str(template), "--weights", str(weights)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert "anchors" in done.stderr and f"Give --cfg {cfg}" in done.stderr
    # another network size only: allowed, with a note
    sections = read_cfg(cfg)
    sections[0].options["width"] = sections[0].options["height"] = "128"
    bigger = tmp_path / "bigger.cfg"
    bigger.write_text(dump_cfg(sections))
    done = subprocess.run(
        [*YOF, "detect", str(image), "--cfg", str(bigger), "--weights", str(weights)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "note:" in done.stderr and "trained at 96x96" in done.stderr


def test_swapped_cfg_and_weights_say_so(tiny_model, raw, tmp_path):
    image = _images(raw)[0]
    for args in (
        ["detect", str(image)],
        ["export", "--out-file", str(tmp_path / "m.onnx")],
    ):
        done = subprocess.run(
            [*YOF, *args, "--cfg", str(tiny_model.weights), "--weights", str(tiny_model.cfg)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 1 and "swapped?" in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1


def test_a_missing_camera_is_one_line_without_opencv_noise(tiny_model, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    done = _detect(tiny_model, "97", "--json", str(tmp_path / "d.json"), cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith("error: camera 97: cannot be opened")
    assert list(tmp_path.iterdir()) == [], "a run that detected nothing leaves no output"
