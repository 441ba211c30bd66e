"""This CPU's measured multiply-accumulate peaks, fp32 and int8, the ceiling a network's speed
is compared with.

A peak is a calibrated GEMM: a square matrix product large enough to keep the vector units
busy (K >= 512, so the kernel's inner loop dominates), run by ONNX Runtime's own kernels
(MLAS), the ones its convolutions use: ``MatMul`` for fp32 (FMA), ``MatMulInteger`` u8 x s8 for
int8 (VNNI ``vpdpbusd`` where the CPU has it, else ``vpmaddubsw`` pairs). Sizes 512 and 1024 are
each run several times; the best rate counts.

Each peak has two forms: per CPU-second (multiply-accumulates over this process's CPU time, one
core's rate: other processes on the machine barely change it) times the engine threads is the
ceiling of those threads on a quiet machine; per wall-second with those threads is the same
measured by the clock, and equals it only when nothing else runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from yof_darknet.workflows.benchmark.machine import LoadMeter

SIZES = (512, 1024)
REPEATS = 5
PRECISIONS = ("fp32", "int8")


@dataclass(frozen=True)
class Peak:
    precision: str
    mac_per_cpu_s: float  # multiply-accumulates per CPU-second (one core's rate)
    mac_per_s: float  # per wall-second with ``threads`` threads
    threads: int
    size: int  # the matrix side that gave the best rate
    others: float  # share of the CPUs other processes used during the best run

    @property
    def ceiling(self) -> float:
        """MAC per second ``threads`` cores reach at this rate, nothing else running."""
        return self.mac_per_cpu_s * self.threads


def _session(precision: str, side: int, threads: int):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    op, a_type, b_type, c_type = {
        "fp32": ("MatMul", TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.FLOAT),
        "int8": ("MatMulInteger", TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32),
    }[precision]
    graph = helper.make_graph(
        [helper.make_node(op, ["a", "b"], ["c"])],
        f"gemm_{precision}",
        [helper.make_tensor_value_info("a", a_type, [side, side]),
         helper.make_tensor_value_info("b", b_type, [side, side])],
        [helper.make_tensor_value_info("c", c_type, [side, side])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # a spinning thread bills CPU time while it waits: sleeping ones give the kernel's rate
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _operands(precision: str, side: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    if precision == "fp32":
        return {
            "a": rng.standard_normal((side, side), dtype=np.float32),
            "b": rng.standard_normal((side, side), dtype=np.float32),
        }
    return {
        "a": rng.integers(0, 256, (side, side), dtype=np.uint8),
        "b": rng.integers(-128, 128, (side, side), dtype=np.int8),
    }


def measure_peak(precision: str, threads: int, repeats: int = REPEATS) -> Peak:
    """The best GEMM rate of ``precision`` with ``threads`` threads over :data:`SIZES`."""
    best = Peak(precision, 0.0, 0.0, threads, 0, 0.0)
    for side in SIZES:
        session, feeds = _session(precision, side, threads), _operands(precision, side)
        session.run(None, feeds)  # warm-up: packing buffers, thread pool
        calls = max(1, int(1e9 // side**3))  # ~1 G MAC per timed span
        for _ in range(repeats):
            meter = LoadMeter()
            for _ in range(calls):
                session.run(None, feeds)
            wall, cpu, others = meter.stop()
            macs = float(side) ** 3 * calls
            per_cpu = macs / cpu if cpu > 0 else 0.0
            if per_cpu > best.mac_per_cpu_s:
                best = Peak(precision, per_cpu, max(best.mac_per_s, macs / wall), threads, side,
                            others)  # fmt: skip
            else:
                best = Peak(best.precision, best.mac_per_cpu_s, max(best.mac_per_s, macs / wall),
                            threads, best.size, best.others)  # fmt: skip
        time.sleep(0.05)
    return best


def measure_peaks(threads: int, repeats: int = REPEATS) -> dict[str, Peak]:
    """{precision: :class:`Peak`} for fp32 and int8."""
    return {p: measure_peak(p, threads, repeats) for p in PRECISIONS}
