"""Detection speed: frames per second of ``Detector.detect`` (darknet pre-processing, ONNX
Runtime fp32 forward, decode, NMS; model load excluded) at 416 and 320 with the paper's 7-class
yolov3-tiny, and the ratio to Debian darknet's own ``detector test`` on the same images.

Weights are random (the right size; batch norm calibrated on the images so the activations and
the number of boxes are realistic): speed does not depend on what the weights learned.
Both programs get the same number of threads (the CPUs this process may run on).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from yof_darknet.core.expressions import CLASSES
from yof_darknet.infer.detector import Detector
from yof_darknet.infer.weightsfile import write_random_weights
from yof_darknet.tools.cluster import available_cpus
from yof_darknet.tools.netinput import darknet_input
from yof_darknet.training.profiles import generate_cfg

SIZES = (416, 320)
WARMUP = 5
RUNS = 50
DARKNET_RUNS = 4  # images per darknet process; the first is dropped as warm-up
IMAGE_WH = (640, 480)
_PREDICTED = re.compile(r"Predicted in ([0-9.]+) seconds")


def _images(count: int = 4) -> list[np.ndarray]:
    """Camera-sized test pictures: a gradient background with a few filled shapes."""
    rng = np.random.default_rng(0)
    width, height = IMAGE_WH
    images = []
    for _ in range(count):
        ramp = np.linspace(40, 220, width, dtype=np.float32)[None, :, None]
        image = np.broadcast_to(ramp, (height, width, 3)) + rng.normal(0, 8, (height, width, 3))
        image = image.clip(0, 255).astype(np.uint8)
        for _ in range(3):
            x, y = int(rng.integers(40, width - 140)), int(rng.integers(40, height - 140))
            colour = tuple(int(c) for c in rng.integers(0, 255, 3))
            cv2.circle(image, (x + 50, y + 50), int(rng.integers(25, 60)), colour, -1)
        images.append(image)
    return images


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bench_ours(cfg: Path, weights: Path, size: int, images: list[np.ndarray], threads: int):
    detector = Detector(cfg, weights, list(CLASSES), size=size, threads=threads, engine="ort")
    for index in range(WARMUP):
        detector.detect(images[index % len(images)])
    total, cpu, pre, forward, post = [], [], [], [], []
    for index in range(RUNS):
        image = images[index % len(images)]
        t0 = time.perf_counter()
        darknet_input(image, size, size, letter_box=False)
        t1 = time.perf_counter()
        rows, placement = detector.forward(image)
        t2 = time.perf_counter()
        detector.decode(rows, placement, IMAGE_WH, 0.25, 0.45)
        t3, c3 = time.perf_counter(), time.process_time()
        detector.detect(image, 0.25, 0.45)
        t4, c4 = time.perf_counter(), time.process_time()
        cpu.append(c4 - c3)
        pre.append(t1 - t0)
        forward.append((t2 - t1) - (t1 - t0))  # forward() pre-processes too
        post.append(t3 - t2)
        total.append(t4 - t3)
    median = _median_ms(total)
    print(
        f"detect {size}x{size}: {1000 / median:.1f} FPS (median {median:.1f} ms of {RUNS}: "
        f"pre-process {_median_ms(pre):.1f}, forward {_median_ms(forward):.1f}, "
        f"decode+NMS {_median_ms(post):.2f}), {threads} thread(s), {detector.backend}; "
        f"CPU time {_median_ms(cpu):.1f} ms/frame",
        flush=True,
    )
    return median


def bench_darknet(darknet: str, cfg: Path, weights: Path, paths: list[Path], threads: int):
    """Median ``Predicted in`` seconds of darknet ``detector test`` (ms), or None."""
    work = cfg.parent
    names = work / "obj.names"
    names.write_text("\n".join(CLASSES) + "\n")
    data = work / "obj.data"
    data.write_text(f"classes={len(CLASSES)}\nnames={names}\n")
    glyphs = Path("/usr/share/darknet/data/labels")
    if glyphs.is_dir() and not (work / "data" / "labels").exists():
        (work / "data").mkdir(exist_ok=True)
        (work / "data" / "labels").symlink_to(glyphs)
    # no image argument: darknet reads paths from stdin and loads the network once;
    # -out makes it write predictions.png instead of opening a window.
    listing = "".join(f"{paths[i % len(paths)]}\n" for i in range(DARKNET_RUNS))
    done = subprocess.run(
        [darknet, "detector", "test", str(data), str(cfg), str(weights), "-out", "predictions"],
        input=listing,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": str(threads)},
    )
    seconds = [float(s) for s in _PREDICTED.findall(done.stdout + done.stderr)]
    if len(seconds) < 2:
        print(f"darknet detector test failed (rc {done.returncode}): {done.stderr[-300:]}")
        return None
    return _median_ms(seconds[1:])


def main() -> None:
    threads = available_cpus()
    darknet = shutil.which("darknet")
    images = _images()
    # other processes on the same cores slow both programs down: say how busy the machine was.
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)", flush=True)
    with tempfile.TemporaryDirectory(prefix="yof-bench-detect-") as tmp:
        paths = []
        for index, image in enumerate(images):
            path = Path(tmp) / f"frame_{index}.jpg"
            cv2.imwrite(str(path), image)
            paths.append(path)
        weights = Path(tmp) / "random.weights"
        for size in SIZES:
            cfg = Path(tmp) / f"yolov3-tiny-{size}.cfg"
            overrides = [f"net.width={size}", f"net.height={size}", "net.batch=1"]
            cfg.write_text(generate_cfg(len(CLASSES), "paper", [*overrides, "net.subdivisions=1"]))
            if not weights.exists():
                write_random_weights(cfg, weights, seed=0, calibrate=images)
            ours = bench_ours(cfg, weights, size, images, threads)
            if darknet is None:
                print("darknet not installed: no ratio (apt-get install darknet)")
                continue
            theirs = bench_darknet(darknet, cfg, weights, paths, threads)
            if theirs is not None:
                print(
                    f"darknet detector test {size}x{size}: {1000 / theirs:.2f} FPS (median "
                    f"{theirs:.0f} ms, 'Predicted in', network only); detect is "
                    f"{theirs / ours:.1f}x faster",
                    flush=True,
                )
