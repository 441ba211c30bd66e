"""Aff-Wild2 raw files: annotation folders of every release, annotation files, videos, pairs.

Every release keeps its EXPR annotations in a folder named ``EXPR_Set`` (ABAW 2020, 2021),
``EXPR_Classification_Challenge`` (ABAW3/5) or ``EXPR_Recognition_Challenge`` (ABAW6), with
``Training_Set``/``Train_Set`` and ``Validation_Set`` below it. An annotation ``<stem>.txt`` has a
header line, then one integer per frame (data line k = decoded frame k-1): 0..6 expressions,
7 Other (ABAW3+), -1 ignore. ``<video>_left.txt``/``_right.txt`` label the face on that side of
the image; an unsuffixed file paired with a suffixed one labels the other side. The video is
``<video>.<ext>`` in any folder below the root (``videos/batch1``, ``batch2``, ``batch3``...).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.expressions import AFFWILD2_IGNORE, AFFWILD2_OTHER, AFFWILD2_TO_CLASS

ANNOTATION_DIRS = ("EXPR_Set", "EXPR_Classification_Challenge", "EXPR_Recognition_Challenge")
SPLIT_DIRS = ("Training_Set", "Train_Set", "Validation_Set")
# Preferred first when a video exists in several containers.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".wmv", ".mpg", ".mpeg")
SIDE_SUFFIXES = {"_left": "left", "_right": "right"}
OTHER_SIDE = {"left": "right", "right": "left"}
# Folders of per-frame crops (millions of JPEGs in the real dataset): never searched for videos.
_SKIP_DIRS = ("cropped", "cropped_aligned", "cropped_images", "cropped_aligned_images")


@dataclass(frozen=True)
class Problem:
    """A bad input found while reading: counted under ``reason``, reported as ``where: message``."""

    reason: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class Annotation:
    """One annotation file: ``labels[k-1]`` is data line k as an Aff-Wild2 id, None if unusable.

    ``bad[k-1]`` is the skip reason of an unusable line (``bad_line`` or ``bad_label``).
    """

    path: Path
    side: str  # "main" (unsuffixed), "left" or "right", as the file name says
    labels: tuple[int | None, ...]
    bad: dict[int, str] = field(default_factory=dict)


@dataclass
class VideoJob:
    """One video and the annotations of the people in it, keyed by their side of the image.

    ``persons`` keys are ``"main"`` (the only person) or ``"left"``/``"right"``.
    """

    stem: str
    video: Path | None
    persons: dict[str, Annotation] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def annotation_lines(text: str) -> list[str]:
    """The lines of an annotation: they end at ``\\n`` only (a ``\\r`` before it is dropped), so
    a form feed, U+2028 or a lone ``\\r`` inside a line never adds a frame (``str.splitlines``
    would). A file with ``\\r`` and no ``\\n`` at all (old Mac line ends) is split at ``\\r``.

    >>> annotation_lines("Neutral,Anger\\r\\n3\\x0c\\r\\n4\\u20285\\r\\n")
    ['Neutral,Anger', '3\\x0c', '4\\u20285']
    >>> annotation_lines("header\\r1\\r2\\r")
    ['header', '1', '2']
    """
    separator = "\r" if "\n" not in text and "\r" in text else "\n"
    lines = [line.removesuffix("\r") for line in text.split(separator)]
    if lines and not lines[-1]:
        lines.pop()  # the end of the last line, not a line
    return lines


def read_annotation_text(path: Path) -> str | Problem:
    """The text of an annotation file, or the problem that makes it unreadable (counted as
    ``unreadable_annotation``: that file is skipped, the others are converted)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return Problem("unreadable_annotation", str(path), "not a regular file; skipped")
        return path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as exc:
        why = exc.strerror or str(exc)
        return Problem("unreadable_annotation", str(path), f"cannot read it ({why}); skipped")


