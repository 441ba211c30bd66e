"""One track per annotated person of a video: truth, matched class probabilities, faces; and
the per-video cache that lets a re-run (or an interrupted run) skip videos already read."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yof_darknet.core.fileio import atomic_write_bytes
from yof_darknet.datasets.affwild2_files import VideoJob
from yof_darknet.datasets.affwild2_video import (
    SIDE_ORDER,
    assign_faces,
    label_outcome,
    signature,
)
from yof_darknet.evaluate.video import NO_FACE
from yof_darknet.formats.imagefiles import opencv_path
from yof_darknet.infer.detector import Detector
from yof_darknet.infer.smooth import merge_faces
from yof_darknet.infer.temporal import TemporalOptions, smooth_labels
from yof_darknet.infer.tracker import greedy_pairs, iou_matrix
from yof_darknet.tools.faces import FaceDetector
from yof_darknet.workflows.videoeval.options import VideoEvalOptions

CACHE_DIR = "cache"
CACHE_VERSION = 1
_CACHED_SETTINGS = ("thresh", "nms", "match_iou", "face_threshold", "face_max_side")


@dataclass
class PersonTrack:
    """One annotated person of one video, frame by frame (index = decoded frame = data line - 1).

    ``truth``: our class id, -1 where the line is -1, Other or unusable; ``probs`` (T, C): the
    matched detection's class probabilities, NaN rows where none matched; ``face_found``: the
    converter's face finder gave this person a face, ``faces`` (T, 4) that face's xyxy box (NaN
    rows where none); ``scored``: counted in the metrics.
    """

    video: str
    side: str
    truth: np.ndarray
    probs: np.ndarray
    faces: np.ndarray
    scored: np.ndarray

    @property
    def face_found(self) -> np.ndarray:
        return ~np.isnan(self.faces[:, 0])

    def labels(self, options: TemporalOptions) -> np.ndarray:
        """Predicted class per frame under ``options`` (``NO_FACE`` where nothing matched)."""
        observed = ~np.isnan(self.probs[:, 0])
        out = np.full(len(self.truth), NO_FACE, dtype=np.int64)
        out[observed] = smooth_labels(self.probs[observed], options)
        return out


def _match(person_faces: dict[str, Any], face_boxes: list, min_iou: float) -> dict[str, int]:
    """Person → index of the detected face it overlaps most (one face per person), greedy."""
    sides = list(person_faces)
    if not sides or not face_boxes:
        return {}
    overlaps = iou_matrix(np.array([person_faces[s].xyxy for s in sides]), np.array(face_boxes))
    return {sides[row]: col for row, col in greedy_pairs(-overlaps, -min_iou)}


def read_person_tracks(
    job: VideoJob,
    faces: FaceDetector,
    detector: Detector,
    options: VideoEvalOptions,
    excluded: set[int] = frozenset(),  # type: ignore[assignment]
) -> list[PersonTrack]:
    """Decode ``job``'s video and give each annotated person a track (see the module doc)."""
    import cv2

    assert job.video is not None
    persons = sorted(job.persons.items(), key=lambda kv: SIDE_ORDER.index(kv[0]))
    classes = len(detector.names)
    n_lines = max(len(annotation.labels) for _, annotation in persons)
    probs: dict[str, list[np.ndarray]] = {side: [] for side, _ in persons}
    boxes: dict[str, list[Any]] = {side: [] for side, _ in persons}
    with opencv_path(job.video) as name:  # the open file outlives the link
        capture = cv2.VideoCapture(name)
    missing = np.full(classes, np.nan)
    try:
        for index in range(n_lines):
            ok, frame = capture.read()
            if not ok:
                break
            present = [side for side, a in persons if index < len(a.labels)]
            wanted = dict.fromkeys(present, 0)  # assign_faces only reads the sides
            kept, _ = assign_faces(faces.detect(frame), wanted, frame.shape[1], False)
            merged = merge_faces(detector.detect(frame, options.thresh, options.nms), classes)
            matched = _match(kept, [face.xyxy for face in merged], options.match_iou)
            for side in present:
                boxes[side].append(kept[side].xyxy if side in kept else (np.nan,) * 4)
                probs[side].append(merged[matched[side]].scores if side in matched else missing)
    finally:
        capture.release()
    tracks = []
    for side, annotation in persons:
        frames = len(probs[side])
        truth = np.array([label_outcome(annotation, i)[0] for i in range(frames)], dtype=np.int64)
        tracks.append(
            PersonTrack(
                video=job.stem,
                side=side,
                truth=truth,
                probs=np.array(probs[side]).reshape(frames, classes),
                faces=np.array(boxes[side], dtype=np.float64).reshape(frames, 4),
                scored=_scored(truth, excluded),
            )
        )
    return tracks


def _scored(truth: np.ndarray, excluded: set[int]) -> np.ndarray:
    allowed = np.array([i not in excluded for i in range(len(truth))], dtype=bool)
    return (truth >= 0) & allowed


def _stat(path: Path | None) -> list[Any] | None:
    return None if path is None else [str(path), path.stat().st_size, path.stat().st_mtime_ns]


def cache_signature(job: VideoJob, options: VideoEvalOptions) -> str:
    """What a video's cached tracks depend on: its files, the model and the matching settings."""
    settings = {
        "version": CACHE_VERSION,
        "weights": _stat(options.weights),
        "cfg": _stat(options.cfg),
        "names": _stat(options.names),
        **{key: getattr(options, key) for key in _CACHED_SETTINGS},
    }
    return json.dumps(signature(job, settings), sort_keys=True)


def save_tracks(path: Path, key: str, tracks: Sequence[PersonTrack]) -> None:
    """The tracks' truth, probabilities and faces in one .npz, written atomically."""
    arrays: dict[str, np.ndarray] = {"signature": np.array(key)}
    for track in tracks:
        for name in ("truth", "probs", "faces"):
            arrays[f"{track.side}.{name}"] = getattr(track, name)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)  # np.load reads without pickle
    atomic_write_bytes(path, buffer.getvalue())


def load_tracks(
    path: Path, key: str, job: VideoJob, excluded: set[int]
) -> list[PersonTrack] | None:
    """The cached tracks of ``job``, or None when absent, unreadable or made differently."""
    try:
        with np.load(path) as data:
            if str(data["signature"]) != key:
                return None
            sides = sorted(job.persons, key=SIDE_ORDER.index)
            loaded = {
                f"{s}.{n}": data[f"{s}.{n}"] for s in sides for n in ("truth", "probs", "faces")
            }
    except (OSError, ValueError, KeyError):
        return None
    return [
        PersonTrack(job.stem, side, loaded[f"{side}.truth"], loaded[f"{side}.probs"],
                    loaded[f"{side}.faces"], _scored(loaded[f"{side}.truth"], excluded))
        for side in sides
    ]  # fmt: skip
