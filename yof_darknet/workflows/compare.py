"""``yof-darknet compare``: the single-stage detector and the two-stage cascade side by side.

Both are scored on the same test list by the same evaluator (``map --engine opencv`` for the
detector, ``evaluate-cascade`` for the cascade), and timed in one run on the same 640x480 frames
with 1 and with 5 real faces (the photos of ``assets/faces`` and matplotlib's
``grace_hopper.jpg``), the engines interleaved frame by frame so that a busy machine slows both
alike. ``compare_trained`` first trains both on one dataset (the embedded sample or the user's),
each step skipped when done: the detector with ``reproduce``'s stages (``runs/RUN``), the
classifier on crops of the same training images (``crops`` into ``DATA-crops``,
``train-classifier`` into ``runs/RUN-cascade``); the result goes to ``runs/RUN-compare``.
Where ``map`` records a class-agnostic face AP (``face_ap`` in table2.json), it is shown beside
the mAP of both. ``ultralytics``: an Ultralytics ONNX export (trained on the same converted data's
``ultralytics.yaml``) scored and timed as a third column, through the same detector code
(``map --engine ort``: its own letterbox and output layout, our thresholds, NMS and evaluator).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from yof_darknet.core.engines import OPENCV, ORT
from yof_darknet.core.errors import DarknetError
from yof_darknet.core.fileio import atomic_write_text

if TYPE_CHECKING:
    from yof_darknet.workflows.pipeline import ReproduceOptions

FRAME_WH = (640, 480)
FACE_COUNTS = (1, 5)
ASSETS = Path(__file__).resolve().parents[1] / "assets" / "faces"

Echo = Callable[[str], None]


@dataclass(frozen=True)
class CompareOptions:
    data: Path  # obj.data of the converted dataset (its test list is scored)
    detector_cfg: Path
    detector_weights: Path
    classifier_cfg: Path
    classifier_weights: Path
    out: Path = Path("runs/compare")
    rounds: int = 20  # timed frames per engine and face count
    threads: int | None = None
    ultralytics: Path | None = None  # an Ultralytics ONNX export: a third column


@dataclass
class CompareResult:
    ap: dict[str, dict[str, float]]  # engine -> class (and "mAP") -> AP
    accuracy: float  # the classifier on ground-truth faces
    ms: dict[str, dict[int, float]]  # engine -> faces in the frame -> median ms per frame
    found: dict[str, dict[int, int]]  # engine -> faces in the frame -> boxes found at 0.25
    backend: dict[str, str]
    written: list[Path] = field(default_factory=list)
    # engine -> class-agnostic face AP, where the evaluator records one (table2.json's face_ap)
    face_ap: dict[str, float | None] = field(default_factory=dict)


def face_photos() -> list[np.ndarray]:
    """The real face photos the timing frames are made of (BGR)."""
    import cv2
    from matplotlib import cbook

    paths = [
        *sorted(ASSETS.glob("*.jpg")),
        Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
    ]
    photos = [(p, cv2.imread(str(p), cv2.IMREAD_COLOR)) for p in paths]
    missing = [str(p) for p, photo in photos if photo is None]
    if missing:
        raise DarknetError(f"{missing[0]}: cannot read this face photo (reinstall the package)")
    return [photo for _, photo in photos if photo is not None]


def compose_frame(faces: int, photos: list[np.ndarray]) -> np.ndarray:
    """A grey 640x480 frame holding ``faces`` photos side by side (two rows for 5)."""
    import cv2

    width, height = FRAME_WH
    frame = np.full((height, width, 3), 96, np.uint8)
    rows = 1 if faces < 4 else 2
    per_row = -(-faces // rows)
    cell_w, cell_h = width // per_row, height // rows
    for index in range(faces):
        photo = photos[index % len(photos)]
        scale = min(cell_w / photo.shape[1], cell_h / photo.shape[0]) * 0.9
        size = (int(photo.shape[1] * scale), int(photo.shape[0] * scale))
        tile = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
        row, col = divmod(index, per_row)
        x = col * cell_w + (cell_w - size[0]) // 2
        y = row * cell_h + (cell_h - size[1]) // 2
        frame[y : y + size[1], x : x + size[0]] = tile
    return frame


def time_engines(engines: dict, frames: dict[int, np.ndarray], rounds: int) -> dict:
    """Median ms per frame of each engine on each frame, interleaved (two warm-up frames)."""
    seconds: dict[str, dict[int, list[float]]] = {e: {n: [] for n in frames} for e in engines}
    for round_index in range(rounds + 2):
        for faces, frame in frames.items():
            for name, engine in engines.items():
                started = time.perf_counter()
                engine.detect(frame, 0.25, 0.45)
                if round_index >= 2:
                    seconds[name][faces].append(time.perf_counter() - started)
    return {e: {n: statistics.median(s) * 1000 for n, s in v.items()} for e, v in seconds.items()}


def _aps(table) -> dict[str, float]:
    result = {c.name: c.ap for c in table.combined.classes}
    result["mAP"] = table.combined.map
    return result


def _face_ap(table) -> float | None:
    """The table's class-agnostic face AP, as ``map`` records it in table2.json."""
    from yof_darknet.evaluate.sidebyside import face_ap
    from yof_darknet.evaluate.table import to_json

    return face_ap(to_json(table))


