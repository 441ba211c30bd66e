"""``yof-darknet benchmark``: every engine x precision x size in one table, timed in one run.

    report = run_benchmark(BenchmarkOptions(cfg=Path("yolov3-tiny.cfg"),
                                            weights=Path("yolov3-tiny_final.weights")))

Steps: the machine's peaks (:mod:`.peaks`); the models of each size (:mod:`.rows`); every row
loaded and warmed up (its peak memory read meanwhile); the timed rounds, interleaved
(:mod:`.timing`); mAP on ``--data``'s test list (:mod:`.accuracy`); the stream test
(:mod:`.throughput`); the outputs (:mod:`.report`). With ``--ultralytics`` the same engines
also run an Ultralytics export, at its own size, in the same interleaved rounds.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from yof_darknet.core.errors import BenchmarkError
from yof_darknet.workflows.benchmark.machine import this_machine
from yof_darknet.workflows.benchmark.options import BenchmarkOptions
from yof_darknet.workflows.benchmark.peaks import measure_peaks
from yof_darknet.workflows.benchmark.report import Report, RowResult, write_report
from yof_darknet.workflows.benchmark.rows import (
    Row,
    chosen_engines,
    conv_macs,
    export_models,
    make_row,
    measure_memory,
    ultralytics_models,
)
from yof_darknet.workflows.benchmark.timing import summarize, time_rows, warm_up

Echo = Callable[[str], None]
TIMING_FRAMES = 8


def timing_frames(options: BenchmarkOptions) -> tuple[list[np.ndarray], str]:
    """Frames to time on: the first images of ``--data``'s test list, else 640x480 frames of
    1 to 3 real face photos; and what they are, in words."""
    import cv2

    if options.data is not None:
        from yof_darknet.evaluate.run import load_test_set

        images = []
        for path in load_test_set(options.data).images[: 4 * TIMING_FRAMES]:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                images.append(image)
            if len(images) == TIMING_FRAMES:
                break
        if images:
            sides = sorted({f"{i.shape[1]}x{i.shape[0]}" for i in images})
            return images, f"{len(images)} test images of {options.data} ({', '.join(sides[:3])})"
    from yof_darknet.workflows.compare import compose_frame, face_photos

    photos = face_photos()
    frames = [compose_frame(1 + i % 3, photos) for i in range(TIMING_FRAMES)]
    return frames, f"{TIMING_FRAMES} 640x480 frames of 1-3 real face photos"


def _calibration(options: BenchmarkOptions, frames: list[np.ndarray], folder: Path) -> Path:
    """The int8 calibration list: ``--calibrate``, ``--data``'s train list, or the frames."""
    import cv2

    if options.calibrate is not None:
        return options.calibrate
    if options.data is not None:
        from yof_darknet.formats.objdata import read_obj_data

        train = read_obj_data(options.data).train
        if train is not None and Path(train).is_file():
            return Path(train)
    paths = []
    for index, frame in enumerate(frames):
        paths.append(folder / f"frame_{index}.png")
        cv2.imwrite(str(paths[-1]), frame)
    listing = folder / "frames.txt"
    listing.write_text("".join(f"{p}\n" for p in paths))
    return listing


def _ratios(rows: list[RowResult]) -> list[str]:
    """int8 (and fp32) ONNX Runtime against OpenCV DNN, at each size, by the clock and by CPU
    time per frame (the one to read on a busy machine)."""
    by = {(r.engine, r.size): r for r in rows if not r.network}
    lines = []
    for size in sorted({r.size for r in rows}, reverse=True):
        base = by.get(("opencv", size))
        for name in ("ort-int8", "ort-fp32", "openvino-int8"):
            row = by.get((name, size))
            if base is None or row is None:
                continue
            lines.append(
                f"{size}: {name} is {base.median_ms / row.median_ms:.2f}x OpenCV DNN end to end "
                f"by the clock, {base.cpu_ms / row.cpu_ms:.2f}x by CPU time per frame"
            )
    return lines


