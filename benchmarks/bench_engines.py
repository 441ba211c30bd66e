"""Engines side by side, end to end on 640x480 frames (Darknet pre-processing + forward + decode
+ NMS, model load excluded): OpenCV DNN's Darknet importer, ONNX Runtime fp32 and ONNX Runtime
int8 (static QDQ), the paper's 7-class yolov3-tiny at 416 and 320, batch 1.

Method (ratios are what to read; absolute numbers move with the machine's load): every round
runs every engine once in a rotating order, with a 100 ms pause before each timed run (a
spinning ONNX Runtime thread would otherwise bill the next engine); medians over the rounds.
The share of the CPUs that other processes used during each round comes from /proc/stat minus
this process's own CPU time: rounds where it stayed under 5 % are "quiet" and reported apart.
The forward pass is also given as a fraction of the fp32 roofline: 5.45 GFLOP per frame at 416
(scaled by the pixel count at 320) over ~157 GFLOP/s of peak fp32 on these 2 cores (AVX2 FMA).

Weights are random (batch norm calibrated on the frames): speed does not depend on what they
learned. With the trained sample model of `make reproduce` (runs/sample) present, the mAP of
int8 against fp32 on the sample's test set is printed too.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.bench_detect import IMAGE_WH, _images
from yof_darknet.darknet.profiles import generate_cfg
from yof_darknet.export.run import ExportOptions, export_model
from yof_darknet.expressions import CLASSES
from yof_darknet.formats.netinput import fill_input
from yof_darknet.infer.detector import Detector
from yof_darknet.infer.weightsfile import write_random_weights

SIZES = (416, 320)
ROUNDS = 40
PAUSE_S = 0.1
QUIET = 0.05
GFLOP_416 = 5.45
PEAK_GFLOPS = 157.0
SAMPLE_RUN = Path("runs/sample")
SAMPLE_DATA = Path("data/sample-darknet/obj.data")


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _timed(detector: Detector, image: np.ndarray) -> tuple[float, float]:
    """(seconds of one detect, share of the CPUs other processes used meanwhile)."""
    time.sleep(PAUSE_S)
    busy0, total0 = _cpu_jiffies()
    cpu0, t0 = time.process_time(), time.perf_counter()
    detector.detect(image, 0.25, 0.45)
    t1, cpu1 = time.perf_counter(), time.process_time()
    busy1, total1 = _cpu_jiffies()
    ticks = os.sysconf("SC_CLK_TCK")
    span = max(total1 - total0, 1) / ticks  # CPU-seconds that passed on all CPUs
    others = max((busy1 - busy0) / ticks - (cpu1 - cpu0), 0.0) / span
    return t1 - t0, min(others, 1.0)


def _pre_ms(images: list[np.ndarray], size: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of Darknet's pre-processing of one frame."""
    blob = np.empty((3, size, size), dtype=np.float32)
    wall, cpu = [], []
    for index in range(60):
        c0, t0 = time.process_time(), time.perf_counter()
        fill_input(images[index % len(images)], blob, letter_box=False)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def _engines(tmp: Path, size: int, images: list[np.ndarray], threads: int) -> dict[str, Detector]:
    cfg = tmp / f"yolov3-tiny-{size}.cfg"
    overrides = [f"net.width={size}", f"net.height={size}", "net.batch=1", "net.subdivisions=1"]
    cfg.write_text(generate_cfg(len(CLASSES), "paper", overrides))
    weights = tmp / "random.weights"
    if not weights.exists():
        write_random_weights(cfg, weights, seed=0, calibrate=images)
    listing = tmp / "frames.txt"
    int8 = tmp / f"int8-{size}.onnx"
    export_model(ExportOptions(cfg, weights, int8, names=list(CLASSES), int8=True,
                               calibrate=listing, images=len(images)))  # fmt: skip
    names = list(CLASSES)
    return {
        "opencv": Detector(cfg, weights, names, threads=threads, engine="opencv"),
        "ort fp32": Detector(cfg, weights, names, threads=threads, engine="ort"),
        "ort int8": Detector(model=int8, names=names, threads=threads),
    }


