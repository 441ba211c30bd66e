"""The browser demo's frame rate (`yof-darknet serve`): the paper's 7-class yolov3-tiny at 416,
fp32 and int8, run by ONNX Runtime Web (WebAssembly, SIMD, 1 and 2 threads) in Debian's headless
Chromium on its fake camera (the embedded sample's faces at 640x480), beside `detect`'s own
pipeline (ONNX Runtime, same threads) on the same frames.

Per configuration: the page loads the model, the camera runs 4 s to warm up, then frames are
counted for MEASURE_S seconds (FPS: frames processed per second, every step included: canvas
read-back, Darknet's resize in JavaScript, the network, decoding, NMS, drawing); the page's
median milliseconds per step over its last 100 frames are printed beside. WebGPU is not measured:
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
from yof_darknet.darknet.profiles import generate_cfg
from yof_darknet.datasets.sample_affwild2 import VIDEOS, write_sample_video
from yof_darknet.export.run import ExportOptions, export_model
from yof_darknet.expressions import CLASSES
from yof_darknet.infer.detector import Detector
from yof_darknet.infer.weightsfile import write_random_weights
from yof_darknet.serve.options import ServeOptions
from yof_darknet.serve.run import start

SIZE = 416
FRAME_WH = (640, 480)
WARM_S = 4.0
MEASURE_S = 12.0
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


def _browser_fps(browser: Chromium, url: str) -> tuple[float, dict, dict]:
    browser.allow_camera(url.split("?")[0])
    page = browser.new_page()
    page.goto(url)
    page.wait_for("window.yofPage && ['ready', 'error'].includes(yofPage.state())", timeout=180)
    backend = page.evaluate("yofPage.backend()")
    if page.evaluate("yofPage.state()") != "ready":
        raise RuntimeError(page.evaluate("document.getElementById('error').textContent"))
    page.send("Page.bringToFront")
    page.evaluate("document.getElementById('camera-start').click()")
    page.wait_for("yofPage.frames() > 0", timeout=60)
    time.sleep(WARM_S)
    first, started = page.evaluate("yofPage.frames()"), time.monotonic()
    time.sleep(MEASURE_S)
    frames, seconds = page.evaluate("yofPage.frames()") - first, time.monotonic() - started
    stats = page.evaluate("yofPage.stats()")
    page.evaluate("yofPage.stop()")
    page.send("Page.close")
    return frames / seconds, stats, backend


def _python_fps(model: Path, frames: list[np.ndarray], threads: int) -> float:
    detector = Detector(model=model, threads=threads)
    for frame in frames[:3]:
        detector.detect(frame)
    times = []
    for frame in frames * 2:
        started = time.perf_counter()
        detector.detect(frame)
        times.append(time.perf_counter() - started)
    return 1.0 / statistics.median(times)


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
                        fps, stats, backend = _browser_fps(browser, url)
                        python = _python_fps(model, frames, threads)
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
