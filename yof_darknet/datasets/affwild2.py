"""Aff-Wild2 → Darknet: video frames, face boxes from a detector, per-frame expression labels.

``convert_affwild2(root, out_dir, options)`` finds every EXPR annotation and its video
(``affwild2_files``), converts each video (``affwild2_video``: one folder of JPEG frames with
labels beside them and a manifest per video), and returns a ``ConversionResult`` for ``build``.

- Resume: a video whose manifest matches its inputs and settings is not decoded again, and an
  interrupted run leaves only complete files (every write is a temp file + rename).
- ``workers``: videos are converted in that many processes, each with its own detector; never
  more processes than the task's CPUs, which are shared among them (``cluster.split_cpus``: ONNX
  Runtime, OpenCV and FFmpeg threads per worker).
- ``shard=(i, n)``: only every n-th video from the i-th (0-based, in name order) is converted, so
  a cluster's array jobs can split the work (``shards.run_shard`` records how each ended); a
  later run without ``shard`` finds every manifest, converts nothing more and returns the whole
  dataset (the merge, after ``shards.check_shards``).

Skip reasons (faces: one person in one frame): ``label_ignore`` (-1), ``label_other`` (7),
``bad_line``, ``bad_label``, ``missing_video``, ``unreadable_video``, ``no_frame`` (line past the
last decoded frame), ``no_face``, ``unassigned``, ``crowded``, ``unannotated_frame`` (with
``--unannotated drop``: a face beyond the video's annotated people). Files: ``empty_annotation``,
``header_only``, ``missing_header`` (no header line: read from line 1, counted),
``unreadable_annotation`` (cannot be read, or not a regular file: that file is skipped),
``duplicate_annotation``, ``side_conflict``, ``duplicate_video``, ``not_annotated`` (in
``--videos-list`` only), ``unreadable_video`` (not a regular file, no read permission, or no
frame decodes: that video is skipped). A video whose name breaks the safe-name policy
(``formats.safenames``) gets a safe folder name, recorded in ``renamed.tsv``.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.fileio import atomic_write_text, protected, protected_inputs
from yof_darknet.core.owned import Ledger, ensure_real_folder
from yof_darknet.core.progress import Progress
from yof_darknet.datasets.affwild2_files import (
    Problem,
    VideoJob,
    collect_jobs,
    jobs_digest,
    read_videos_list,
)
from yof_darknet.datasets.affwild2_video import VideoResult, convert_video, label_outcome
from yof_darknet.datasets.items import Item
from yof_darknet.datasets.split import SPLIT_BY
from yof_darknet.datasets.stats import ConversionResult, ConversionStats
from yof_darknet.datasets.unannotated import UNANNOTATED, unannotated_summary
from yof_darknet.tools.cluster import available_cpus, split_cpus
from yof_darknet.tools.faces import FaceDetector, create_detector

DATASET = "affwild2"
MAX_REPORTED = 50  # problem messages kept in stats.json (all are counted)

DetectorFactory = Callable[[], FaceDetector]
BEYOND_PEOPLE = (
    "faces beyond the video's annotated people: those none of them takes (the largest face for "
    "one person, the two largest for left/right), whatever their label on the frame"
)


@dataclass(frozen=True)
class AffWild2Options:
    """Options of the Aff-Wild2 stage (CLI names in brackets).

    ``face_threshold`` [--face-threshold], ``face_max_side`` [--face-max-side, 0 = full frame],
    ``frame_stride`` [--frame-stride], ``max_frames_per_video`` [--max-frames-per-video, 0 = all
    frames; counts written frames], ``drop_crowded_frames`` [--drop-crowded-frames],
    ``unannotated`` [--unannotated: faces beyond the video's annotated people], ``split_by``
    [--split-by frames|videos], ``videos_list`` [--videos-list], ``workers``
    [--workers], ``shard`` [--shard I/N, as (I, N)], ``detector`` (a name in faces.DETECTORS),
    ``max_side`` [--max-side: frames shrunk to this long side, 0 = as decoded].
    """

    face_threshold: float = 0.8
    face_max_side: int = 640
    frame_stride: int = 1
    max_frames_per_video: int = 0
    drop_crowded_frames: bool = False
    unannotated: str = "keep"
    split_by: str = "frames"
    videos_list: Path | None = None
    workers: int = 1
    shard: tuple[int, int] | None = None
    detector: str = "retinaface"
    max_side: int = 0

    def __post_init__(self) -> None:
        if self.frame_stride < 1:
            raise DatasetError(f"--frame-stride {self.frame_stride}: use 1 or more")
        if self.max_frames_per_video < 0:
            raise DatasetError("--max-frames-per-video must be 0 (all) or more")
        if self.split_by not in SPLIT_BY:
            raise DatasetError(f"--split-by {self.split_by}: use one of {', '.join(SPLIT_BY)}")
        if self.workers < 1:
            raise DatasetError(f"--workers {self.workers}: use 1 or more")
        if self.unannotated not in UNANNOTATED:
            raise DatasetError(f"--unannotated {self.unannotated}: use one of {UNANNOTATED}")
        if self.shard is not None and not 0 <= self.shard[0] < self.shard[1]:
            raise DatasetError(f"--shard {self.shard[0]}/{self.shard[1]}: need 0 <= I < N")

    def settings(self) -> dict[str, Any]:
        """The options that change what is written for a video (kept in its manifest;
        ``unannotated`` only when not ``keep`` and ``max_side`` only when set, so earlier
        conversions stay valid)."""
        hygiene: dict[str, Any] = (
            {} if self.unannotated == "keep" else {"unannotated": self.unannotated}
        )
        hygiene |= {"max_side": self.max_side} if self.max_side else {}
        return hygiene | {
            "detector": self.detector,
            "face_threshold": self.face_threshold,
            "face_max_side": self.face_max_side,
            "frame_stride": self.frame_stride,
            "max_frames_per_video": self.max_frames_per_video,
            "drop_crowded_frames": self.drop_crowded_frames,
        }


def parse_shard(text: str) -> tuple[int, int]:
    """``'2/8'`` → ``(2, 8)``: the third of eight shards (0-based index)."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise DatasetError(f"--shard {text!r}: write it as I/N, e.g. 0/4") from None
    if not 0 <= index < count:
        raise DatasetError(f"--shard {text}: need 0 <= I < N")
    return index, count


def default_detector_factory(options: AffWild2Options, threads: int = 1) -> DetectorFactory:
    """The options' detector, running ``threads`` ONNX Runtime threads."""
    return partial(
        create_detector,
        options.detector,
        threshold=options.face_threshold,
        max_side=options.face_max_side,
        threads=threads,
    )


def _limit_threads(threads: int) -> None:
    """OpenCV's own pool (resize, JPEG encode) in this process: ``threads``, not the node's."""
    import cv2

    cv2.setNumThreads(threads)


def _convert_in_worker(
    job: VideoJob,
    out_dir: Path,
    settings: dict[str, Any],
    factory: DetectorFactory,
    threads: int,
    inputs: tuple[list[str], list[str]],
) -> tuple[VideoResult, bool]:
    with protected(*inputs[0], *inputs[1]):  # the parent's read-only inputs, in this process too
        return convert_video(job, out_dir, settings, factory(), threads=threads)


def _count_unconverted(stats: ConversionStats, job: VideoJob, reason: str, stride: int) -> None:
    """Count the sampled lines of a video that cannot be decoded at all."""
    for annotation in job.persons.values():
        for index in range(len(annotation.labels)):
            if index % stride == 0:
                class_id, skip = label_outcome(annotation, index)
                stats.add(skip or reason, [class_id])


def _run_videos(
    jobs: list[VideoJob],
    out_dir: Path,
    options: AffWild2Options,
    factory: DetectorFactory | None,
    progress: bool,
) -> list[tuple[VideoResult, bool]]:
    if not jobs:
        return []
    settings = options.settings()
    workers, threads = split_cpus(min(options.workers, len(jobs)), available_cpus())
    factory = factory or default_detector_factory(options, threads)
    reporter = Progress("affwild2: videos", total=len(jobs), unit="video", enabled=progress)
    results: list[tuple[VideoResult, bool]] = []
    with reporter:
        if workers == 1:
            _limit_threads(threads)
            detector = factory()
            for job in jobs:
                results.append(convert_video(job, out_dir, settings, detector, threads=threads))
                reporter.update()
            return results
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_limit_threads, initargs=(threads,)
        ) as pool:
            inputs = protected_inputs()
            futures = [
                pool.submit(_convert_in_worker, job, out_dir, settings, factory, threads, inputs)
                for job in jobs
            ]
            try:
                for future in futures:
                    results.append(future.result())
                    reporter.update()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return results


