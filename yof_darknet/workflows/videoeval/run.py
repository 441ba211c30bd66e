"""``evaluate-video`` end to end: read the videos, tune the Viterbi penalty on the training
videos, score every temporal model, write the report."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from yof_darknet.core.fileio import atomic_write_text
from yof_darknet.core.progress import Progress
from yof_darknet.datasets.affwild2_files import VideoJob, collect_jobs
from yof_darknet.datasets.affwild2_video import (
    folder_name,
)
from yof_darknet.evaluate.video import NO_FACE, FrameMetrics, frame_metrics
from yof_darknet.evaluate.video_report import OVERALL, render_markdown, write_report
from yof_darknet.infer.detector import Detector
from yof_darknet.infer.temporal import TemporalOptions
from yof_darknet.tools.cluster import available_cpus
from yof_darknet.tools.faces import FaceDetector, create_detector
from yof_darknet.workflows.videoeval.options import VideoEvalError, VideoEvalOptions
from yof_darknet.workflows.videoeval.select import Selection, select_videos
from yof_darknet.workflows.videoeval.tracks import (
    CACHE_DIR,
    PersonTrack,
    cache_signature,
    load_tracks,
    read_person_tracks,
    save_tracks,
)


def pooled_metrics(
    tracks: Sequence[PersonTrack], options: TemporalOptions, classes: int
) -> FrameMetrics:
    """Metrics over the scored frames of all ``tracks`` together (as ABAW pools its frames)."""
    truth = [t.truth[t.scored] for t in tracks]
    predicted = [t.labels(options)[t.scored] for t in tracks]
    if not truth:
        return frame_metrics(np.zeros(0), np.zeros(0), classes)
    return frame_metrics(np.concatenate(truth), np.concatenate(predicted), classes)


def tune_penalty(
    tracks: Sequence[PersonTrack], base: TemporalOptions, grid: Sequence[float], classes: int
) -> tuple[float, dict[str, float]]:
    """The penalty of ``grid`` with the best macro F1 on ``tracks`` (the smallest on ties)."""
    results = {
        penalty: pooled_metrics(tracks, replace(base, model="viterbi", penalty=penalty), classes)
        for penalty in grid
    }
    best = max(grid, key=lambda p: (results[p].macro_f1, -p))
    return best, {f"{p:g}": round(results[p].macro_f1, 4) for p in grid}


def _frames_csv(
    tracks: Sequence[PersonTrack], models: Sequence[TemporalOptions], names: Sequence[str]
) -> str:
    """Every scored frame: video, person, frame index, truth and each model's prediction."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["video", "person", "frame", "truth", "face_found", *(m.model for m in models)])
    for track in tracks:
        labels = [track.labels(m) for m in models]
        for index in np.flatnonzero(track.scored):
            predicted = [names[lab[index]] if lab[index] != NO_FACE else "" for lab in labels]
            row = [track.video, track.side, int(index), names[track.truth[index]]]
            writer.writerow([*row, int(track.face_found[index]), *predicted])
    return out.getvalue()


@dataclass
class VideoEvalResult:
    scores: dict[str, dict[str, FrameMetrics]]
    names: list[str]
    models: list[TemporalOptions]
    details: dict[str, Any]
    written: list[Path]
    markdown: str


@dataclass
class _Engines:
    faces: FaceDetector
    detector: Detector

    def read(
        self, jobs: Sequence[VideoJob], options: VideoEvalOptions, selection: Selection, what: str
    ) -> list[PersonTrack]:
        tracks: list[PersonTrack] = []
        desc = f"evaluate-video: {what}"
        with Progress(desc, total=len(jobs), unit="video", enabled=options.progress) as progress:
            for job in progress.iterate(jobs):
                tracks += self._read_one(job, options, selection)
        return tracks

    def _read_one(
        self, job: VideoJob, options: VideoEvalOptions, selection: Selection
    ) -> list[PersonTrack]:
        """The job's tracks from the cache, or read from the video (and cached)."""
        excluded = selection.excluded.get(job.stem, set())
        cache = options.out / CACHE_DIR / f"{folder_name(job.stem)}.npz"
        key = cache_signature(job, options)
        found = load_tracks(cache, key, job, excluded)
        if found is None:
            found = read_person_tracks(job, self.faces, self.detector, options, excluded)
            cache.parent.mkdir(parents=True, exist_ok=True)
            save_tracks(cache, key, found)
        return found


def evaluate_videos(options: VideoEvalOptions) -> VideoEvalResult:
    """Run ``evaluate-video`` and write OUT/metrics.{md,csv,json}, confusion_*.csv, frames.csv."""
    jobs, _ = collect_jobs(options.affwild2)
    selection = select_videos(jobs, options)
    engines = _Engines(
        create_detector(
            threshold=options.face_threshold,
            max_side=options.face_max_side,
            threads=options.threads or available_cpus(),
        ),
        Detector(options.cfg, options.weights, options.names, threads=options.threads),
    )
    names = engines.detector.names
    classes = len(names)
    details: dict[str, Any] = {
        "evaluated": selection.how,
        "videos": [j.stem for j in selection.evaluated],
    }
    base = options.temporal
    penalty = options.penalty
    if "viterbi" in options.models and penalty is None:
        if not selection.tuning:
            raise VideoEvalError(
                "no training video to choose the Viterbi penalty on (none left after the "
                "evaluated ones); pass --tune-on VIDEOS_LIST or --penalty P"
            )
        tune_tracks = engines.read(selection.tuning, options, selection, "tuning")
        penalty, grid = tune_penalty(tune_tracks, base, options.penalties, classes)
        details["tuning"] = {
            "videos": [j.stem for j in selection.tuning],
            "macro_f1_by_penalty": grid,
            "penalty": penalty,
        }
    models = [
        replace(base, model=m, penalty=penalty if penalty is not None else base.penalty)
        for m in options.models
    ]
    tracks = engines.read(selection.evaluated, options, selection, "evaluated")
    scores: dict[str, dict[str, FrameMetrics]] = {
        OVERALL: {m.describe(): pooled_metrics(tracks, m, classes) for m in models}
    }
    for job in selection.evaluated:
        own = [t for t in tracks if t.video == job.stem]
        scores[job.stem] = {m.describe(): pooled_metrics(own, m, classes) for m in models}
    scored = sum(int(t.scored.sum()) for t in tracks)
    details["no_face_found"] = sum(int((t.scored & ~t.face_found).sum()) for t in tracks)
    details["scored_frames"] = scored
    notes = [
        f"Evaluated: {selection.how}.",
        f"No face found by the face finder (RetinaFace, as the conversion): "
        f"{details['no_face_found']} of {scored} scored person-frames (scored as no face).",
    ]
    if "tuning" in details:
        notes.append(
            f"Viterbi penalty {penalty:g}: best macro F1 on the tuning videos "
            f"({', '.join(details['tuning']['videos'])}), never on the evaluated ones."
        )
    written = write_report(options.out, scores, names, details, notes)
    frames_path = options.out / "frames.csv"
    atomic_write_text(frames_path, _frames_csv(tracks, models, names))
    markdown = render_markdown(scores, names, notes)
    return VideoEvalResult(scores, names, models, details, [*written, frames_path], markdown)
