"""The benchmark's outputs: one table (``benchmark.md``), the same as data (``benchmark.json``)
and a plot (``benchmark.png``), all from one :class:`Report` record."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from yof_darknet.core.fileio import atomic_write_text

HEADER = (
    "| engine | precision | size | end to end median (ms) | p95 (ms) | pre-process (ms) | "
    "forward (ms) | decode + NMS (ms) | FPS | CPU ms / frame | peak memory (MiB) | mAP@0.5 (%) "
    "| face AP (%) | forward / peak (wall) | forward / peak (CPU time) |"
)


@dataclass
class RowResult:
    engine: str  # the --engine name
    runs: str  # what runs it, in words
    precision: str
    size: int
    median_ms: float
    p95_ms: float
    pre_ms: float
    forward_ms: float
    post_ms: float
    fps: float
    cpu_ms: float  # CPU time per frame, end to end, all threads
    forward_cpu_ms: float
    memory_mib: float
    gmac: float  # multiply-accumulates of one forward pass, billions
    share_wall: float | None  # forward rate over the measured peak of its precision (wall)
    share_cpu: float | None  # the same per CPU-second
    others: float  # median share of the CPUs other processes used during its frames
    quiet_frames: int
    quiet_median_ms: float | None
    map: float | None = None  # 0..1
    face_ap: float | None = None
    notes: list[str] = field(default_factory=list)
    network: str = ""  # "": the Darknet model; "ultralytics": the --ultralytics export

    @property
    def label(self) -> str:
        """The row's engine, with the network when it is not the Darknet model."""
        return f"Ultralytics {self.engine}" if self.network == "ultralytics" else self.engine


@dataclass
class Report:
    model: dict[str, str]
    machine: str
    flags: list[str]
    threads: int
    date: str
    rounds: int
    frames: str  # what the timing frames were
    peaks: dict[str, dict[str, float]]  # precision -> {mac_per_cpu_s, mac_per_s, ceiling, size}
    load: dict[str, float]  # others' share during the timed rounds: median, max; load averages
    rows: list[RowResult]
    ratios: list[str]
    streams: list[dict[str, Any]] = field(default_factory=list)
    stream_row: str = ""
    notes: list[str] = field(default_factory=list)


def _cell(value: float | None, digits: int = 1, scale: float = 1.0) -> str:
    return "" if value is None else f"{value * scale:.{digits}f}"


def _share(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f} %"


def render_markdown(report: Report) -> str:
    peaks = "; ".join(
        f"{p} {v['mac_per_cpu_s'] / 1e9:.0f} GMAC/s per core ({v['ceiling'] / 1e9:.0f} with "
        f"{report.threads} threads; {v['mac_per_s'] / 1e9:.0f} measured by the clock)"
        for p, v in report.peaks.items()
    )
    load = report.load
    beside = report.model.get("ultralytics")
    lines = [
        f"# Benchmark: {Path(report.model['cfg']).name} + {Path(report.model['weights']).name}"
        + (f", beside Ultralytics {Path(beside).name}" if beside else ""),
        "",
        f"- machine: {report.machine}",
        f"- measured peaks (GEMM, ONNX Runtime's kernels): {peaks}",
        "- load during the timed rounds: other processes used a median "
        f"{100 * load['median']:.0f} % of the CPUs (max {100 * load['max']:.0f} %); load "
        f"average {load['before']:.2f} before, {load['after']:.2f} after",
        f"- {report.rounds} rounds, every row once per round in a rotating order; frames: "
        f"{report.frames}; {report.date}",
        "",
        HEADER,
        "|---|---|---:|" + "---:|" * 12,
    ]
    for r in report.rows:
        lines.append(
            f"| {r.label} | {r.precision} | {r.size} | {r.median_ms:.1f} | {r.p95_ms:.1f} | "
            f"{r.pre_ms:.2f} | {r.forward_ms:.1f} | {r.post_ms:.2f} | {r.fps:.1f} | "
            f"{r.cpu_ms:.1f} | {r.memory_mib:.0f} | {_cell(r.map, 2, 100)} | "
            f"{_cell(r.face_ap, 2, 100)} | {_share(r.share_wall)} | {_share(r.share_cpu)} |"
        )
    lines += ["", *[f"- {ratio}" for ratio in report.ratios]]
    if report.streams:
        lines += [
            "",
            f"Streams ({report.stream_row}; decoding, pre-processing and the network overlapped):",
            "",
            "| streams | network workers | frames | FPS together | CPU ms / frame | latency "
            "median (ms) | p95 (ms) | others' load |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in report.streams:
            lines.append(
                f"| {s['streams']} | {s['workers']} | {s['frames']} | {s['fps']:.1f} | "
                f"{s['cpu_ms']:.1f} | "
                f"{s['latency_ms']:.1f} | {s['latency_p95_ms']:.1f} | {100 * s['others']:.0f} % |"
            )
    notes = [f"{r.label}@{r.size}: {note}" for r in report.rows for note in r.notes]
    if notes or report.notes:
        lines += ["", *[f"Note: {n}" for n in [*report.notes, *notes]]]
    return "\n".join(lines) + "\n"


def write_report(report: Report, out: Path) -> list[Path]:
    """``benchmark.md``, ``benchmark.json`` and ``benchmark.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "benchmark.md", out / "benchmark.json"]
    atomic_write_text(written[0], render_markdown(report))
    atomic_write_text(written[1], json.dumps(asdict(report), indent=1) + "\n")
    written.append(plot(report, out / "benchmark.png"))
    return written


def plot(report: Report, path: Path) -> Path:
    """Median latency of each row split into its parts, the FPS at the end of each bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from yof_darknet.core.fileio import atomic_path

    labels = [f"{r.label} {r.size}" for r in report.rows]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.6))
    left = [0.0] * len(labels)
    for part, colour in (("pre_ms", "#8da0cb"), ("forward_ms", "#fc8d62"), ("post_ms", "#66c2a5")):
        values = [getattr(r, part) for r in report.rows]
        ax.barh(labels, values, left=left, color=colour,
                label={"pre_ms": "pre-process", "forward_ms": "forward",
                       "post_ms": "decode + NMS"}[part])  # fmt: skip
        left = [a + b for a, b in zip(left, values, strict=True)]
    for index, r in enumerate(report.rows):
        ax.text(left[index], index, f" {r.fps:.0f} FPS", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("median milliseconds per frame (parts)")
    ax.set_title(f"{report.machine.split(';')[0]}, {report.threads} thread(s), others' load "
                 f"{100 * report.load['median']:.0f} %", fontsize=9)  # fmt: skip
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
