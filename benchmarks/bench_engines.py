"""Engines side by side: ``yof-darknet benchmark`` (yof_darknet/workflows/benchmark/) on the paper's
7-class yolov3-tiny at 416 and 320, every engine installed here (OpenCV DNN, ONNX Runtime fp32
and int8, int8 with sleeping threads, OpenVINO when installed, CUDA/TensorRT with a GPU), the
measured fp32 and int8 GEMM peaks of this CPU, and 1, 2 and 4 concurrent streams.

With the trained sample model of `make reproduce` (runs/sample) present, it is the one timed,
and its mAP on the sample's test set is in the table (int8 calibrated on the training list);
otherwise weights are random (batch norm calibrated on the frames: speed does not depend on
what the weights learned) and the table has no mAP.

The table, its JSON and its plot are written to runs/bench-engines/. The figures to read on a
busy machine are the CPU milliseconds per frame and the ratios by CPU time; the wall-clock ones
hold for a quiet machine (the table's header says how busy it was).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from yof_darknet.core.expressions import CLASSES
from yof_darknet.infer.weightsfile import write_random_weights
from yof_darknet.training.profiles import generate_cfg
from yof_darknet.workflows.benchmark.options import BenchmarkOptions
from yof_darknet.workflows.benchmark.report import render_markdown
from yof_darknet.workflows.benchmark.run import run_benchmark, timing_frames

SAMPLE_RUN = Path("runs/sample")
SAMPLE_DATA = Path("data/sample-darknet/obj.data")
OUT = Path("runs/bench-engines")


def main() -> None:
    weights = SAMPLE_RUN / "weights" / "yolov3-tiny_final.weights"
    cfg = SAMPLE_RUN / "yolov3-tiny.cfg"
    with tempfile.TemporaryDirectory(prefix="yof-bench-engines-") as tmp:
        data = None
        if weights.is_file() and cfg.is_file() and SAMPLE_DATA.is_file():
            data = SAMPLE_DATA
        else:
            print(f"no trained sample model ({weights}): random weights, no mAP", flush=True)
            cfg, weights = Path(tmp) / "yolov3-tiny.cfg", Path(tmp) / "random.weights"
            cfg.write_text(
                generate_cfg(len(CLASSES), "paper", ["net.batch=1", "net.subdivisions=1"])
            )
            options = BenchmarkOptions(cfg, weights)
            write_random_weights(cfg, weights, seed=0, calibrate=timing_frames(options)[0])
        options = BenchmarkOptions(cfg, weights, data, out=OUT)
        report = run_benchmark(options, echo=lambda line: print(line, flush=True))
    print(render_markdown(report), flush=True)