def run_benchmark(options: BenchmarkOptions, echo: Echo = print) -> Report:
    """Measure every row; write ``benchmark.{md,json,png}`` into ``options.out``."""
    sizes = options.size_list
    engines = chosen_engines(options.engines)
    if not engines:
        raise BenchmarkError("no engine can run here; see yof-darknet doctor")
    threads = options.threads or len(os.sched_getaffinity(0))
    machine = this_machine(threads)
    echo(f"benchmark: {machine.describe()}")
    echo(f"benchmark: measuring the fp32 and int8 GEMM peaks with {threads} thread(s)")
    peaks = measure_peaks(threads)
    frames, described = timing_frames(options)
    out = Path(options.out)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="yof-bench-") as tmp:
        calibrate = _calibration(options, frames, Path(tmp))
        rows: list[Row] = []
        for size in sizes:
            models = export_models(options, size, calibrate, any("int8" in e for e in engines),
                                   echo)  # fmt: skip
            macs = conv_macs(models["fp32"])
            for name in engines:
                row = make_row(name, size, models, options, threads)
                row.macs = macs
                row.memory_mib = measure_memory(name, size, models, options, threads, frames[0])
                warm_up(row, frames)
                rows.append(row)
        if options.ultralytics is not None:
            rows += _ultralytics_rows(options, engines, calibrate, threads, frames, notes, echo)
        load_before = os.getloadavg()[0]
        echo(f"benchmark: timing {len(rows)} rows x {options.rounds} rounds, interleaved")
        samples = time_rows(rows, frames, options.rounds, options.pause_ms / 1000)
        load_after = os.getloadavg()[0]
        results = [_result(row, summarize(samples[row.key]), peaks) for row in rows]
        if options.data is not None:
            from yof_darknet.workflows.benchmark.accuracy import score_rows

            scores = score_rows(rows, options.data, options.cfg, options.weights, echo)
            for row, result in zip(rows, results, strict=True):
                score = scores[row.key]
                result.map, result.face_ap = score.map, score.face_ap
                result.notes += [f"mAP: {score.note}"] if score.note else []
        streams, stream_row = _streams(options, rows, frames, echo, out)
    others = [o for row in rows for o in samples[row.key].others]
    report = Report(
        model={"cfg": str(options.cfg), "weights": str(options.weights),
               "data": str(options.data) if options.data else "",
               **({"ultralytics": str(options.ultralytics)} if options.ultralytics else {})},
        machine=machine.describe(), flags=list(machine.flags), threads=threads,
        date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        rounds=options.rounds, frames=described,
        peaks={p: {"mac_per_cpu_s": v.mac_per_cpu_s, "mac_per_s": v.mac_per_s,
                   "ceiling": v.ceiling, "size": v.size} for p, v in peaks.items()},
        load={"median": statistics.median(others), "max": max(others),
              "before": load_before, "after": load_after},
        rows=results, ratios=_ratios(results), streams=streams, stream_row=stream_row,
        notes=notes,
    )  # fmt: skip
    for path in write_report(report, out):
        echo(f"benchmark: wrote {path}")
    return report


def _ultralytics_rows(
    options: BenchmarkOptions, engines: list[str], calibrate: Path, threads: int,
    frames: list[np.ndarray], notes: list[str], echo: Echo,
) -> list[Row]:  # fmt: skip
    """The rows of ``--ultralytics``: each engine on the export (int8: quantized here); an
    engine that cannot run it is a note, not a failure."""
    import cv2

    from yof_darknet.core.errors import InferenceError

    models, failed = ultralytics_models(options, calibrate, any("int8" in e for e in engines),
                                        echo)  # fmt: skip
    notes += [f"Ultralytics {options.ultralytics}: {n}" for n in failed]
    macs = conv_macs(models["fp32"])
    rows = []
    for name in engines:
        if "int8" in name and "int8" not in models:
            continue
        try:
            row = make_row(name, 0, models, options, threads, network="ultralytics")
            row.memory_mib = measure_memory(name, 0, models, options, threads, frames[0],
                                            "ultralytics")  # fmt: skip
            warm_up(row, frames)
        except (InferenceError, BenchmarkError, cv2.error) as exc:
            echo(f"benchmark: Ultralytics {name}: not measured: {exc}")
            notes.append(f"Ultralytics {name}: not measured: {str(exc).strip()}")
            continue
        row.macs = macs
        rows.append(row)
    return rows


def _result(row: Row, s, peaks) -> RowResult:
    peak = peaks.get(row.precision)
    cpu_bound = row.detector.backend == "cpu"
    share_wall = row.macs / s.parts["forward"] / peak.mac_per_s if peak and cpu_bound else None
    share_cpu = (
        row.macs / s.forward_cpu / peak.mac_per_cpu_s
        if peak and cpu_bound and s.forward_cpu > 0
        else None
    )
    return RowResult(
        engine=row.name, runs=row.engine, precision=row.precision, size=row.size,
        median_ms=1000 * s.total, p95_ms=1000 * s.p95, pre_ms=1000 * s.parts["pre"],
        forward_ms=1000 * s.parts["forward"], post_ms=1000 * s.parts["post"],
        fps=1 / s.total, cpu_ms=1000 * s.cpu, forward_cpu_ms=1000 * s.forward_cpu,
        memory_mib=row.memory_mib, gmac=row.macs / 1e9, share_wall=share_wall,
        share_cpu=share_cpu, others=s.others, quiet_frames=s.quiet_frames,
        quiet_median_ms=None if s.quiet_total is None else 1000 * s.quiet_total,
        notes=list(row.notes), network=row.network,
    )  # fmt: skip


def _streams(
    options: BenchmarkOptions, rows: list[Row], frames: list[np.ndarray], echo: Echo, out: Path
) -> tuple[list[dict], str]:
    from dataclasses import asdict

    from yof_darknet.workflows.benchmark.throughput import measure_streams, write_clip

    counts = options.stream_counts
    if not counts:
        return [], ""
    cpu_rows = [r for r in rows if r.detector.backend == "cpu" and not r.network]
    row = next((r for r in cpu_rows if r.name == "ort-int8"), cpu_rows[0] if cpu_rows else rows[0])
    video = options.video or write_clip(frames, options.stream_frames, out / "stream-clip.avi")
    echo(f"benchmark: {', '.join(map(str, counts))} stream(s) of {video} through {row.key}")
    threads = options.threads or len(os.sched_getaffinity(0))
    results = measure_streams(row, video, counts, options.stream_frames, threads)
    return [asdict(r) for r in results], f"{row.name} at {row.size}, {video.name}"
