"""``yof-darknet detect``: run the detector on a source and send the results to the window, the
annotated copies and the JSON lines the user asked for."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from yof_darknet.core.errors import InferenceError
from yof_darknet.core.fileio import (
    FILE,
    check_output_file,
    check_output_folder,
    protected,
)
from yof_darknet.core.owned import output_lock
from yof_darknet.formats.imagefiles import read_image
from yof_darknet.infer.cascade import Cascade, parse_cascade
from yof_darknet.infer.detector import Detection, Detector
from yof_darknet.infer.draw import draw_detections, draw_fps
from yof_darknet.infer.options import DetectOptions
from yof_darknet.infer.outputs import (
    JsonLines,
    VideoSink,
    frame_record,
    save_image,
    saved_names,
)
from yof_darknet.infer.smooth import Smoother, merge_faces
from yof_darknet.infer.sources import Source, display_problem, resolve_source
from yof_darknet.infer.temporal import TemporalOptions
from yof_darknet.infer.timeline import TrackLog, write_timelines
from yof_darknet.infer.tracker import Tracker
from yof_darknet.infer.video import open_capture, stream_detections, stream_fps
from yof_darknet.tools.cluster import sigterm_interrupts

WINDOW = "yof-darknet detect"
_QUIT_KEYS = (ord("q"), ord("Q"), 27)


def model_paths(options: DetectOptions) -> list[Path]:
    """The model files of this run: ``--cfg``/``--weights``, or the two of ``--cascade``."""
    if options.cascade is not None:
        return list(parse_cascade(options.cascade))
    return [p for p in (options.cfg, options.weights, options.model) if p is not None]


def make_detector(options: DetectOptions) -> Detector | Cascade:
    """The single-stage detector of ``--cfg``/``--weights``, or the cascade of ``--cascade``."""
    if options.cascade is not None:
        cfg, weights = parse_cascade(options.cascade)
        return Cascade(
            cfg, weights, options.names, threads=options.threads, engine=options.engine,
            device=options.device,
        )  # fmt: skip
    return Detector(
        options.cfg,
        options.weights,
        options.names,
        size=options.size,
        threads=options.threads,
        engine=options.engine,
        model=options.model,
        device=options.device,
        spinning=not options.no_spin,
    )


@dataclass
class DetectSummary:
    frames: int = 0
    detections: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    saved: list[Path] = field(default_factory=list)
    backend: str = "cpu"
    engine: str = "ort"
    video_fps: float | None = None
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM (q in the window is an end)
    partial: list[Path] = field(default_factory=list)  # outputs left unfinished by the stop
    nonfinite: int = 0  # boxes dropped for NaN/inf numbers (a broken model)
    notes: list[str] = field(default_factory=list)  # about the model (another network size)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class _Rate:
    """Frames per second over the last frames (an EMA of the frame interval)."""

    def __init__(self) -> None:
        self._last: float | None = None
        self._interval: float | None = None

    def tick(self) -> float:
        now = time.perf_counter()
        if self._last is not None:
            step = now - self._last
            self._interval = step if self._interval is None else 0.9 * self._interval + 0.1 * step
        self._last = now
        return 1.0 / self._interval if self._interval else 0.0


def _annotate(image: np.ndarray, detections: list[Detection], tracks: Sequence[int] | None) -> None:
    labels = None
    if tracks is not None:
        labels = [f"#{t} {d.name} {d.score:.2f}" for t, d in zip(tracks, detections, strict=True)]
    draw_detections(image, detections, labels)


def temporal_model(options: DetectOptions) -> TemporalOptions:
    """The model of ``--temporal`` (``--smooth``: ema) with its parameters."""
    name = options.temporal or ("ema" if options.smooth else "none")
    return TemporalOptions(name, options.smooth_alpha, options.sigma, options.box, options.penalty)


def _check(options: DetectOptions, source: Source, model: TemporalOptions) -> None:
    if options.show and (problem := display_problem()):
        raise InferenceError(problem)
    if source.kind == "images" and (options.timeline or not model.causal):
        raise InferenceError(
            f"{source.name}: --timeline and --temporal {model.model} need a video (a file, a "
            "camera or a stream), not images"
        )
    if source.kind == "live" and not model.causal:
        raise InferenceError(
            f"--temporal {model.model} looks at later frames, which a camera or stream does not "
            "have yet; use --temporal ema (causal) live, or record a video file first"
        )


def run_detect(options: DetectOptions) -> DetectSummary:
    """Run ``detect`` as the CLI describes and count what it did.

    No output may replace an input (an image, the video, the weights, cfg or names), be written
    outside the folder given, or be a folder where a file goes: such a run is refused before the
    first detection. Each output is held by this run alone (``owned.output_lock``). Ctrl-C or
    SIGTERM stops it with its unfinished outputs under ``.partial`` names
    (``summary.interrupted``).
    """
    models = model_paths(options)  # first: a missing --cfg/--weights is the first error
    source = resolve_source(options.source)
    model = temporal_model(options)
    _check(options, source, model)
    inputs = [*models, options.names, source.path, *source.images]
    with protected(*inputs):
        for folder in (options.save, options.timeline):
            if folder is not None:
                check_output_folder(folder)
        json_kind = None
        if options.json not in (None, "-"):
            json_kind = check_output_file(options.json)
        names = _save_targets(source, options)
        for target in names or _video_targets(source, options):
            check_output_file(target)
        with contextlib.ExitStack() as held, sigterm_interrupts():
            for folder in (options.save, options.timeline):
                if folder is not None:
                    held.enter_context(output_lock(folder))
            if json_kind == FILE and options.json is not None:
                held.enter_context(output_lock(Path(options.json), folder=False))
            return _run(source, options, model, names)


def _save_targets(source: Source, options: DetectOptions) -> list[Path]:
    """Where ``--save`` puts each image (index-aligned with ``source.images``)."""
    if options.save is None or source.kind != "images":
        return []
    return saved_names(source.images, source.root, options.save)


def _video_targets(source: Source, options: DetectOptions) -> list[Path]:
    if options.save is None or source.kind == "images":
        return []
    name = _video_name(source)
    return [options.save / name, options.save / Path(name).with_suffix(".mp4")]


def _video_name(source: Source) -> str:
    if source.path is not None:
        return source.path.name
    return f"{source.name}.mp4" if source.camera is not None else "stream.mp4"


def _run(
    source: Source, options: DetectOptions, model: TemporalOptions, save_names: list[Path]
) -> DetectSummary:
    detector = make_detector(options)
    summary = DetectSummary(backend=detector.backend, engine=detector.description)
    summary.notes = list(getattr(detector, "notes", []))
    log = TrackLog() if options.timeline or not model.causal else None
    started = time.perf_counter()
    replay = None
    if not model.causal:
        assert log is not None
        _track_video(source, detector, options, log, summary)
        log.relabel(model)
        replay = _Replay(log, detector.names)
    smoother = None
    if replay is None and (model.model != "none" or log is not None):
        alpha = model.alpha if model.model == "ema" else 1.0
        smoother = Smoother(detector.names, alpha)
    json_out = JsonLines(options.json) if options.json else None
    frames = (
        _image_frames(source, detector, options, summary, save_names)
        if source.kind == "images"
        else _stream_frames(source, replay or detector, options, summary)
    )
    failed = False
    try:
        for name, index, image, detections in frames:
            tracks = None
            if replay is not None:
                tracks = replay.tracks[index]
            elif smoother is not None:
                tracked = smoother.update(detections)
                if log is not None:
                    for track in tracked:
                        log.add(
                            track.track_id, index, track.xyxy, track.raw, track.detection.class_id
                        )
                if model.model != "none":
                    tracks = [t.track_id for t in tracked]
                    detections = [t.detection for t in tracked]
            summary.frames += 1
            summary.detections += len(detections)
            if json_out is not None:
                height, width = image.shape[:2]
                json_out.write(frame_record(name, index, detections, (width, height), tracks))
            _annotate(image, detections, tracks)
    except KeyboardInterrupt:
        summary.interrupted = True
    except BaseException:
        failed = True
        raise
    finally:
        frames.close()
        summary.seconds = time.perf_counter() - started
        summary.nonfinite = getattr(detector, "nonfinite", 0)
        if json_out is not None:
            left = json_out.close(complete=not (summary.interrupted or failed))
            summary.partial += [left] if left is not None else []
        if options.show:
            cv2.destroyAllWindows()
    if summary.interrupted:
        return summary
    if options.timeline is not None and log is not None:
        stem = Path(source.name).stem if source.path is not None else source.name
        fps = summary.video_fps or 30.0
        summary.saved += write_timelines(log, options.timeline, stem, fps, detector.names)
    return summary


def _track_video(
    source: Source,
    detector: Detector | Cascade,
    options: DetectOptions,
    log: TrackLog,
    summary: DetectSummary,
) -> None:
    """First pass of an offline model: detect and track every frame of the video into ``log``."""
    capture = open_capture(source)
    tracker = Tracker()
    try:
        summary.video_fps = stream_fps(capture)
        for frame in stream_detections(
            capture, detector, live=False, thresh=options.thresh, nms=options.nms
        ):
            faces = merge_faces(frame.detections, len(detector.names))
            for track_id, face in tracker.update(faces):
                log.add(track_id, frame.index, face.xyxy, face.scores)
    finally:
        capture.release()


class _Replay:
    """The second pass of an offline model: per frame, the tracked faces with their smoothed
    labels, served through the detector's ``detect`` so the video is drawn, saved and written
    exactly as in one pass (a video file is read in order and never drops a frame)."""

    def __init__(self, log: TrackLog, names: Sequence[str]) -> None:
        self.names = list(names)
        self.detections: dict[int, list[Detection]] = {}
        self.tracks: dict[int, list[int]] = {}
        for track_id, rows in sorted(log.tracks.items()):
            for frame, box, probs, label in zip(
                rows.frames, rows.boxes, rows.probs, rows.labels, strict=True
            ):
                detection = Detection(label, self.names[label], float(probs[label]), box, probs)
                self.detections.setdefault(frame, []).append(detection)
                self.tracks.setdefault(frame, []).append(track_id)
        self._next = 0

    def detect(self, image: np.ndarray, thresh: float, nms: float) -> list[Detection]:
        frame, self._next = self._next, self._next + 1
        self.tracks.setdefault(frame, [])
        return self.detections.get(frame, [])

    def detect_batch(
        self, images: Sequence[np.ndarray], thresh: float, nms: float
    ) -> list[list[Detection]]:
        return [self.detect(image, thresh, nms) for image in images]


def _show(image: np.ndarray, wait_ms: int) -> bool:
    """Show ``image``; False when the user pressed q/Esc or closed the window."""
    cv2.imshow(WINDOW, image)
    key = cv2.waitKey(wait_ms) & 0xFF
    closed = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
    return key not in _QUIT_KEYS and not closed


def _image_frames(
    source: Source,
    detector: Detector | Cascade,
    options: DetectOptions,
    summary: DetectSummary,
    save_names: list[Path],
) -> Generator[tuple[str, int, np.ndarray, list[Detection]], None, None]:
    """Yield (name, index, image, detections) per image; annotate, save and show after the
    consumer has drawn on ``image`` in place."""
    for index, path in enumerate(source.images):
        image = read_image(path)
        if image is None:
            if len(source.images) == 1:
                raise InferenceError(f"{path}: OpenCV cannot read this image (or it is missing)")
            summary.skipped.append(f"{path}: missing or unreadable image")
            continue
        detections = detector.detect(image, options.thresh, options.nms)
        yield str(path), index, image, detections
        if options.save is not None:
            target = save_names[index]
            save_image(target, image)
            summary.saved.append(target)
        if options.show and not _show(image, 0):
            return


def _stream_frames(
    source: Source,
    detector: Detector | Cascade | _Replay,
    options: DetectOptions,
    summary: DetectSummary,
) -> Generator[tuple[str, int, np.ndarray, list[Detection]], None, None]:
    capture = open_capture(source)
    summary.video_fps = stream_fps(capture)
    sink: VideoSink | None = None
    rate = _Rate()
    video_name = _video_name(source)
    ended = False  # the video's end, or q in the window: anything else leaves it partial
    try:
        for frame in stream_detections(
            capture,
            detector,
            live=source.kind == "live",
            thresh=options.thresh,
            nms=options.nms,
            batch=options.batch,
        ):
            yield source.name, frame.index, frame.image, frame.detections
            fps = rate.tick()
            if options.save is not None:
                if sink is None:
                    height, width = frame.image.shape[:2]
                    sink = VideoSink(
                        options.save / video_name, stream_fps(capture), (width, height)
                    )
                sink.write(frame.image)
            if options.show and not _show(draw_fps(frame.image, fps), 1):
                break
        ended = True
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        capture.release()
        if sink is not None:
            written = sink.close(complete=ended)
            (summary.saved if ended else summary.partial).append(written)
