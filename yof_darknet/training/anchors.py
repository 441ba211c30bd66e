"""Anchor boxes by k-means on the training boxes, with ``1 - IoU`` as the distance.

Boxes are compared by width and height only (centred on each other), at the network size, as
darknet's ``calc_anchors`` does. Several k-means++ restarts; the run with the best mean IoU
(each box against its best anchor) wins. Example::

    report = compute_anchors(Path("data/darknet/obj.data"), num=6, size=(416, 416))
    report.anchors_wh, report.mean_iou, report.default_mean_iou
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yof_darknet.core.errors import DarknetError, DatasetError
from yof_darknet.core.fileio import atomic_write_text
from yof_darknet.formats.cfg import (
    dump_cfg,
    leading_comments,
    read_cfg,
    set_anchors,
    set_classes,
    validate_cfg,
    yolo_heads,
)
from yof_darknet.formats.labels import label_path, read_labels
from yof_darknet.formats.objdata import read_obj_data
from yof_darknet.training.archs import get_arch
from yof_darknet.training.options import ANCHOR_RULES

# yolov3-tiny's COCO anchors (pixels at 416x416), the template's default
DEFAULT_ANCHORS_WH: tuple[tuple[int, int], ...] = (
    (10, 14), (23, 27), (37, 58), (81, 82), (135, 169), (344, 319),
)  # fmt: skip


def arch_default_anchors(arch: str | None, size: tuple[int, int]) -> list[tuple[int, int]]:
    """The COCO anchors of ``arch``'s template (6 or 9, as its heads need), scaled from the
    template's network size to ``size`` (width, height)."""
    sections = read_cfg(get_arch(arch).template)
    head = sections[yolo_heads(sections)[0]]
    numbers = head.ints("anchors")
    ref_w, ref_h = int(sections[0].get("width", "416")), int(sections[0].get("height", "416"))
    return [
        (max(1, round(w * size[0] / ref_w)), max(1, round(h * size[1] / ref_h)))
        for w, h in zip(numbers[::2], numbers[1::2], strict=True)
    ]


_SIZE_STEP = np.log(1.002)  # group box sizes that differ by less than 0.2 %
_CONVERGED_PX = 0.01
_RESTART_SAMPLE = 20_000  # distinct sizes above which restarts run on a sample


@dataclass(frozen=True)
class AnchorReport:
    anchors_wh: list[tuple[int, int]]  # pixels at the network size, smallest area first
    mean_iou: float  # of the computed anchors (0..1)
    default_mean_iou: float  # of DEFAULT_ANCHORS_WH scaled from 416 to the network size
    boxes: int
    missing_labels: int  # images of the train list without a label file
    skipped_boxes: int  # zero-size boxes


def find_label(image: Path) -> Path | None:
    """The label file darknet would use: beside the image (hank-ai), else AlexeyAB's mapping."""
    for candidate in (label_path(image, "hank-ai"), label_path(image)):
        if candidate.is_file():
            return candidate
    return None


def load_boxes_wh(obj_data: Path) -> tuple[np.ndarray, int, int]:
    """Normalised (w, h) of every training box, the images without labels, the zero-size boxes."""
    obj = read_obj_data(obj_data)
    sizes: list[tuple[float, float]] = []
    missing = skipped = 0
    for image in obj.read_list("train"):
        path = find_label(image if image.is_absolute() else obj.train.parent / image)
        if path is None:
            missing += 1
            continue
        for label in read_labels(path):
            if label.w <= 0 or label.h <= 0:
                skipped += 1
                continue
            sizes.append((label.w, label.h))
    return np.asarray(sizes, dtype=np.float64).reshape(-1, 2), missing, skipped


def iou_wh(boxes_wh: np.ndarray, anchors_wh: np.ndarray) -> np.ndarray:
    """IoU of centred boxes, shape (N, K), from (N, 2) boxes and (K, 2) anchors."""
    inter = np.minimum(boxes_wh[:, None, 0], anchors_wh[None, :, 0]) * np.minimum(
        boxes_wh[:, None, 1], anchors_wh[None, :, 1]
    )
    area_b = boxes_wh[:, 0] * boxes_wh[:, 1]
    area_a = anchors_wh[:, 0] * anchors_wh[:, 1]
    return inter / (area_b[:, None] + area_a[None, :] - inter)


