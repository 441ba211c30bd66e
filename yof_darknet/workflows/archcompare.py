"""``yof-darknet compare-archs``: one row per ``--arch``, is YOLOv3-tiny "complex enough"?

Each row: parameters (floats in the weights file), BFLOPs at the network size (as AlexeyAB's
darknet prints them), CPU frames per second of each engine on one 640x480 frame of real faces
(median over ``rounds``; every architecture and engine timed in one loop, interleaved frame by
frame, so a busy machine slows them alike) and, when the architecture's run exists
(``runs/<run>/<arch>_final.weights``, named as ``train`` names it) and ``data`` is given, its
mAP by ``map --engine opencv`` on that test list. Without a trained model the timing runs on
random weights of the right shape (speed does not depend on the values)::

    rows = compare_archs(ArchCompareOptions(size=416, runs=Path("runs"), profile="sample"))
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from yof_darknet.core.engines import NETWORK_ENGINES, OPENCV
from yof_darknet.core.fileio import atomic_write_text
from yof_darknet.training.archs import ARCH_NAMES, get_arch

ENGINES = NETWORK_ENGINES
Echo = Callable[[str], None]


@dataclass(frozen=True)
class ArchCompareOptions:
    archs: tuple[str, ...] = ARCH_NAMES
    size: int = 416  # network width and height the BFLOPs and the timing are at
    classes: int = 7
    runs: Path = Path("runs")
    profile: str = "sample"  # the runs looked for: runs/<profile>[-<arch>]
    data: Path | None = None  # obj.data whose test list scores the trained runs
    rounds: int = 20
    threads: int | None = None
    out: Path = Path("runs/compare-archs")


@dataclass
class ArchRow:
    arch: str
    params: int
    bflops: float
    fps: dict[str, float] = field(default_factory=dict)  # engine -> frames per second
    weights: str | None = None  # the trained model timed and scored (None: random weights)
    map: float | None = None  # 0..1, on the test list of ``data``


def _model(arch: str, options: ArchCompareOptions, scratch: Path) -> tuple[Path, Path, bool]:
    """The run's cfg and final weights when trained, else a generated cfg and random weights."""
    from yof_darknet.infer.weightsfile import write_random_weights
    from yof_darknet.training.options import TrainOptions
    from yof_darknet.training.profiles import generate_cfg

    run = options.runs / TrainOptions(profile=options.profile, arch=arch).run_name
    spec = get_arch(arch)
    cfg, weights = run / spec.cfg_name, run / "weights" / spec.final_weights
    if cfg.is_file() and weights.is_file():
        return cfg, weights, True
    scratch.mkdir(parents=True, exist_ok=True)
    cfg = scratch / spec.cfg_name
    cfg.write_text(generate_cfg(options.classes, "paper", arch=arch))
    weights = scratch / spec.final_weights
    write_random_weights(cfg, weights, seed=0)
    return cfg, weights, False


def compare_archs(options: ArchCompareOptions, echo: Echo = print) -> list[ArchRow]:
    """Measure every architecture; write ``compare-archs.md`` and ``.json`` into ``out``."""
    from yof_darknet.evaluate.options import MapOptions
    from yof_darknet.evaluate.run import run_map
    from yof_darknet.formats.cfg import apply_setting, read_cfg
    from yof_darknet.formats.weights import layer_param_counts, network_bflops
    from yof_darknet.infer.detector import Detector
    from yof_darknet.workflows.compare import compose_frame, face_photos

    frame = compose_frame(1, face_photos())
    rows: list[ArchRow] = []
    detectors: dict[tuple[str, str], Detector] = {}
    with tempfile.TemporaryDirectory(prefix="yof-archs-") as scratch:
        for arch in options.archs:
            cfg, weights, trained = _model(arch, options, Path(scratch) / arch)
            sections = read_cfg(cfg)
            apply_setting(sections, "width", str(options.size))
            apply_setting(sections, "height", str(options.size))
            row = ArchRow(
                arch,
                sum(layer_param_counts(sections)),
                round(network_bflops(sections), 3),
                weights=str(weights) if trained else None,
            )
            if trained and options.data is not None:
                echo(f"compare-archs: scoring {arch} ({weights}) with OpenCV DNN")
                request = MapOptions(
                    data=options.data, weights=weights, cfg=cfg, engine=OPENCV,
                    out=Path(scratch) / "map",
                )  # fmt: skip
                row.map = run_map(request).table.combined.map
            for engine in ENGINES:
                detectors[arch, engine] = Detector(
                    cfg, weights, size=options.size, threads=options.threads, engine=engine
                )
            rows.append(row)
        echo(
            f"compare-archs: timing {len(rows)} architectures x {len(ENGINES)} engines at "
            f"{options.size}x{options.size}, interleaved, {options.rounds} rounds"
        )
        seconds: dict[tuple[str, str], list[float]] = {key: [] for key in detectors}
        for round_index in range(options.rounds + 2):  # two warm-up rounds
            for key, detector in detectors.items():
                started = time.perf_counter()
                detector.detect(frame, 0.25, 0.45)
                if round_index >= 2:
                    seconds[key].append(time.perf_counter() - started)
    for row in rows:
        row.fps = {e: round(1 / statistics.median(seconds[row.arch, e]), 2) for e in ENGINES}
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare-archs.md", render_archs(rows, options))
    record = {
        "options": {k: str(v) for k, v in asdict(replace(options)).items()},
        "rows": [asdict(row) for row in rows],
    }
    atomic_write_text(out / "compare-archs.json", json.dumps(record, indent=1) + "\n")
    return rows


def render_archs(rows: list[ArchRow], options: ArchCompareOptions) -> str:
    """The markdown table, one row per architecture."""
    lines = [
        f"| arch | parameters | BFLOPs at {options.size} | "
        + " | ".join(f"{e} FPS (CPU)" for e in ENGINES)
        + " | mAP@0.50 | model |",
        "|---|---:|---:|" + "---:|" * len(ENGINES) + "---:|---|",
    ]
    for row in rows:
        score = "" if row.map is None else f"{100 * row.map:.2f} %"
        model = row.weights or "random weights (not trained here)"
        fps = " | ".join(f"{row.fps[e]:.1f}" for e in ENGINES)
        lines.append(
            f"| {row.arch} | {row.params:,} | {row.bflops:.3f} | {fps} | {score} | {model} |"
        )
    return "\n".join(lines) + "\n"
