"""One Aff-Wild2 video → labelled JPEG frames and a manifest (the unit of resume and of sharding).

For each data line k of the video's annotations (decoded frame k-1, every ``stride``-th frame):
the labels are checked (``label_ignore`` for -1, ``label_other`` for 7, ``bad_line``/``bad_label``
for unusable lines), the frame is decoded and, when somebody in it has one of our classes, the
detector runs and ``assign_faces`` gives each labelled person a face or a skip reason
(``no_face``, ``unassigned``, ``crowded``, ``unannotated_frame``). Lines past the last decoded
frame are ``no_frame``.
Frames with at least one kept face are written as ``OUT/affwild2/<video>/<k:05d>.jpg`` (JPEG
quality 95, the numbering of ABAW's cropped_aligned frames) with ``<k:05d>.txt`` beside them.
``manifest.json`` is written last; a video whose manifest matches the inputs and settings is
not processed again.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yof_darknet.core.expressions import AFFWILD2_IGNORE, AFFWILD2_OTHER, AFFWILD2_TO_CLASS
from yof_darknet.core.fileio import atomic_write_bytes, atomic_write_text
from yof_darknet.core.owned import Ledger, ensure_real_folder, sweep_temporaries
from yof_darknet.datasets.affwild2_files import Annotation, VideoJob
from yof_darknet.datasets.derived import shrunk_size
from yof_darknet.datasets.stats import KEPT, NO_CLASS
from yof_darknet.formats.imagefiles import opencv_path
from yof_darknet.formats.labels import check_label_path, label_line
from yof_darknet.formats.safenames import safe_stem
from yof_darknet.tools.faces import Face, FaceDetector

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
JPEG_QUALITY = 95
SIDE_ORDER = ("main", "left", "right")


@dataclass
class VideoResult:
    """What converting one video produced; stored as its manifest.

    ``frames``: ``[image file name, [class id per label line]]`` of each written frame;
    ``counts``: outcome → {class id: faces}; ``faces_per_frame``: faces found → frames;
    ``lengths``: annotation file name → ``{"lines", "frames", "difference"}``.
    """

    stem: str
    folder: str
    signature: dict[str, Any]
    frames: list[tuple[str, list[int]]] = field(default_factory=list)
    counts: dict[str, dict[int, int]] = field(default_factory=dict)
    frames_read: int = 0
    frames_detected: int = 0
    faces_per_frame: dict[int, int] = field(default_factory=dict)
    lengths: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # --unannotated (not keep): "frames" with faces beyond the video's annotated people, those
    # "faces", and the frames "masked"/"dropped": in all, and per class of the frame's kept faces
    unannotated_totals: dict[str, int] = field(default_factory=dict)
    unannotated: dict[str, dict[int, int]] = field(default_factory=dict)

    def add_unannotated(self, what: str, class_ids: Iterable[int], count: int = 1) -> None:
        self.unannotated_totals[what] = self.unannotated_totals.get(what, 0) + count
        per_class = self.unannotated.setdefault(what, {})
        for class_id in set(class_ids):
            per_class[class_id] = per_class.get(class_id, 0) + count

    def add(self, outcome: str, class_id: int) -> None:
        per_class = self.counts.setdefault(outcome, {})
        per_class[class_id] = per_class.get(class_id, 0) + 1

    def to_json(self) -> str:
        return json.dumps({"version": MANIFEST_VERSION, **asdict(self)}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> VideoResult:
        data = json.loads(text)
        data.pop("version")
        data["frames"] = [(name, list(classes)) for name, classes in data["frames"]]
        data["counts"] = {
            outcome: {int(k): v for k, v in per.items()} for outcome, per in data["counts"].items()
        }
        data["faces_per_frame"] = {int(k): v for k, v in data["faces_per_frame"].items()}
        data["unannotated"] = {
            what: {int(k): v for k, v in per.items()}
            for what, per in data.get("unannotated", {}).items()
        }
        return cls(**data)


def folder_name(stem: str) -> str:
    """The folder of a video's frames: its stem, unless the stem breaks the safe-name policy
    (``formats.safenames``: shell syntax, bytes that are not UTF-8, a substring either fork
    rewrites...); then a safe name, recorded in ``renamed.tsv``."""
    return safe_stem(stem)


def video_problem(video: Path) -> str | None:
    """Why the video file cannot be decoded at all, before OpenCV is handed it (or None)."""
    try:
        if not stat.S_ISREG(os.stat(video).st_mode):
            return "not a regular file"
        with open(video, "rb"):
            pass
    except OSError as exc:
        return f"cannot open it ({exc.strerror or exc})"
    return None


def assign_faces(
    faces: list[Face], wanted: dict[str, int], frame_width: int, drop_crowded: bool
) -> tuple[dict[str, Face], dict[str, str]]:
    """Give each labelled person (side → class) a face, or a skip reason.

    ``main`` (the only person of the video) takes the largest face. ``left``/``right`` take the
    two largest faces sorted by box centre x; a single face goes to the side whose half of the
    image holds its centre. More faces than labelled people: kept as labelled, unless
    ``drop_crowded`` (then every person of the frame is ``crowded``).
    """
    if drop_crowded and len(faces) > len(wanted):
        return {}, dict.fromkeys(wanted, "crowded")
    if not faces:
        return {}, dict.fromkeys(wanted, "no_face")
    largest = sorted(faces, key=lambda face: -face.area)
    if "main" in wanted:
        return {"main": largest[0]}, {}
    if len(largest) >= 2:
        pair = sorted(largest[:2], key=lambda face: face.center_x)
        by_side = {"left": pair[0], "right": pair[1]}
    else:
        by_side = {"left" if largest[0].center_x < frame_width / 2 else "right": largest[0]}
    kept = {side: by_side[side] for side in wanted if side in by_side}
    return kept, {side: "unassigned" for side in wanted if side not in by_side}


def beyond_people(faces: list[Face], people: Iterable[str], frame_width: int) -> list[Face]:
    """The faces of a frame that none of the video's annotated people (``main`` or ``left``/
    ``right``, whatever their label on this frame) would take under ``assign_faces``."""
    taken, _ = assign_faces(faces, dict.fromkeys(people, 0), frame_width, False)
    claimed = {id(face) for face in taken.values()}
    return [face for face in faces if id(face) not in claimed]


def _file_signature(path: Path) -> list[Any]:
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def signature(job: VideoJob, settings: dict[str, Any]) -> dict[str, Any]:
    """What a manifest must match to be reused: settings and the raw files' size and mtime."""
    assert job.video is not None
    return {
        "settings": settings,
        "video": _file_signature(job.video),
        "annotations": {side: _file_signature(a.path) for side, a in sorted(job.persons.items())},
    }