def compare(options: CompareOptions, echo: Echo = print) -> CompareResult:
    """Score and time both engines; write ``compare.md`` and ``compare.json`` into ``out``."""
    from yof_darknet.evaluate.cascade import evaluate_cascade, write_cascade_outputs
    from yof_darknet.evaluate.options import MapOptions
    from yof_darknet.evaluate.run import MAP_THRESH, run_map, write_outputs
    from yof_darknet.infer.cascade import Cascade
    from yof_darknet.infer.detector import Detector

    out = Path(options.out)
    echo("compare: scoring the single-stage detector (OpenCV DNN, our evaluator)")
    single = run_map(
        MapOptions(
            data=options.data,
            weights=options.detector_weights,
            cfg=options.detector_cfg,
            engine=OPENCV,
            out=out / "single-stage",
        )
    )
    written = write_outputs(single, out / "single-stage")
    detector = Detector(options.detector_cfg, options.detector_weights, threads=options.threads)
    cascade = Cascade(options.classifier_cfg, options.classifier_weights, threads=options.threads)
    echo("compare: scoring the cascade (RetinaFace + classifier, our evaluator)")
    # scored like the detector, whose boxes `detector map` keeps down to 0.005
    scored = Cascade(
        options.classifier_cfg,
        options.classifier_weights,
        face_threshold=MAP_THRESH,
        threads=options.threads,
    )
    two = evaluate_cascade(options.data, scored)
    written += write_cascade_outputs(two, out / "cascade")
    tables = {"single-stage": single.table, "cascade": two.map.table}
    engines: dict[str, Detector | Cascade] = {"single-stage": detector, "cascade": cascade}
    if options.ultralytics is not None:
        echo(f"compare: scoring {options.ultralytics} (Ultralytics, ONNX Runtime, our evaluator)")
        other = run_map(
            MapOptions(
                data=options.data,
                engine=ORT,
                model=options.ultralytics,
                out=out / "ultralytics",
            )
        )
        written += write_outputs(other, out / "ultralytics")
        tables["ultralytics"] = other.table
        engines["ultralytics"] = Detector(model=options.ultralytics, threads=options.threads)
    photos = face_photos()
    frames = {n: compose_frame(n, photos) for n in FACE_COUNTS}
    echo(f"compare: timing {', '.join(engines)} on 640x480 frames with {FACE_COUNTS} faces")
    ms = time_engines(engines, frames, options.rounds)
    found = {  # distinct boxes: a box may be reported once per class above the threshold
        e: {n: len({d.xyxy for d in eng.detect(f, 0.25, 0.45)}) for n, f in frames.items()}
        for e, eng in engines.items()
    }
    result = CompareResult(
        ap={e: _aps(table) for e, table in tables.items()},
        accuracy=two.accuracy.accuracy,
        ms=ms,
        found=found,
        backend={e: eng.backend for e, eng in engines.items()},
        face_ap={e: _face_ap(table) for e, table in tables.items()},
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare.md", render_compare(result))
    record = {
        "ap": result.ap,
        "face_ap": result.face_ap,
        "face_accuracy": result.accuracy,
        "ms_per_frame": result.ms,
        "boxes_found_at_0.25": result.found,
        "backend": result.backend,
        "rounds": options.rounds,
    }
    atomic_write_text(out / "compare.json", json.dumps(record, indent=1) + "\n")
    result.written = [*written, out / "compare.md", out / "compare.json"]
    return result


COLUMNS = {"single-stage": "Single-stage", "cascade": "Cascade", "ultralytics": "Ultralytics"}


def render_compare(result: CompareResult) -> str:
    """The side-by-side table: AP per class and mAP, then frames per second; one column per
    engine compared (single-stage, cascade, and Ultralytics when given)."""
    engines = list(result.ap)
    heads = [COLUMNS.get(e, e) for e in engines]
    title = " vs ".join(
        ["Single-stage detector", "two-stage cascade", "Ultralytics"][: len(engines)]
    )
    lines = [
        f"## {title} (same test list, same evaluator)",
        "",
        "| Expression | " + " | ".join(f"{h} AP (%)" for h in heads) + " |",
        "|---|" + "---:|" * len(engines),
    ]
    for name in result.ap["single-stage"]:
        bold = "**" if name == "mAP" else ""
        cells = " | ".join(f"{result.ap[e].get(name, 0.0) * 100:.2f}" for e in engines)
        lines.append(f"| {bold}{name}{bold} | {cells} |")
    faces = [result.face_ap.get(e) for e in engines]
    if all(v is not None for v in faces):
        cells = " | ".join(f"{v * 100:.2f}" for v in faces if v is not None)
        lines.append(f"| face AP (any class) | {cells} |")
    lines += [
        "",
        f"Cascade classifier alone, on the ground-truth faces: {result.accuracy * 100:.2f} % "
        "correct.",
        "",
        "| 640x480 frame | " + " | ".join(f"{h} FPS (ms)" for h in heads) + " |",
        "|---|" + "---:|" * len(engines),
    ]
    for count in result.ms["single-stage"]:
        timings = [
            f"{1000 / result.ms[e][count]:.1f} ({result.ms[e][count]:.1f} ms, "
            f"{result.found[e][count]} found)"
            for e in engines
        ]
        lines.append(f"| {count} face(s) | " + " | ".join(timings) + " |")
    backends = ", ".join(f"{e}: {b}" for e, b in result.backend.items())
    lines += ["", f"Median of the timed frames, engines interleaved; backends: {backends}."]
    return "\n".join(lines) + "\n"


def classifier_profile(detector_profile: str, given: str | None = None) -> str:
    """The classifier profile that goes with a detector profile: ``given``, else the one of
    the same name (``sample``, ``cpu``, ``paper``)."""
    from yof_darknet.training.classifier import CLASSIFIER_PROFILES

    name = given or detector_profile
    if name not in CLASSIFIER_PROFILES:
        known = ", ".join(sorted(CLASSIFIER_PROFILES))
        raise DarknetError(
            f"no classifier profile {name!r} goes with the detector profile "
            f"{detector_profile!r}; choose one with --classifier-profile ({known})"
        )
    return name


def _classifier(
    crops: Path,
    run_dir: Path,
    profile: str,
    settings: tuple[str, ...],
    darknet: Path | None,
    echo: Echo,
) -> tuple[Path, Path]:
    """Train the classifier in ``run_dir`` (resumed; skipped when finished): cfg, weights."""
    from yof_darknet.formats.weights import finished_message
    from yof_darknet.tools.darknet import find_darknet
    from yof_darknet.training.classifier import CFG_NAME, classifier_darknet, train_classifier
    from yof_darknet.training.train import newest_weights

    cfg = run_dir / CFG_NAME
    weights = newest_weights(run_dir / "weights") if (run_dir / "weights").is_dir() else None
    if weights is not None and finished_message(weights, cfg) is not None:
        echo(f"classifier: {weights} already trained")
        return cfg, weights
    echo(f"classifier: {'resuming' if weights else 'training'} {run_dir} (profile {profile})")
    trained = train_classifier(
        crops,
        profile=profile,
        name=run_dir.name,
        runs_dir=run_dir.parent,
        resume=weights is not None,
        overrides=settings,
        darknet=classifier_darknet(find_darknet(darknet), echo),
    )
    if trained.interrupted or trained.weights is None:
        raise DarknetError(f"{run_dir}: training did not finish; run the same command to resume")
    echo(f"classifier: {trained.iterations} iterations, {trained.weights}")
    return cfg, trained.weights


def compare_trained(
    opts: ReproduceOptions,
    *,
    classifier: str | None = None,
    classifier_settings: tuple[str, ...] = (),
    rounds: int = 20,
    out: Path | None = None,
    ultralytics: Path | None = None,
    echo: Echo = print,
) -> CompareResult:
    """Train both on ``opts``'s dataset (each step skipped when done), then :func:`compare`
    into ``out`` (default ``runs/RUN-compare``). ``classifier``: the classifier profile
    (default: the detector profile's namesake), ``classifier_settings`` its ``--set``s."""
    from yof_darknet.datasets.crops import write_crops
    from yof_darknet.workflows.pipeline import prepare

    started = time.monotonic()
    profile = classifier_profile(opts.profile, classifier)  # refused before any training
    detector = prepare(opts, echo)
    crops = Path(f"{opts.data_dir}-crops")
    summary = write_crops(detector.obj_data, crops)
    echo(f"crops: {summary.crops} in {crops}")
    run_dir = detector.run_dir.with_name(f"{detector.run_dir.name}-cascade")
    cfg, weights = _classifier(crops, run_dir, profile, classifier_settings, opts.darknet, echo)
    result = compare(
        CompareOptions(
            detector.obj_data,
            detector.cfg,
            detector.weights,
            cfg,
            weights,
            out or detector.run_dir.with_name(f"{detector.run_dir.name}-compare"),
            rounds,
            ultralytics=ultralytics,
        ),
        echo,
    )
    echo(f"compare: {(time.monotonic() - started) / 60:.1f} minutes in all")
    return result