def parse_annotation(path: Path, side: str) -> tuple[Annotation | None, list[Problem]]:
    """Read an EXPR file; unusable lines become ``None`` labels and are reported with file:line.

    A file that cannot be read is ``unreadable_annotation``; an empty file or one with only its
    header gives no annotation (``empty_annotation``, ``header_only``); a line that is not an
    integer is ``bad_line``; an integer outside -1..7 is ``bad_label``. A first line that is a
    number is not a header: the file lacks it (``missing_header``, reported), so its first line
    is frame 1, not skipped as a header, which would shift every label by one frame.
    """
    text = read_annotation_text(path)
    if isinstance(text, Problem):
        return None, [text]
    lines = annotation_lines(text)
    if not text.strip():
        return None, [Problem("empty_annotation", str(path), "empty annotation file; skipped")]
    problems: list[Problem] = []
    first = 2
    if _is_integer(lines[0]):
        first = 1
        problems.append(
            Problem(
                "missing_header",
                f"{path}:1",
                f"first line {lines[0].strip()!r} is a label, not the header line: the header "
                "is missing, so line 1 is read as frame 1 (not skipped, which would shift "
                "every label by one frame)",
            )
        )
    data = lines[first - 1 :]
    while data and not data[-1].strip():
        data.pop()
    if not data:
        return None, [Problem("header_only", f"{path}:1", "header but no frame lines; skipped")]
    labels: list[int | None] = []
    bad: dict[int, str] = {}
    valid = {AFFWILD2_IGNORE, AFFWILD2_OTHER, *AFFWILD2_TO_CLASS}
    for number, line in enumerate(data, start=first):
        try:
            value = int(line.strip())
        except ValueError:
            problems.append(
                Problem(
                    "bad_line", f"{path}:{number}", f"{line!r} is not an integer; frame skipped"
                )
            )
            bad[len(labels)] = "bad_line"
            labels.append(None)
            continue
        if value not in valid:
            problems.append(
                Problem("bad_label", f"{path}:{number}", f"label {value} is not in -1..7; skipped")
            )
            bad[len(labels)] = "bad_label"
            labels.append(None)
            continue
        labels.append(value)
    return Annotation(path, side, tuple(labels), bad), problems


def _is_integer(line: str) -> bool:
    try:
        int(line.strip())
    except ValueError:
        return False
    return True


def split_stem(annotation_stem: str) -> tuple[str, str]:
    """``'video2_left'`` → ``('video2', 'left')``; an unsuffixed stem is ``'main'``."""
    for suffix, side in SIDE_SUFFIXES.items():
        if annotation_stem.endswith(suffix):
            return annotation_stem[: -len(suffix)], side
    return annotation_stem, "main"


def find_annotation_files(root: Path) -> list[Path]:
    """Every ``*.txt`` in a split folder of an EXPR annotation folder of any release."""
    files: list[Path] = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        if Path(dirpath).name in ANNOTATION_DIRS:
            for split in SPLIT_DIRS:
                files += sorted((Path(dirpath) / split).glob("*.txt"))
            dirnames.clear()
    return files


def find_videos(root: Path) -> tuple[dict[str, Path], list[Problem]]:
    """Video stem → file, searching every folder below ``root`` (crop folders excepted)."""
    found: dict[str, list[Path]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS + ANNOTATION_DIRS)
        for name in filenames:
            path = Path(dirpath) / name
            if path.suffix.lower() in VIDEO_SUFFIXES:
                found.setdefault(path.stem, []).append(path)
    videos: dict[str, Path] = {}
    problems: list[Problem] = []
    for stem, paths in list(found.items()):
        for path in list(paths):
            try:
                os.stat(path)
            except OSError as exc:  # a dangling link, a loop: that file is left out
                why = exc.strerror or str(exc)
                problems.append(Problem("unreadable_video", str(path), f"cannot open it ({why})"))
                paths.remove(path)
        if not paths:
            del found[stem]
    for stem, paths in sorted(found.items()):
        paths.sort(key=lambda p: (VIDEO_SUFFIXES.index(p.suffix.lower()), str(p)))
        videos[stem] = paths[0]
        if len(paths) > 1:
            others = ", ".join(str(p) for p in paths[1:])
            problems.append(
                Problem("duplicate_video", str(paths[0]), f"also found as {others}; using this one")
            )
    return videos, problems