def _summarise(
    stats: ConversionStats,
    results: list[tuple[VideoResult, bool]],
    problems: list[Problem],
    out_dir: Path,
    split_by: str,
    mode: str = "keep",
) -> list[Item]:
    items: list[Item] = []
    histogram: Counter[int] = Counter()
    differences: dict[str, int] = {}
    messages = [str(problem) for problem in problems]
    reasons = Counter(problem.reason for problem in problems)
    frames_read = frames_detected = 0
    hygiene: dict[str, Counter[int]] = {}
    hygiene_totals: Counter[str] = Counter()
    for result, _ in results:
        hygiene_totals.update(result.unannotated_totals)
        for what, per_class in result.unannotated.items():
            hygiene.setdefault(what, Counter()).update(per_class)
        for outcome, per_class in result.counts.items():
            for class_id, count in per_class.items():
                stats.add(outcome, [class_id] * count)
        folder = out_dir / result.folder
        for name, classes in result.frames:
            image = folder / name
            group = f"{DATASET}:{result.stem}" if split_by == "videos" else str(image)
            items.append(Item(image, DATASET, group, tuple(classes)))
        frames_read += result.frames_read
        frames_detected += result.frames_detected
        histogram.update(result.faces_per_frame)
        differences |= {
            name: length["difference"]
            for name, length in result.lengths.items()
            if length["difference"]
        }
        messages += result.problems
        reasons["unreadable_video"] += not result.lengths  # lengths exist once a frame decodes
    reasons = +reasons
    if mode != "keep":
        stats.details["unannotated"] = unannotated_summary(
            mode, frames_detected, dict(hygiene_totals), hygiene, match_rule=BEYOND_PEOPLE
        )
    stats.details.update(
        {
            "videos": len(results),
            "videos_resumed": sum(resumed for _, resumed in results),
            "frames_read": frames_read,
            "frames_detected": frames_detected,
            "frames_labelled": len(items),
            "faces_per_frame": {str(n): histogram[n] for n in sorted(histogram)},
            "frame_count_differences": dict(sorted(differences.items())),
            "problems_by_reason": dict(sorted(reasons.items())),
            "problems": messages[:MAX_REPORTED],
            "problems_total": len(messages),
        }
    )
    return items