def mean_best_iou(
    boxes_wh: np.ndarray, anchors_wh: np.ndarray, counts: np.ndarray | None = None
) -> float:
    """Mean over boxes of the IoU with the best-fitting anchor (``counts``: box multiplicities)."""
    return float(np.average(iou_wh(boxes_wh, anchors_wh).max(axis=1), weights=counts))


def _seed(sizes: np.ndarray, counts: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding with d = 1 - IoU."""
    centers = sizes[[rng.choice(len(sizes), p=counts / counts.sum())]]
    while len(centers) < k:
        weights = counts * (1 - iou_wh(sizes, centers).max(axis=1)) ** 2
        pick = rng.choice(len(sizes), p=weights / weights.sum()) if weights.sum() > 0 else 0
        centers = np.vstack([centers, sizes[pick]])
    return centers


def _lloyd(
    sizes: np.ndarray, counts: np.ndarray, centers: np.ndarray, iterations: int
) -> np.ndarray:
    """Weighted k-means steps (assign by best IoU, move to the weighted mean) until settled."""
    k = len(centers)
    for _ in range(iterations):
        nearest = iou_wh(sizes, centers).argmax(axis=1)
        total = np.bincount(nearest, weights=counts, minlength=k)
        moved = centers.copy()
        for axis in (0, 1):
            summed = np.bincount(nearest, weights=counts * sizes[:, axis], minlength=k)
            mean = summed / np.maximum(total, 1e-12)
            moved[:, axis] = np.where(total > 0, mean, centers[:, axis])
        shift = np.abs(moved - centers).max()
        centers = moved
        if shift < _CONVERGED_PX:
            break
    return centers


def kmeans_anchors(
    boxes_wh: np.ndarray, k: int, *, restarts: int = 10, seed: int = 0, iterations: int = 300
) -> np.ndarray:
    """The best of ``restarts`` k-means runs by mean IoU; (k, 2), smallest area first.

    Boxes are grouped by size rounded to 0.2 % (a weighted problem on fewer points). With many
    distinct sizes the restarts run on a weighted sample of them and the best result is then
    refined on all. A run stops when no anchor moves by 0.01 px (anchors become whole pixels).
    """
    if len(boxes_wh) < k:
        raise DarknetError(f"{len(boxes_wh)} boxes are too few for {k} anchors")
    grouped = np.exp(np.round(np.log(boxes_wh) / _SIZE_STEP) * _SIZE_STEP)
    sizes, counts = np.unique(grouped, axis=0, return_counts=True)
    if len(sizes) < k:
        raise DarknetError(f"{len(sizes)} distinct box sizes are too few for {k} anchors")
    counts = counts.astype(np.float64)
    rng = np.random.default_rng(seed)
    trial_sizes, trial_counts = sizes, counts
    if len(sizes) > _RESTART_SAMPLE:
        pick = rng.choice(len(sizes), size=_RESTART_SAMPLE, p=counts / counts.sum())
        trial_sizes, trial_counts = np.unique(sizes[pick], axis=0, return_counts=True)
        trial_counts = trial_counts.astype(np.float64)
    best, best_iou = None, -1.0
    if restarts < 1:
        raise DarknetError(f"--restarts {restarts}: k-means needs at least 1 run")
    for _ in range(restarts):
        centers = _lloyd(
            trial_sizes, trial_counts, _seed(trial_sizes, trial_counts, k, rng), iterations
        )
        score = mean_best_iou(trial_sizes, centers, trial_counts)
        if score > best_iou:
            best, best_iou = centers, score
    assert best is not None  # restarts >= 1
    if trial_sizes is not sizes:
        best = _lloyd(sizes, counts, best, iterations)
    return best[np.argsort(best[:, 0] * best[:, 1])]


def compute_anchors(
    obj_data: Path,
    num: int = 6,
    size: tuple[int, int] = (416, 416),
    *,
    restarts: int = 10,
    default_wh: list[tuple[int, int]] | None = None,
) -> AnchorReport:
    """Anchors for the train list of ``obj_data`` at network ``size`` (width, height);
    ``default_wh``: the anchors to compare with (yolov3-tiny's scaled from 416 when None)."""
    boxes, missing, skipped = load_boxes_wh(obj_data)
    if not len(boxes):
        raise DatasetError(f"{obj_data}: no training boxes found (label files beside the images?)")
    scale = np.asarray(size, dtype=np.float64)
    pixels = boxes * scale
    centers = kmeans_anchors(pixels, num, restarts=restarts)
    anchors = [(max(1, round(w)), max(1, round(h))) for w, h in centers]
    if default_wh is None:
        default = np.asarray(DEFAULT_ANCHORS_WH, dtype=np.float64) * scale / 416
    else:
        default = np.asarray(default_wh, dtype=np.float64)
    return AnchorReport(
        anchors,
        mean_best_iou(pixels, np.asarray(anchors, dtype=np.float64)),
        mean_best_iou(pixels, default),
        len(boxes),
        missing,
        skipped,
    )


def apply_anchors(cfg: Path, anchors_wh: list[tuple[int, int]]) -> None:
    """Write ``anchors_wh`` into every ``[yolo]`` of ``cfg`` (masks and filters follow)."""
    sections = read_cfg(cfg)
    heads = yolo_heads(sections)
    if not heads:
        raise DarknetError(f"{cfg}: no [yolo] layer to put anchors in")
    classes = int(sections[heads[0]].get("classes", "0") or 0)
    set_anchors(sections, anchors_wh)
    set_classes(sections, classes)
    validate_cfg(sections, str(cfg))
    header = leading_comments(Path(cfg).read_text())
    header += "\nanchors from k-means on the training boxes (yof-darknet anchors --apply)"
    atomic_write_text(Path(cfg), dump_cfg(sections, header.strip("\n")))


def choose_anchors(obj_data: Path, cfg: Path, rule: str = "auto", arch: str | None = None) -> str:
    """Put the anchors ``rule`` picks into ``cfg`` and record why in ``anchors.json`` beside it.

    ``kmeans``: k-means on the training boxes at the cfg's network size, as many anchors as
    ``arch``'s heads take (6 or 9); ``default``: ``arch``'s COCO anchors scaled to that size;
    ``auto``: k-means when its mean IoU with the training boxes beats the defaults'. Returns a
    one-line summary.
    """
    if rule not in ANCHOR_RULES:
        raise DarknetError(f"anchors rule {rule!r}: use one of {', '.join(ANCHOR_RULES)}")
    sections = read_cfg(cfg)
    net = sections[0]
    size = (int(net.get("width", "416")), int(net.get("height", "416")))
    default = arch_default_anchors(arch, size)
    try:
        report: AnchorReport | None = compute_anchors(
            obj_data, len(default), size, default_wh=default
        )
    except DatasetError:
        report = None  # no training boxes: nothing to fit (darknet will say what is wrong)
    except DarknetError:
        if rule == "kmeans":
            raise
        report = None  # fewer boxes than the heads take anchors (9 for a 3-head network)
    use_kmeans = report is not None and (
        rule == "kmeans" or (rule == "auto" and report.mean_iou > report.default_mean_iou)
    )
    chosen = report.anchors_wh if use_kmeans and report is not None else default
    apply_anchors(cfg, chosen)
    record = {
        "rule": rule,
        "chosen": "kmeans" if use_kmeans else "default",
        "network_size": list(size),
        "anchors": [list(a) for a in chosen],
        "kmeans": None if report is None else [list(a) for a in report.anchors_wh],
        "kmeans_mean_iou": None if report is None else round(report.mean_iou, 6),
        "default": [list(a) for a in default],
        "default_mean_iou": None if report is None else round(report.default_mean_iou, 6),
        "boxes": 0 if report is None else report.boxes,
    }
    atomic_write_text(Path(cfg).parent / "anchors.json", json.dumps(record, indent=2) + "\n")
    text = ", ".join(f"{w},{h}" for w, h in chosen)
    if report is None:
        why = "no or too few training boxes to fit"
        return f"anchors: {text} (defaults at {size[0]}x{size[1]}: {why})"
    return (
        f"anchors: {text} ({record['chosen']} at {size[0]}x{size[1]}, rule {rule}: mean IoU "
        f"k-means {report.mean_iou:.3f}, defaults {report.default_mean_iou:.3f})"
    )
