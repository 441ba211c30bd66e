"""What the serve tests share: the tiny model exported fp32 and int8, a running server, the
sample's video as a fake camera, and Debian's Chromium."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.browser import Chromium, find_chromium, write_y4m
from tests.support.model import TinyModel
from tests.support.skips import NO_CHROMIUM
from yof_darknet.export.run import ExportOptions, export_model
from yof_darknet.samples.affwild2 import VIDEOS, write_sample_video
from yof_darknet.serve.options import ServeOptions
from yof_darknet.serve.run import Demo, start


@pytest.fixture(scope="session")
def exported(tiny_model: TinyModel, tmp_path_factory) -> dict[str, Path]:
    """The tiny model as `export` writes it: fp32, and int8 calibrated on its training list."""
    root = tmp_path_factory.mktemp("serve-models")
    fp32, int8 = root / "fp32.onnx", root / "int8.onnx"
    export_model(ExportOptions(tiny_model.cfg, tiny_model.weights, fp32))
    export_model(
        ExportOptions(tiny_model.cfg, tiny_model.weights, int8, int8=True,
                      calibrate=tiny_model.root / "train.txt", images=12)
    )  # fmt: skip
    return {"fp32": fp32, "int8": int8}


@pytest.fixture(scope="session")
def sample_frames(tmp_path_factory) -> list[np.ndarray]:
    """The frames of the embedded sample's first video (real faces moving over a background)."""
    path = tmp_path_factory.mktemp("serve-video") / f"{VIDEOS[0].stem}.avi"
    write_sample_video(VIDEOS[0], path, np.random.default_rng(0))
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    assert len(frames) == VIDEOS[0].frames
    return frames


@pytest.fixture(scope="session")
def fake_camera(sample_frames: list[np.ndarray], tmp_path_factory) -> Path:
    """The sample's video as the .y4m file Chromium's fake camera plays."""
    path = tmp_path_factory.mktemp("serve-camera") / "sample.y4m"
    return write_y4m(sample_frames, path, VIDEOS[0].fps)


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(NO_CHROMIUM)
    return path


@pytest.fixture(scope="module")
def serving() -> Iterator[Callable[..., Demo]]:
    """Start ``serve`` with the given options (port 0) in a thread; all stop at the end."""
    demos: list[Demo] = []

    def serve(**options) -> Demo:
        demo = start(ServeOptions(port=0, **options))
        threading.Thread(target=demo.server.serve_forever, daemon=True).start()
        demos.append(demo)
        return demo

    yield serve
    for demo in demos:
        demo.server.shutdown()
        demo.server.server_close()


@pytest.fixture(scope="module")
def browser(chromium: str, fake_camera: Path, tmp_path_factory) -> Iterator[Chromium]:
    """Headless Chromium whose one camera plays the sample's video."""
    with Chromium(
        tmp_path_factory.mktemp("profile"), fake_camera=fake_camera, executable=chromium
    ) as running:
        yield running
