"""Engines side by side: ``yof-darknet benchmark`` (yof_darknet/workflows/benchmark/) on the paper's
7-class yolov3-tiny at 416 and 320, every engine installed here (OpenCV DNN, ONNX Runtime fp32
and int8, int8 with sleeping threads, OpenVINO when installed, CUDA/TensorRT with a GPU), the
measured fp32 and int8 GEMM peaks of this CPU, and 1, 2 and 4 concurrent streams.

With the trained sample model of `make reproduce` (runs/sample) present, it is the one timed,
and its mAP on the sample's test set is in the table (int8 calibrated on the training list),
also at the network size it was trained at (96): at 416 and 320 it sees its small drawn faces
blown up to sizes it never learned, so only its own size's mAP says what int8 costs.
Otherwise weights are random (batch norm calibrated on the frames: speed does not depend on
what the weights learned) and the table has no mAP.

The table, its JSON and its plot are written to runs/bench-engines/. The figures to read on a
busy machine are the CPU milliseconds per frame and the ratios by CPU time; the wall-clock ones
hold for a quiet machine (the table's header says how busy it was).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from yof_darknet.core.expressions import CLASSES
from yof_darknet.formats.cfg import net_int, read_cfg
from yof_darknet.infer.weightsfile import write_random_weights
from yof_darknet.training.profiles import generate_cfg
from yof_darknet.workflows.benchmark.options import BenchmarkOptions
from yof_darknet.workflows.benchmark.report import render_markdown
from yof_darknet.workflows.benchmark.run import run_benchmark, timing_frames

SAMPLE_RUN = Path("runs/sample")
SAMPLE_DATA = Path("data/sample-darknet/obj.data")
OUT = Path("runs/bench-engines")


def trained_size(cfg: Path) -> int:
    """The cfg's own network width (the size its weights were trained at)."""
    return net_int(read_cfg(cfg), "width", 416)


def main() -> None:
    weights = SAMPLE_RUN / "weights" / "yolov3-tiny_final.weights"
    cfg = SAMPLE_RUN / "yolov3-tiny.cfg"
    with tempfile.TemporaryDirectory(prefix="yof-bench-engines-") as tmp:
        data, sizes = None, "416,320"
        if weights.is_file() and cfg.is_file() and SAMPLE_DATA.is_file():
            data, sizes = SAMPLE_DATA, f"416,320,{trained_size(cfg)}"
        else:
            print(f"no trained sample model ({weights}): random weights, no mAP", flush=True)
            cfg, weights = Path(tmp) / "yolov3-tiny.cfg", Path(tmp) / "random.weights"
            cfg.write_text(
                generate_cfg(len(CLASSES), "paper", ["net.batch=1", "net.subdivisions=1"])
            )
            options = BenchmarkOptions(cfg, weights)
            write_random_weights(cfg, weights, seed=0, calibrate=timing_frames(options)[0])
        options = BenchmarkOptions(cfg, weights, data, sizes=sizes, out=OUT)
        report = run_benchmark(options, echo=lambda line: print(line, flush=True))
    print(render_markdown(report), flush=True)