def read_videos_list(path: Path) -> set[str]:
    """Video stems named in a ``--videos-list`` file: one per line, ``#`` comments allowed.

    A line may name the video (``12-24-1920x1080``, with or without extension) or an annotation
    (``video2_left``); both select the whole video.
    """
    try:
        text = os.fsdecode(path.read_bytes())  # names that are not UTF-8 name their files
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the videos list ({exc.strerror})") from exc
    names: set[str] = set()
    for line in annotation_lines(text):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        name = Path(name).name
        if Path(name).suffix.lower() in (*VIDEO_SUFFIXES, ".txt"):
            name = Path(name).stem
        names.add(split_stem(name)[0])
    if not names:
        raise DatasetError(f"{path}: the videos list names no video; one video name per line")
    return names


def _resolve_sides(job: VideoJob, annotations: list[Annotation]) -> None:
    """Fill ``job.persons``; an unsuffixed file beside ``_left`` (``_right``) is the other side."""
    by_side: dict[str, Annotation] = {}
    for annotation in annotations:
        if annotation.side in by_side:
            job.problems.append(
                Problem(
                    "duplicate_annotation",
                    str(annotation.path),
                    f"{by_side[annotation.side].path} already labels this person; skipped",
                )
            )
            continue
        by_side[annotation.side] = annotation
    main = by_side.pop("main", None)
    if main is None or not by_side:
        job.persons = by_side if main is None else {"main": main}
        return
    if len(by_side) == 2:
        job.problems.append(
            Problem(
                "side_conflict",
                str(main.path),
                "both _left and _right files exist, so the side of the unsuffixed one is "
                "unknown; skipped",
            )
        )
        job.persons = by_side
        return
    (side,) = by_side
    job.persons = {side: by_side[side], OTHER_SIDE[side]: main}


def collect_jobs(
    root: Path, videos_list: set[str] | None = None
) -> tuple[list[VideoJob], list[Problem]]:
    """One ``VideoJob`` per video that has annotations, sorted by stem, and the problems found.

    Raises ``DatasetError`` when ``root`` holds no EXPR annotation folder at all.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: Aff-Wild2 folder not found; pass the folder that holds "
                           "annotations/ and videos/")  # fmt: skip
    files = find_annotation_files(root)
    if not files:
        raise DatasetError(
            f"{root}: no EXPR annotations found (looked for {'/'.join(ANNOTATION_DIRS)} folders "
            f"with {'/'.join(SPLIT_DIRS)} inside); pass the Aff-Wild2 root folder"
        )
    videos, problems = find_videos(root)
    grouped: dict[str, list[Annotation]] = {}
    file_problems: dict[str, list[Problem]] = {}
    for path in files:
        stem, side = split_stem(path.stem)
        if videos_list is not None and stem not in videos_list:
            continue
        annotation, found = parse_annotation(path, side)
        file_problems.setdefault(stem, []).extend(found)
        if annotation is not None:
            grouped.setdefault(stem, []).append(annotation)
    jobs: list[VideoJob] = []
    for stem in sorted(set(grouped) | set(file_problems)):
        job = VideoJob(stem, videos.get(stem), problems=file_problems.get(stem, []))
        _resolve_sides(job, grouped.get(stem, []))
        if job.persons and job.video is None:
            job.problems.append(
                Problem(
                    "missing_video",
                    str(next(iter(job.persons.values())).path),
                    f"no video named {stem} with any of {', '.join(VIDEO_SUFFIXES)} below {root}",
                )
            )
        jobs.append(job)
    if videos_list is not None:
        for stem in sorted(videos_list - set(grouped) - set(file_problems)):
            problems.append(
                Problem("not_annotated", stem, "listed in --videos-list but has no annotation")
            )
    return jobs, problems


def _file_key(root: Path, path: Path | None) -> list[object] | None:
    if path is None:
        return None
    stat = path.stat()
    return [os.path.relpath(path, root), stat.st_size, stat.st_mtime_ns]


def jobs_digest(root: Path, jobs: list[VideoJob]) -> str:
    """SHA-256 of a job list: each video and annotation file's path (relative to ``root``, so
    the same data mounted elsewhere on another node matches), size and modification time."""
    rows = [
        [
            job.stem,
            _file_key(root, job.video),
            {side: _file_key(root, a.path) for side, a in sorted(job.persons.items())},
        ]
        for job in jobs
    ]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()
