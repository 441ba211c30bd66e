"""The browser demo's frame rate (`yof-darknet serve`): the paper's 7-class yolov3-tiny at 416,
fp32 and int8, run by ONNX Runtime Web (WebAssembly, SIMD, 1 and 2 threads) in Debian's headless
Chromium on its fake camera (the embedded sample's faces at 640x480), beside `detect`'s own
pipeline (ONNX Runtime, same threads) on the same frames.

Per configuration: the page loads the model and the camera runs WARM_S seconds; then ROUNDS
windows of WINDOW_S seconds alternate between the page (FPS: frames processed per second, every
step included: canvas read-back, the resize (ONNX Runtime Web), the network, decoding, NMS,
drawing) and `detect`'s pipeline (the page's camera stopped meanwhile), so that both see the
same load; medians over the rounds, and the page's median milliseconds per step over its last
100 frames. On a shared machine read the ratio, not the absolute rates. WebGPU is not measured:
a headless Chromium here has no GPU (SwiftShader's is a CPU emulation, far slower than WASM).
Weights are random (batch norm calibrated on the frames): speed does not depend on what they
learned. Needs chromium (apt-get install chromium) and `make setup`'s ONNX Runtime Web.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from tests.support.browser import Chromium, find_chromium, write_y4m
from yof_darknet.core.expressions import CLASSES
from yof_darknet.export.run import ExportOptions, export_model
from yof_darknet.infer.detector import Detector
from yof_darknet.infer.weightsfile import write_random_weights
from yof_darknet.samples.affwild2 import VIDEOS, write_sample_video
from yof_darknet.serve.options import ServeOptions
from yof_darknet.serve.run import start
from yof_darknet.training.profiles import generate_cfg

SIZE = 416
FRAME_WH = (640, 480)
WARM_S = 3.0
WINDOW_S = 4.0
ROUNDS = 3
THREADS = (1, 2)


def _frames(tmp: Path) -> list[np.ndarray]:
    video = tmp / "sample.avi"
    write_sample_video(VIDEOS[0], video, np.random.default_rng(0))
    capture = cv2.VideoCapture(str(video))
    frames = []
    while (read := capture.read())[0]:
        frames.append(cv2.resize(read[1], FRAME_WH, interpolation=cv2.INTER_LINEAR))
    return frames


def _models(tmp: Path, frames: list[np.ndarray]) -> dict[str, Path]:
    cfg = tmp / "yolov3-tiny.cfg"
    overrides = [f"net.width={SIZE}", f"net.height={SIZE}", "net.batch=1", "net.subdivisions=1"]
    cfg.write_text(generate_cfg(len(CLASSES), "paper", overrides))
    weights = tmp / "random.weights"
    write_random_weights(cfg, weights, seed=0, calibrate=frames[::4])
    listing = tmp / "frames.txt"
    paths = []
    for index, frame in enumerate(frames):
        paths.append(tmp / f"frame{index:02d}.png")
        cv2.imwrite(str(paths[-1]), frame)
    listing.write_text("".join(f"{p}\n" for p in paths))
    models = {"fp32": tmp / "fp32.onnx", "int8": tmp / "int8.onnx"}
    export_model(ExportOptions(cfg, weights, models["fp32"], names=list(CLASSES)))
    with contextlib.redirect_stdout(io.StringIO()):  # the calibrator's progress lines
        export_model(ExportOptions(cfg, weights, models["int8"], names=list(CLASSES), int8=True,
                                   calibrate=listing, images=len(frames)))  # fmt: skip
    return models


def _open(browser: Chromium, url: str):
    """A tab on ``url`` with the model loaded and the camera running."""
    browser.allow_camera(url.split("?")[0])
    page = browser.new_page()
    page.goto(url)
    page.wait_for("window.yofPage && ['ready', 'error'].includes(yofPage.state())", timeout=180)
    if page.evaluate("yofPage.state()") != "ready":
        raise RuntimeError(page.evaluate("document.getElementById('error').textContent"))
    page.send("Page.bringToFront")
    page.evaluate("document.getElementById('camera-start').click()")
    page.wait_for("yofPage.frames() > 0", timeout=60)
    time.sleep(WARM_S)
    return page


def _browser_window(page) -> float:
    """Frames the page processed per second over one window (the camera keeps running)."""
    first, started = page.evaluate("yofPage.frames()"), time.monotonic()
    time.sleep(WINDOW_S)
    return (page.evaluate("yofPage.frames()") - first) / (time.monotonic() - started)


def _python_window(detector: Detector, frames: list[np.ndarray]) -> float:
    """`detect`'s frames per second over one window, the browser's tab idle (camera stopped)."""
    count, started = 0, time.monotonic()
    while time.monotonic() - started < WINDOW_S:
        detector.detect(frames[count % len(frames)])
        count += 1
    return count / (time.monotonic() - started)


def _measure(browser: Chromium, url: str, model: Path, frames: list[np.ndarray], threads: int):
    """Median FPS of the page and of `detect` over ROUNDS alternating windows, the page's own
    median milliseconds per step, and its backend."""
    page = _open(browser, url)
    detector = Detector(model=model, threads=threads)
    detector.detect(frames[0])
    ours, theirs = [], []
    for _ in range(ROUNDS):
        ours.append(_browser_window(page))
        page.evaluate("yofPage.stop()")
        theirs.append(_python_window(detector, frames))
        page.evaluate("document.getElementById('camera-start').click()")
        page.wait_for("yofPage.frames() > 0")
        time.sleep(1.0)
    stats, backend = page.evaluate("yofPage.stats()"), page.evaluate("yofPage.backend()")
    page.evaluate("yofPage.stop()")
    page.send("Page.close")
    return statistics.median(ours), statistics.median(theirs), stats, backend


def main() -> None:
    chromium = find_chromium()
    if chromium is None:
        print("skipped: chromium is not installed (apt-get install chromium)")
        return
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as folder:
        tmp = Path(folder)
        frames = _frames(tmp)
        models = _models(tmp, frames)
        camera = write_y4m(frames, tmp / "camera.y4m", VIDEOS[0].fps)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)", flush=True)
        with Chromium(tmp / "profile", fake_camera=camera, executable=chromium) as browser:
            print(f"{browser.version}, yolov3-tiny {SIZE}x{SIZE}, camera {FRAME_WH[0]}x"
                  f"{FRAME_WH[1]} (the sample's faces)", flush=True)  # fmt: skip
            print("| model | threads | browser FPS | read + resize ms | network ms | "
                  "decode + NMS ms | detect (Python) FPS | browser / detect |")  # fmt: skip
            print("|---|---|---|---|---|---|---|---|")
            for precision, model in models.items():
                demo = start(ServeOptions(model=model, port=0))
                server = threading.Thread(target=demo.server.serve_forever, daemon=True)
                server.start()
                try:
                    for threads in THREADS:
                        url = f"{demo.server.url}?backend=wasm&threads={threads}"
                        fps, python, stats, backend = _measure(browser, url, model, frames, threads)
                        print(
                            f"| {precision} | {backend['threads']} | {fps:.1f} | "
                            f"{stats['pre_ms']:.1f} | {stats['run_ms']:.1f} | "
                            f"{stats['post_ms']:.1f} | {python:.1f} | {fps / python:.2f}x |",
                            flush=True,
                        )
                finally:
                    demo.server.shutdown()
                    demo.server.server_close()
        print(f"load average {os.getloadavg()[0]:.1f} at the end", flush=True)


if __name__ == "__main__":
    main()