def label_outcome(annotation: Annotation, index: int) -> tuple[int, str | None]:
    """Class id of line ``index`` and its skip reason (None when it has one of our classes)."""
    label = annotation.labels[index]
    if label is None:
        return NO_CLASS, annotation.bad[index]
    if label == AFFWILD2_IGNORE:
        return NO_CLASS, "label_ignore"
    if label == AFFWILD2_OTHER:
        return NO_CLASS, "label_other"
    return AFFWILD2_TO_CLASS[label], None


def _clear(folder: Path) -> Ledger:
    """Remove what an earlier, unfinished or outdated run wrote in this video's folder (the
    names its ledger holds, nothing else); return the ledger for this run's writes."""
    ensure_real_folder(folder, Ledger(folder.parent))
    ledger = Ledger(folder)
    for name in sorted(ledger.names()):
        if name.endswith((".jpg", ".txt")) or name == MANIFEST:
            ledger.remove(name)
    sweep_temporaries(folder)
    return ledger


def _write_frame(
    path: Path, frame: np.ndarray, lines: list[str], ledger: Ledger, max_side: int = 0
) -> None:
    import cv2

    height, width = frame.shape[:2]
    size = shrunk_size((width, height), max_side)
    if size != (width, height):  # labels are normalised: the same for the shrunk frame
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"OpenCV could not encode {path}")
    ledger.record([path.name, path.with_suffix(".txt").name])
    atomic_write_bytes(path, data.tobytes())
    atomic_write_text(check_label_path(path), "".join(f"{line}\n" for line in lines))