def _report(size: int, engines: dict[str, Detector], images: list[np.ndarray]) -> None:
    names = list(engines)
    for name in names:  # warm-up
        for image in images:
            engines[name].detect(image)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    quiet: dict[str, list[float]] = {n: [] for n in names}
    loads = []
    for round_index in range(ROUNDS):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        timings = {n: _timed(engines[n], images[round_index % len(images)]) for n in order}
        load = max(other for _, other in timings.values())
        loads.append(load)
        for n, (spent, _) in timings.items():
            seconds[n].append(spent)
            if load < QUIET:
                quiet[n].append(spent)
    gflop = GFLOP_416 * (size / 416) ** 2
    print(
        f"{size}x{size}: {ROUNDS} rounds, other processes used a median "
        f"{100 * statistics.median(loads):.0f} % of the CPUs (max {100 * max(loads):.0f} %), "
        f"{len(quiet[names[0]])} quiet round(s) (< {100 * QUIET:.0f} %)",
        flush=True,
    )
    for label, pool in (("all rounds", seconds), ("quiet rounds", quiet)):
        if not pool[names[0]]:
            continue
        medians = {n: statistics.median(pool[n]) for n in names}
        for n in names:
            ms = 1000 * medians[n]
            print(
                f"  {label:12s} {n:9s} {ms:6.1f} ms end to end = {1000 / ms:5.1f} FPS; "
                f"{gflop / medians[n] / PEAK_GFLOPS:.0%} of the fp32 roofline "
                f"(whole frame: an upper bound of the forward's share)",
                flush=True,
            )
        print(
            f"  {label:12s} ort int8 is {medians['opencv'] / medians['ort int8']:.2f}x and "
            f"ort fp32 {medians['opencv'] / medians['ort fp32']:.2f}x OpenCV DNN",
            flush=True,
        )


def _sample_map() -> None:
    weights = SAMPLE_RUN / "weights" / "yolov3-tiny_final.weights"
    cfg = SAMPLE_RUN / "yolov3-tiny.cfg"
    if not (weights.is_file() and cfg.is_file() and SAMPLE_DATA.is_file()):
        print(f"int8 mAP: no trained sample model ({weights}); run `make reproduce` first")
        return
    from yof_darknet.evaluate.options import MapOptions
    from yof_darknet.evaluate.run import run_map
    from yof_darknet.formats.objdata import read_obj_data

    with tempfile.TemporaryDirectory(prefix="yof-bench-int8-") as tmp:
        int8 = Path(tmp) / "int8.onnx"
        train = read_obj_data(SAMPLE_DATA).train
        export_model(ExportOptions(cfg, weights, int8, int8=True, calibrate=train))
        fp32 = run_map(MapOptions(data=SAMPLE_DATA, weights=weights, cfg=cfg, engine="onnx"))
        quant = run_map(MapOptions(data=SAMPLE_DATA, engine="onnx", model=int8))
    a, b = fp32.table.combined.map, quant.table.combined.map
    print(
        f"sample test set mAP@0.5: fp32 {100 * a:.2f}, int8 {100 * b:.2f}, "
        f"change {100 * (b - a):+.2f} points",
        flush=True,
    )


def main() -> None:
    threads = len(os.sched_getaffinity(0))
    images = _images()
    print(f"{threads} thread(s); frames {IMAGE_WH[0]}x{IMAGE_WH[1]}", flush=True)
    with tempfile.TemporaryDirectory(prefix="yof-bench-engines-") as tmp:
        folder = Path(tmp)
        paths = []
        for index, image in enumerate(images):
            paths.append(folder / f"frame_{index}.png")
            cv2.imwrite(str(paths[-1]), image)
        (folder / "frames.txt").write_text("".join(f"{p}\n" for p in paths))
        for size in SIZES:
            wall, cpu = _pre_ms(images, size)
            print(f"pre-process {IMAGE_WH[0]}x{IMAGE_WH[1]} -> {size} (Darknet's resize, exact): "
                  f"{wall:.2f} ms wall, {cpu:.2f} ms CPU", flush=True)  # fmt: skip
            _report(size, _engines(folder, size, images, threads), images)
    _sample_map()
