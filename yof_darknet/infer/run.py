"""``yof-darknet detect``: run the detector on a source and send the results to the window, the
annotated copies and the JSON lines the user asked for."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from yof_darknet.errors import InferenceError
from yof_darknet.fileio import check_writable, protected
from yof_darknet.infer.cascade import Cascade, parse_cascade
from yof_darknet.infer.detector import Detection, Detector
from yof_darknet.infer.draw import draw_detections, draw_fps
from yof_darknet.infer.options import DetectOptions
from yof_darknet.infer.outputs import JsonLines, VideoSink, frame_record, save_image
from yof_darknet.infer.smooth import Smoother
from yof_darknet.infer.sources import Source, display_problem, resolve_source
from yof_darknet.infer.video import open_capture, stream_detections, stream_fps

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
        return Cascade(cfg, weights, options.names, threads=options.threads)
    return Detector(
        options.cfg,
        options.weights,
        options.names,
        size=options.size,
        threads=options.threads,
        engine=options.engine,
        model=options.model,
        device=options.device,
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


def run_detect(options: DetectOptions) -> DetectSummary:
    """Run ``detect`` as the CLI describes and count what it did.

    No output may replace an input (an image, the video, the weights, cfg or names): such a
    run is refused before the first detection.
    """
    if options.show and (problem := display_problem()):
        raise InferenceError(problem)
    models = model_paths(options)  # first: a missing --cfg/--weights is the first error
    source = resolve_source(options.source)
    inputs = [*models, options.names, source.path, *source.images]
    with protected(*inputs):
        for target in _outputs(source, options):
            check_writable(target)
        return _run(source, options)


def _outputs(source: Source, options: DetectOptions) -> list[Path]:
    """Every file this run will write."""
    targets = [Path(options.json)] if options.json not in (None, "-") else []
    if options.save is not None:
        if source.kind == "images":
            assert source.root is not None
            targets += [
                options.save / path.relative_to(source.root)
                for path in source.images
                if path.is_relative_to(source.root)  # others are missing: skipped when met
            ]
        else:
            name = _video_name(source)
            targets += [options.save / name, options.save / Path(name).with_suffix(".mp4")]
    return targets


def _video_name(source: Source) -> str:
    if source.path is not None:
        return source.path.name
    return f"{source.name}.mp4" if source.camera is not None else "stream.mp4"


def _run(source: Source, options: DetectOptions) -> DetectSummary:
    detector = make_detector(options)
    smoother = Smoother(detector.names, options.smooth_alpha) if options.smooth else None
    json_out = JsonLines(options.json) if options.json else None
    summary = DetectSummary(backend=detector.backend, engine=detector.description)
    started = time.perf_counter()
    frames = (
        _image_frames(source, detector, options, summary)
        if source.kind == "images"
        else _stream_frames(source, detector, options, summary)
    )
    try:
        for name, index, image, detections in frames:
            tracks = None
            if smoother is not None:
                tracked = smoother.update(detections)
                tracks = [t for t, _ in tracked]
                detections = [d for _, d in tracked]
            summary.frames += 1
            summary.detections += len(detections)
            if json_out is not None:
                height, width = image.shape[:2]
                json_out.write(frame_record(name, index, detections, (width, height), tracks))
            _annotate(image, detections, tracks)
    finally:
        frames.close()
        summary.seconds = time.perf_counter() - started
        if json_out is not None:
            json_out.close()
        if options.show:
            cv2.destroyAllWindows()
    return summary


def _show(image: np.ndarray, wait_ms: int) -> bool:
    """Show ``image``; False when the user pressed q/Esc or closed the window."""
    cv2.imshow(WINDOW, image)
    key = cv2.waitKey(wait_ms) & 0xFF
    closed = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
    return key not in _QUIT_KEYS and not closed


def _image_frames(
    source: Source, detector: Detector | Cascade, options: DetectOptions, summary: DetectSummary
) -> Iterator[tuple[str, int, np.ndarray, list[Detection]]]:
    """Yield (name, index, image, detections) per image; annotate, save and show after the
    consumer has drawn on ``image`` in place."""
    for index, path in enumerate(source.images):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            if len(source.images) == 1:
                raise InferenceError(f"{path}: OpenCV cannot read this image (or it is missing)")
            summary.skipped.append(f"{path}: missing or unreadable image")
            continue
        detections = detector.detect(image, options.thresh, options.nms)
        yield str(path), index, image, detections
        if options.save is not None:
            assert source.root is not None
            target = options.save / path.relative_to(source.root)
            save_image(target, image)
            summary.saved.append(target)
        if options.show and not _show(image, 0):
            return


def _stream_frames(
    source: Source, detector: Detector | Cascade, options: DetectOptions, summary: DetectSummary
) -> Iterator[tuple[str, int, np.ndarray, list[Detection]]]:
    capture = open_capture(source)
    sink: VideoSink | None = None
    rate = _Rate()
    video_name = _video_name(source)
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
                return
    finally:
        capture.release()
        if sink is not None:
            sink.close()
            summary.saved.append(sink.path)
