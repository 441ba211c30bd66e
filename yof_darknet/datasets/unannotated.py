"""Faces the dataset did not annotate: find them with the face detector, then keep, mask or drop.

ExpW annotates one face per row of ``label.lst``, and many of its images show more people than
it has rows for (the paper's Fig. 1). A face left unannotated in a training image teaches the
detector that a face is background. ``find_unannotated`` runs the face detector (RetinaFace, as
for Aff-Wild2) over each image and calls a detected face *annotated* when it matches any
``label.lst`` row of that image (kept or dropped by the converter), else *unannotated*.

Matching rule (``MATCH_IOS``): a detection matches a row when their intersection covers at least
half of the *smaller* of the two boxes (intersection over the smaller box, IoS >= 0.5). ExpW's
boxes are tight face boxes, RetinaFace's reach further (forehead, chin) and are offset
differently, so IoU of one and the same face is often low (0.3-0.6), while IoS stays high (on
the sample's drawn faces RetinaFace fires on, the worst match has IoS 0.90); two different
people rarely cover half of each other.

What ``--unannotated`` does with an image holding such a face:

- ``keep`` (the paper): nothing; the detector does not run.
- ``report``: the detector runs and the faces are counted (stats.json), the images stay as they are.
- ``mask``: the image is written as a PNG copy (lossless: only the masked pixels differ from the
  raw image; the raw file is never changed) with each unannotated face's box, grown by
  ``MASK_MARGIN`` of its width (height) on each side, filled with the image's mean colour;
  pixels inside a kept annotated box are never painted over.
- ``drop``: the image is left out (its faces count as skipped, reason ``unannotated_image``).

Detections are cached (``FaceCache``): one JSON file per chunk of ``CHUNK`` images in name order,
each entry keyed by the image name and the raw file's size and modification time, under the
detector's settings. A re-run detects only images that are new or changed; shards (``shard=(i,
n)``: every n-th chunk from the i-th) fill the same cache, and a later plain run finds every
chunk done (the merge).
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.expressions import CLASSES
from yof_darknet.core.fileio import atomic_write_text, protected, protected_inputs
from yof_darknet.core.progress import Progress
from yof_darknet.formats.imagefiles import read_image as decode_image
from yof_darknet.tools.cluster import available_cpus, split_cpus
from yof_darknet.tools.faces import create_detector, crop_box

UNANNOTATED = ("keep", "report", "mask", "drop")
MATCH_IOS = 0.5
MASK_MARGIN = 0.15
CHUNK = 256  # images per cache file
CACHE_VERSION = 1
CACHE_FOLDER = "face_cache"


def read_image(path: Path | str) -> np.ndarray | None:
    """The image's stored pixels as BGR, or None when OpenCV cannot read it.

    EXIF orientation is not applied, as Darknet (stb_image) does not: the detector's boxes,
    ``label.lst``'s and the mask all live in the stored pixel array's coordinates.
    """
    import cv2

    return decode_image(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)


def match_faces(detected_xyxy: np.ndarray, rows_xyxy: np.ndarray, min_ios: float = MATCH_IOS):
    """Which detected boxes (N, 4) match at least one row box (M, 4): intersection over the
    smaller box >= ``min_ios``. Returns a bool array of N.

    >>> detected = np.array([[10, 10, 50, 60], [100, 10, 140, 60]])
    >>> rows = np.array([[15, 20, 45, 55]])  # a tight box inside the first detection
    >>> match_faces(detected, rows).tolist()
    [True, False]
    """
    detected = np.asarray(detected_xyxy, dtype=np.float64).reshape(-1, 4)
    rows = np.asarray(rows_xyxy, dtype=np.float64).reshape(-1, 4)
    if not len(detected) or not len(rows):
        return np.zeros(len(detected), dtype=bool)
    low = np.maximum(detected[:, None, :2], rows[None, :, :2])
    high = np.minimum(detected[:, None, 2:], rows[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=2)
    area_d = np.prod(np.clip(detected[:, 2:] - detected[:, :2], 0, None), axis=1)
    area_r = np.prod(np.clip(rows[:, 2:] - rows[:, :2], 0, None), axis=1)
    smaller = np.minimum(area_d[:, None], area_r[None, :])
    ios = np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0)
    return (ios >= min_ios).any(axis=1)


def mask_image(
    image_bgr: np.ndarray,
    faces_xyxy: Sequence[Sequence[float]],
    keep_xyxy: Sequence[Sequence[float]] = (),
    margin: float = MASK_MARGIN,
) -> np.ndarray:
    """A copy of ``image_bgr`` with each face box (grown by ``margin``, ``faces.crop_box``) filled
    with the image's mean colour; pixels inside the ``keep_xyxy`` boxes are left as they were."""
    height, width = image_bgr.shape[:2]
    painted = np.zeros((height, width), dtype=bool)
    for box in faces_xyxy:
        left, top, right, bottom = crop_box(tuple(box), (width, height), margin)  # type: ignore[arg-type]
        painted[top:bottom, left:right] = True
    for box in keep_xyxy:
        x1, y1, x2, y2 = (round(v) for v in box)
        painted[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = False
    out = image_bgr.copy()
    out[painted] = image_bgr.reshape(-1, image_bgr.shape[2]).mean(axis=0).round().astype(np.uint8)
    return out


@dataclass(frozen=True)
class DetectorSettings:
    """What decides the detections of an image (kept in every cache file)."""

    detector: str = "retinaface"
    threshold: float = 0.8
    max_side: int = 640

    def as_dict(self) -> dict[str, Any]:
        return {"detector": self.detector, "threshold": self.threshold, "max_side": self.max_side}


def _key(path: Path) -> list[int]:
    info = os.stat(path)
    return [info.st_size, info.st_mtime_ns]


def _detect_chunk(
    image_dir: Path, names: list[str], settings: DetectorSettings, threads: int, known: dict
) -> dict[str, Any]:
    """Cache entries of ``names``: known ones reused when their file is unchanged, others
    detected (an unreadable image gets ``faces: None``)."""
    detector = None
    entries: dict[str, Any] = {}
    for name in names:
        path = image_dir / name
        key = _key(path)
        entry = known.get(name)
        if entry is not None and entry["key"] == key:
            entries[name] = entry
            continue
        if detector is None:
            detector = create_detector(
                settings.detector,
                threshold=settings.threshold,
                max_side=settings.max_side,
                threads=threads,
            )
        image = read_image(path)
        faces = None
        if image is not None:
            found = detector.detect(image)
            faces = [[round(v, 2) for v in f.xyxy] + [round(f.score, 4)] for f in found]
        entries[name] = {"key": key, "faces": faces}
    return entries


def _chunk_in_worker(args: tuple, inputs: tuple[list[str], list[str]]) -> tuple[int, dict, int]:
    import cv2

    index, image_dir, names, settings, threads, known, path = args
    cv2.setNumThreads(threads)
    with protected(*inputs[0], *inputs[1]):
        return _run_chunk(index, image_dir, names, settings, threads, known, path)


def _run_chunk(index, image_dir, names, settings, threads, known, path) -> tuple[int, dict, int]:
    entries = _detect_chunk(image_dir, names, settings, threads, known)
    detected = sum(known.get(n) is None or known[n]["key"] != e["key"] for n, e in entries.items())
    if detected:
        record = {"version": CACHE_VERSION, "settings": settings.as_dict(), "images": entries}
        atomic_write_text(path, json.dumps(record, separators=(",", ":")) + "\n")
    return index, entries, detected


def _known(known: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {name: known[name] for name in names if name in known}


class FaceCache:
    """Detections of the images of one dataset, in ``folder`` (``OUT/<dataset>/face_cache``)."""

    def __init__(self, folder: Path, settings: DetectorSettings, dataset: str = "expw") -> None:
        self.folder = Path(folder)
        self.settings = settings
        self.dataset = dataset

    def chunk_path(self, index: int) -> Path:
        return self.folder / f"chunk-{index:06d}.json"

    def load(self) -> dict[str, Any]:
        """Every entry of every cache file written with these settings (others are ignored)."""
        entries: dict[str, Any] = {}
        if not self.folder.is_dir():
            return entries
        for path in sorted(self.folder.glob("chunk-*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # rewritten when its chunk runs
            wanted = {"version": CACHE_VERSION, "settings": self.settings.as_dict()}
            if all(record.get(k) == v for k, v in wanted.items()):
                entries.update(record.get("images", {}))
        return entries

    def detect(
        self,
        image_dir: Path,
        names: Sequence[str],
        *,
        workers: int = 1,
        shard: tuple[int, int] | None = None,
        progress: bool = False,
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """Entries (``{"key", "faces": [[x1, y1, x2, y2, score], ...] | None}``) of ``names``
        (of this shard's chunks only, with ``shard``) and how many were detected / reused."""
        names = sorted(names)
        known = self.load()
        chunks = [(i, names[s : s + CHUNK]) for i, s in enumerate(range(0, len(names), CHUNK))]
        if shard is not None:
            chunks = chunks[shard[0] :: shard[1]]
        todo = [
            (i, chunk)
            for i, chunk in chunks
            if any(known.get(n) is None or known[n]["key"] != _key(image_dir / n) for n in chunk)
        ]
        pending = {i for i, _ in todo}
        result = {n: known[n] for i, chunk in chunks if i not in pending for n in chunk}
        counts = {"images": sum(len(c) for _, c in chunks), "detected": 0}
        workers, threads = split_cpus(min(workers, max(1, len(todo))), available_cpus())
        total = sum(len(c) for _, c in todo)
        jobs = [
            (i, image_dir, chunk, self.settings, threads, _known(known, chunk), self.chunk_path(i))
            for i, chunk in todo
        ]
        with Progress(
            f"{self.dataset}: faces", total=total, unit="img", enabled=progress
        ) as reporter:
            if workers == 1:
                for job in jobs:
                    _, entries, detected = _run_chunk(*job)
                    result.update(entries)
                    counts["detected"] += detected
                    reporter.update(len(entries))
            else:
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(workers, mp_context=context) as pool:
                    work = partial(_chunk_in_worker, inputs=protected_inputs())
                    for _, entries, detected in pool.map(work, jobs):
                        result.update(entries)
                        counts["detected"] += detected
                        reporter.update(len(entries))
        counts["reused"] = counts["images"] - counts["detected"]
        return result, counts


@dataclass(frozen=True)
class UnannotatedOptions:
    """``--unannotated`` (``mode``, one of ``UNANNOTATED``), the detector and its processes."""

    mode: str = "keep"
    detector: DetectorSettings = DetectorSettings()
    workers: int = 1
    shard: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.mode not in UNANNOTATED:
            raise DatasetError(f"--unannotated {self.mode}: use one of {', '.join(UNANNOTATED)}")
        if self.workers < 1:
            raise DatasetError(f"--workers {self.workers}: use 1 or more")


SUMMARY_KEYS = {  # stats.json key → the count it holds
    "images_with_unannotated": "frames",
    "unannotated_faces": "faces",
    "masked_images": "masked",
    "dropped_images": "dropped",
}


def unannotated_summary(
    mode: str,
    checked: int,
    totals: dict[str, int],
    per_class: dict[str, Counter[int]],
    *,
    match_rule: str = f"intersection over the smaller box >= {MATCH_IOS}",
    classes: Sequence[str] = CLASSES,
    **extra: Any,
) -> dict[str, Any]:
    """stats.json's ``unannotated`` block: ``totals`` and ``per_class`` (class id → count) of
    ``frames`` (images or frames with an unannotated face), ``faces``, ``masked``, ``dropped``;
    an image counts under every class of its kept faces."""
    counts = {
        name: {key: per_class.get(what, Counter())[class_id] for key, what in SUMMARY_KEYS.items()}
        for class_id, name in enumerate(classes)
    }
    return {
        "mode": mode,
        "match_rule": match_rule,
        "mask_margin": MASK_MARGIN,
        "images_checked": checked,
        **{key: totals.get(what, 0) for key, what in SUMMARY_KEYS.items()},
        **extra,
        "classes": counts,
    }


@dataclass
class Findings:
    """What ``find_unannotated`` found: per image, the unannotated faces (x1, y1, x2, y2, score)."""

    faces: dict[str, list[list[float]]]
    unreadable: list[str]
    cache: dict[str, int]

    def summary(
        self,
        mode: str,
        classes_by_image: dict[str, tuple[int, ...]],
        checked: int,
        class_names: Sequence[str] = CLASSES,
    ) -> dict[str, Any]:
        """stats.json's ``unannotated`` block (``unannotated_summary``)."""
        acted = {"mask": "masked", "drop": "dropped"}.get(mode)
        per_class: dict[str, Counter[int]] = {}
        for image, faces in self.faces.items():
            classes = set(classes_by_image.get(image, ()))
            for what, count in (("frames", 1), ("faces", len(faces)), (acted, 1)):
                if what is not None:
                    per_class.setdefault(what, Counter()).update(dict.fromkeys(classes, count))
        images = len(self.faces)
        totals = {"frames": images, "faces": sum(len(f) for f in self.faces.values())}
        if acted:
            totals[acted] = images
        return unannotated_summary(
            mode,
            checked,
            totals,
            per_class,
            classes=class_names,
            images_unreadable=len(self.unreadable),
            unreadable_examples=self.unreadable[:5],
            cache=self.cache,
        )


def find_unannotated(
    image_dir: Path,
    rows_by_image: dict[str, np.ndarray],
    cache: FaceCache,
    options: UnannotatedOptions,
    progress: bool = False,
) -> Findings:
    """Detect faces in every image of ``rows_by_image`` (name → (M, 4) xyxy boxes of all its
    ``label.lst`` rows) and keep those that match no row."""
    entries, counts = cache.detect(
        image_dir, list(rows_by_image), workers=options.workers, progress=progress
    )
    found: dict[str, list[list[float]]] = {}
    unreadable: list[str] = []
    for name in sorted(rows_by_image):
        faces = entries[name]["faces"]
        if faces is None:
            unreadable.append(name)
            continue
        boxes = np.asarray(faces, dtype=np.float64).reshape(-1, 5)
        loose = boxes[~match_faces(boxes[:, :4], rows_by_image[name])]
        if len(loose):
            found[name] = loose.tolist()
    return Findings(found, unreadable, counts)