def load_manifest(folder: Path, expected: dict[str, Any]) -> VideoResult | None:
    """The finished result stored in ``folder``, if it was made from the same inputs/settings
    and all its frames and labels are still there (never in a linked folder)."""
    if folder.is_symlink():
        return None
    try:
        result = VideoResult.from_json((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if result.signature != expected:
        return None
    for name, _ in result.frames:
        if not ((folder / name).is_file() and (folder / name).with_suffix(".txt").is_file()):
            return None
    return result


def _line_outcomes(
    persons: list[tuple[str, Annotation]], index: int
) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """Line ``index`` of each person: side → class if labelled, else (skip reason, class)."""
    wanted: dict[str, int] = {}
    skips: list[tuple[str, int]] = []
    for side, annotation in persons:
        if index < len(annotation.labels):
            class_id, reason = label_outcome(annotation, index)
            if reason is None:
                wanted[side] = class_id
            else:
                skips.append((reason, class_id))
    return wanted, skips


def _label_frame(
    result: VideoResult,
    frame: np.ndarray,
    name: str,
    wanted: dict[str, int],
    detector: FaceDetector,
    ledger: Ledger,
    drop_crowded: bool,
    unannotated: tuple[str, tuple[str, ...]] = ("keep", ()),
    max_side: int = 0,
) -> None:
    """Detect faces in ``frame``, give them to the labelled people, write the frame if any kept
    (shrunk to ``max_side``: ``--max-side``).

    ``unannotated``: the ``--unannotated`` mode and the video's annotated people (sides); faces
    beyond them are counted (``report``), filled (``mask``, as ExpW's) or drop the frame.
    """
    faces = detector.detect(frame)
    result.frames_detected += 1
    result.faces_per_frame[len(faces)] = result.faces_per_frame.get(len(faces), 0) + 1
    height, width = frame.shape[:2]
    kept, skipped = assign_faces(faces, wanted, width, drop_crowded)
    mode, people = unannotated
    extra = beyond_people(faces, people, width) if mode != "keep" and kept else []
    if extra:
        classes = [wanted[side] for side in kept]
        result.add_unannotated("frames", classes)
        result.add_unannotated("faces", classes, len(extra))
        if mode == "drop":
            result.add_unannotated("dropped", classes)
            skipped |= dict.fromkeys(kept, "unannotated_frame")
            kept = {}
        elif mode == "mask":
            from yof_darknet.datasets.unannotated import mask_image

            result.add_unannotated("masked", classes)
            keep_boxes = [face.xyxy for face in kept.values()]
            frame = mask_image(frame, [face.xyxy for face in extra], keep_boxes)
    for side, reason in skipped.items():
        result.add(reason, wanted[side])
    if not kept:
        return
    sides = [side for side in SIDE_ORDER if side in kept]
    lines = [label_line(wanted[side], kept[side].xyxy, (width, height)) for side in sides]
    _write_frame(ledger.folder / name, frame, lines, ledger, max_side)
    for side in sides:
        result.add(KEPT, wanted[side])
    result.frames.append((name, [wanted[side] for side in sides]))


def convert_video(
    job: VideoJob,
    out_dir: Path,
    settings: dict[str, Any],
    detector: FaceDetector,
    *,
    threads: int = 0,
) -> tuple[VideoResult, bool]:
    """Convert ``job`` into ``out_dir/<video>/``, or reuse its manifest: (result, resumed).

    ``settings`` holds ``frame_stride``, ``max_frames_per_video`` (0 = all) and
    ``drop_crowded_frames``, plus whatever identifies the detector; all of it goes into the
    manifest's signature. An unreadable video gives a result without a manifest. ``threads``:
    FFmpeg's decoding threads (0: FFmpeg's choice, one per CPU of the process's affinity).
    """
    import cv2

    assert job.video is not None
    folder = out_dir / folder_name(job.stem)
    expected = signature(job, settings)
    reused = load_manifest(folder, expected)
    if reused is not None:
        return reused, True
    ledger = _clear(folder)
    result = VideoResult(job.stem, folder.name, expected)
    stride = settings["frame_stride"]
    persons = sorted(job.persons.items(), key=lambda kv: SIDE_ORDER.index(kv[0]))
    hygiene = (settings.get("unannotated", "keep"), tuple(side for side, _ in persons))
    n_lines = max(len(annotation.labels) for _, annotation in persons)
    params = [cv2.CAP_PROP_N_THREADS, threads] if threads > 0 else []
    max_side = settings.get("max_side", 0)
    problem = video_problem(job.video)
    capture: cv2.VideoCapture | _NoVideo
    with contextlib.ExitStack() as stack:
        if problem is None:  # OpenCV crashes on a name that is not UTF-8: a link names it
            capture = cv2.VideoCapture(stack.enter_context(opencv_path(job.video)), cv2.CAP_ANY,
                                       params)  # fmt: skip
        else:
            capture = _NoVideo()
        decoded, index, ended = _read_frames(
            result, capture, persons, settings, detector, ledger, hygiene, max_side
        )
        if decoded:
            frames = decoded if ended else _frame_count(capture, decoded)
            _record_lengths(result, persons, job.video, frames)
        else:
            why = problem or "OpenCV decodes no frame (corrupt or unsupported)"
            result.problems.append(f"{job.video}: {why}")
        capture.release()
    if ended:  # lines past the last decoded frame
        missing = "no_frame" if decoded else "unreadable_video"
        for late in range(index, n_lines):
            if late % stride == 0:
                wanted, skips = _line_outcomes(persons, late)
                for reason, class_id in [*skips, *((missing, c) for c in wanted.values())]:
                    result.add(reason, class_id)
    result.faces_per_frame = dict(sorted(result.faces_per_frame.items()))
    if decoded:
        ledger.record([MANIFEST])
        atomic_write_text(folder / MANIFEST, result.to_json())
    return result, False


class _NoVideo:
    """A capture that reads nothing (the video cannot be opened)."""

    def read(self) -> tuple[bool, None]:
        return False, None

    def grab(self) -> bool:
        return False

    def release(self) -> None:
        pass


def _read_frames(
    result: VideoResult,
    capture: Any,
    persons: list[tuple[str, Annotation]],
    settings: dict[str, Any],
    detector: FaceDetector,
    ledger: Ledger,
    hygiene: tuple[str, tuple[str, ...]],
    max_side: int,
) -> tuple[int, int, bool]:
    """Read the video's frames line by line; (frames decoded, next line, the video ended)."""
    stride, limit = settings["frame_stride"], settings["max_frames_per_video"]
    n_lines = max(len(annotation.labels) for _, annotation in persons)
    decoded, index, ended = 0, 0, False
    while index < n_lines and not (limit and len(result.frames) >= limit):
        sampled = index % stride == 0
        wanted, skips = _line_outcomes(persons, index) if sampled else ({}, [])
        # Frames nobody is labelled in are only grabbed: decoded, never converted to BGR.
        ok, frame = capture.read() if wanted else (capture.grab(), None)
        if not ok:
            ended = True
            break
        decoded += 1
        if sampled:
            result.frames_read += 1
            for reason, class_id in skips:
                result.add(reason, class_id)
        if wanted:
            assert frame is not None  # read() (not grab()) returned it with ok
            name = f"{index + 1:05d}.jpg"
            drop_crowded = settings["drop_crowded_frames"]
            _label_frame(
                result, frame, name, wanted, detector, ledger, drop_crowded, hygiene, max_side
            )
        index += 1
    return decoded, index, ended


def _frame_count(capture: Any, decoded: int) -> int:
    """Frames in the video when we stopped reading after ``decoded`` (lines ran out or the cap)."""
    import cv2

    if not capture.grab():
        return decoded
    return max(decoded + 1, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))


def _record_lengths(
    result: VideoResult, persons: list[tuple[str, Annotation]], video: Path, frames: int
) -> None:
    for _, annotation in persons:
        lines = len(annotation.labels)
        result.lengths[annotation.path.name] = {
            "lines": lines,
            "frames": frames,
            "difference": lines - frames,
        }
        if lines != frames:
            result.problems.append(
                f"{annotation.path}: {lines} frame lines but {video} has {frames} frames; "
                f"used the first {min(lines, frames)}"
            )
