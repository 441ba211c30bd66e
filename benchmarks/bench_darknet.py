"""Darknet stage: k-means anchors on 100,000 boxes, log parsing rate, `partial` on 35 MB."""

from __future__ import annotations

import struct
import tempfile
import time
from pathlib import Path

import numpy as np

from yof_darknet.formats.cfg import read_cfg
from yof_darknet.formats.trainlog import LineSplitter, records
from yof_darknet.formats.weights import partial, weights_bytes
from yof_darknet.training.anchors import kmeans_anchors, mean_best_iou
from yof_darknet.training.profiles import TEMPLATE, generate_cfg

BOXES = 100_000
LOG_COPIES = 50
SAMPLE_LOG = (
    "Loaded: 0.000152 seconds\n"
    "Region 16 Avg IOU: 0.385639, Class: 0.856012, Obj: 0.499776, No Obj: 0.390943, .5R: 0.0, "
    ".75R: 0.0,  count: 2\n"
    "{i}: 82.260246, 82.260246 avg, 0.000000 rate, 3.454959 seconds, 8 images\n"
)


def bench_anchors() -> None:
    rng = np.random.default_rng(0)
    boxes = np.exp(rng.normal(np.log(60), 0.5, size=(BOXES, 2))).clip(4, 416)
    start = time.perf_counter()
    anchors = kmeans_anchors(boxes, 6, restarts=10)
    seconds = time.perf_counter() - start
    print(
        f"k-means anchors: {BOXES} boxes, 6 anchors, 10 restarts: {seconds:.2f} s "
        f"(mean IoU {mean_best_iou(boxes, anchors):.4f})"
    )


def bench_logs() -> None:
    text = "".join(SAMPLE_LOG.format(i=i) for i in range(1, 1000 * LOG_COPIES + 1))
    start = time.perf_counter()
    splitter = LineSplitter()
    lines = []
    for offset in range(0, len(text), 4096):
        lines += splitter.feed(text[offset : offset + 4096])
    rows = list(records(lines + splitter.close()))
    seconds = time.perf_counter() - start
    print(
        f"training log parsing: {len(lines)} lines ({len(rows)} iterations) in {seconds:.2f} s "
        f"= {len(lines) / seconds:,.0f} lines/s"
    )


def bench_partial() -> None:
    with tempfile.TemporaryDirectory() as folder:
        cfg = Path(folder) / "coco.cfg"
        cfg.write_text(generate_cfg(80, "paper"))
        full = Path(folder) / "full.weights"
        full.write_bytes(struct.pack("<3iQ", 0, 2, 0, 0) + bytes(weights_bytes(read_cfg(cfg))))
        size = full.stat().st_size
        start = time.perf_counter()
        partial(TEMPLATE, full, Path(folder) / "conv.15", 15)
        seconds = time.perf_counter() - start
    print(f"partial: first 15 layers of a {size:,} B weights file in {seconds:.3f} s")


def main() -> None:
    bench_anchors()
    bench_logs()
    bench_partial()