def _record_renames(out_dir: Path, renamed: dict[str, str], stats: ConversionStats) -> None:
    """``renamed.tsv``: each video whose frames folder is not named as the video."""
    path = out_dir / "renamed.tsv"
    ledger = Ledger(ensure_real_folder(out_dir))
    if renamed:
        ledger.record([path.name])
        table = "".join(f"{old}\t{new}\n" for old, new in sorted(renamed.items()))
        atomic_write_text(path, "original\toutput\n" + table)
        stats.details["renamed_file"] = str(path)
    else:
        ledger.remove(path.name)
    stats.details["renamed"] = len(renamed)


def convert_affwild2(
    root: Path,
    out_dir: Path,
    options: AffWild2Options | None = None,
    *,
    detector_factory: DetectorFactory | None = None,
    progress: bool = False,
) -> ConversionResult:
    """Convert the Aff-Wild2 release under ``root`` into ``out_dir`` (``OUT/affwild2``).

    ``detector_factory`` builds the face detector (once, or once per video in each worker
    process, where it must be picklable); by default RetinaFace from ``options``.
    """
    options = options or AffWild2Options()
    root, out_dir = Path(root), Path(out_dir).resolve()
    videos_list = read_videos_list(options.videos_list) if options.videos_list else None
    jobs, problems = collect_jobs(root, videos_list)
    if options.shard is not None:
        index, count = options.shard
        jobs = jobs[index::count]
    stats = ConversionStats(DATASET, str(root.resolve()))
    runnable: list[VideoJob] = []
    for job in jobs:
        problems += job.problems
        if not job.persons:
            continue
        if job.video is None:
            _count_unconverted(stats, job, "missing_video", options.frame_stride)
        else:
            runnable.append(job)
    inputs = [p for job in runnable for p in (job.video, *(a.path for a in job.persons.values()))]
    folders = {os.path.dirname(os.path.realpath(path)) for path in inputs if path is not None}
    # the raw tree, and the folders its files really are in (links in the raw folder resolved)
    with protected(root, *sorted(folders)):
        results = _run_videos(runnable, out_dir, options, detector_factory, progress)
    items = _summarise(stats, results, problems, out_dir, options.split_by, options.unannotated)
    if options.shard is None:
        renamed = {result.stem: result.folder for result, _ in results}
        _record_renames(out_dir, {k: v for k, v in renamed.items() if k != v}, stats)
    else:
        stats.details["shard"] = f"{options.shard[0]}/{options.shard[1]}"
        stats.details["shard_inputs"] = {"videos": len(jobs), "sha256": jobs_digest(root, jobs)}
    return ConversionResult(items, stats)
