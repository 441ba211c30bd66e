"""Average precision exactly as AlexeyAB's ``detector map`` (``validate_detector_map``) computes it.

Staged like pycocotools: ``match`` (each detection to its best ground-truth box) → ``accumulate``
(rank all detections, precision/recall per class, counts at ``conf_thresh``) → ``summarize``
(AP per class, mAP). Darknet's rules, reproduced here on purpose:

* a detection record is one (box, class) pair with probability > 0 (Darknet keeps > 0.005 after
  NMS 0.45); boxes are normalised ``cx, cy, w, h`` and IoU is computed in float32 like ``box_iou``;
* a detection matches the same-class ground truth of its image with the largest IoU, if that IoU
  is > ``iou_thresh`` (first one wins a tie); it is not re-matched to another box when that one
  is taken: a second detection of a matched box is a false positive (a duplicate);
* all records of all classes are sorted once by probability, descending, keeping their original
  order among equal probabilities (glibc's ``qsort`` is a merge sort, hence stable);
* AP is the area under the interpolated PR curve at each unique recall (``points=0``), or the mean
  of the interpolated precision at 11 / 101 recall points; the mAP averages all classes, and a
  class without ground truth counts as 0;
* TP/FP at ``conf_thresh`` (0.25) count records with probability > 0.25: a TP is the first record
  in processing order (not score order) that matches its ground-truth box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from yof_darknet.formats.mapresult import ClassAP, MapResult


@dataclass(frozen=True)
class EvalParams:
    """``iou_thresh`` for a match, ``points`` (0 = area under curve, 11, 101), ``conf_thresh``."""

    iou_thresh: float = 0.5
    points: int = 0
    conf_thresh: float = 0.25


@dataclass(frozen=True)
class Detections:
    """N detection records in Darknet's processing order (image by image, box by box, class).

    ``image`` (N,) int64 index into the image list; ``class_id`` (N,) int64; ``score`` (N,)
    float32; ``box`` (N, 4) float32 normalised ``cx, cy, w, h``.
    """

    image: np.ndarray
    class_id: np.ndarray
    score: np.ndarray
    box: np.ndarray

    @staticmethod
    def from_arrays(
        image: Sequence[int] | np.ndarray,
        class_id: Sequence[int] | np.ndarray,
        score: Sequence[float] | np.ndarray,
        box: Sequence[Sequence[float]] | np.ndarray,
    ) -> Detections:
        return Detections(
            np.asarray(image, dtype=np.int64).reshape(-1),
            np.asarray(class_id, dtype=np.int64).reshape(-1),
            np.asarray(score, dtype=np.float32).reshape(-1),
            np.asarray(box, dtype=np.float32).reshape(-1, 4),
        )

    def __len__(self) -> int:
        return len(self.score)

    def select(self, index: np.ndarray) -> Detections:
        """The records at ``index`` (an int array or a boolean mask), in that order."""
        return Detections(
            self.image[index], self.class_id[index], self.score[index], self.box[index]
        )


@dataclass(frozen=True)
class GroundTruth:
    """M labelled boxes, image by image in list order, file order within an image.

    ``image`` (M,) int64 non-decreasing; ``class_id`` (M,) int64; ``box`` (M, 4) float32
    normalised ``cx, cy, w, h``; ``num_images`` the length of the image list.
    """

    image: np.ndarray
    class_id: np.ndarray
    box: np.ndarray
    num_images: int

    @staticmethod
    def from_arrays(
        image: Sequence[int] | np.ndarray,
        class_id: Sequence[int] | np.ndarray,
        box: Sequence[Sequence[float]] | np.ndarray,
        num_images: int,
    ) -> GroundTruth:
        image_arr = np.asarray(image, dtype=np.int64).reshape(-1)
        if np.any(np.diff(image_arr) < 0):
            raise ValueError("ground truth must be ordered by image index")
        return GroundTruth(
            image_arr,
            np.asarray(class_id, dtype=np.int64).reshape(-1),
            np.asarray(box, dtype=np.float32).reshape(-1, 4),
            int(num_images),
        )

    def __len__(self) -> int:
        return len(self.image)


@dataclass(frozen=True)
class Matches:
    """Per detection: ``gt_index`` (N,) int64 of its best same-class box above the IoU
    threshold (-1: none) and ``iou`` (N,) float32 with that box (0 when none)."""

    gt_index: np.ndarray
    iou: np.ndarray


@dataclass(frozen=True)
class Accumulation:
    """Ranked sweep over all detections.

    ``rank`` (N,) detection indices by descending score (stable); ``tp`` (N,) bool per detection
    (input order): true positive in the sweep; ``precision``/``recall``/``score``: per class,
    arrays (N_c,) along that class's ranked detections; ``gt_count`` (C,); ``tp_thresh``,
    ``fp_thresh`` (C,) int and ``iou_thresh_sum`` (C,) float: counts at ``conf_thresh``.
    """

    rank: np.ndarray
    tp: np.ndarray
    precision: tuple[np.ndarray, ...]
    recall: tuple[np.ndarray, ...]
    score: tuple[np.ndarray, ...]
    gt_count: np.ndarray
    tp_thresh: np.ndarray
    fp_thresh: np.ndarray
    iou_thresh_sum: np.ndarray


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``a`` (K, 4) and ``b`` (K, 4) row by row, in float32 like Darknet's ``box_iou``."""
    a = a.astype(np.float32, copy=False)
    b = b.astype(np.float32, copy=False)
    two = np.float32(2)

    def overlap(x1: np.ndarray, w1: np.ndarray, x2: np.ndarray, w2: np.ndarray) -> np.ndarray:
        left = np.maximum(x1 - w1 / two, x2 - w2 / two)
        right = np.minimum(x1 + w1 / two, x2 + w2 / two)
        return right - left

    # An untrained net can emit inf boxes: their IoU is nan and never matches, as in Darknet.
    with np.errstate(over="ignore", invalid="ignore"):
        w = overlap(a[:, 0], a[:, 2], b[:, 0], b[:, 2])
        h = overlap(a[:, 1], a[:, 3], b[:, 1], b[:, 3])
        inter = np.where((w < 0) | (h < 0), np.float32(0), w * h)
        union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
        bad = (inter == 0) | (union == 0)
        iou = inter / np.where(bad, np.float32(1), union)
    return np.where(bad, np.float32(0), iou).astype(np.float32)


def best_ground_truth(
    dets: Detections, gts: GroundTruth, iou_thresh: float = 0.0, same_class: bool = True
) -> Matches:
    """For each detection, the box of its image with the largest IoU > ``iou_thresh``.

    With ``same_class`` only boxes of the detection's class count (Darknet's rule); without it
    any class does (for the confusion matrix). Cost: one vectorised pass per box slot of the
    most crowded image, O(sum over images of detections x boxes) in time, O(N) in memory.
    """
    n = len(dets)
    best = np.full(n, -1, dtype=np.int64)
    best_iou = np.zeros(n, dtype=np.float32)
    if n == 0 or len(gts) == 0:
        return Matches(best, best_iou)
    counts = np.bincount(gts.image, minlength=gts.num_images)
    if len(counts) > gts.num_images or (n and dets.image.max() >= gts.num_images):
        raise ValueError("an image index is outside the image list")
    starts = np.cumsum(counts) - counts
    det_count = counts[dets.image]
    det_start = starts[dets.image]
    by_count = np.argsort(-det_count, kind="stable")
    sorted_count = det_count[by_count]
    threshold = np.float32(iou_thresh)
    for slot in range(int(counts.max())):
        sel = by_count[: np.searchsorted(-sorted_count, -slot, side="left")]
        gt = det_start[sel] + slot
        iou = box_iou(dets.box[sel], gts.box[gt])
        better = (iou > threshold) & (iou > best_iou[sel])
        if same_class:
            better &= gts.class_id[gt] == dets.class_id[sel]
        best[sel[better]] = gt[better]
        best_iou[sel[better]] = iou[better]
    return Matches(best, best_iou)


def match(dets: Detections, gts: GroundTruth, params: EvalParams) -> Matches:
    """Stage 1: each detection's best same-class box with IoU > ``params.iou_thresh``."""
    return best_ground_truth(dets, gts, params.iou_thresh, same_class=True)


def _first_of_each(gt_index: np.ndarray) -> np.ndarray:
    """Boolean mask: records that are the first (in array order) to claim their box."""
    first = np.zeros(len(gt_index), dtype=bool)
    claimed = np.nonzero(gt_index >= 0)[0]
    _, where = np.unique(gt_index[claimed], return_index=True)
    first[claimed[where]] = True
    return first


def accumulate(
    dets: Detections,
    gts: GroundTruth,
    matches: Matches,
    params: EvalParams,
    num_classes: int,
) -> Accumulation:
    """Stage 2: rank every record by score, mark TPs, and build each class's PR arrays."""
    rank = np.argsort(-dets.score, kind="stable")
    tp_ranked = _first_of_each(matches.gt_index[rank])
    tp = np.empty(len(dets), dtype=bool)
    tp[rank] = tp_ranked
    gt_count = np.bincount(gts.class_id, minlength=num_classes)[:num_classes]
    class_ranked = dets.class_id[rank]
    score_ranked = dets.score[rank]
    precision, recall, score = [], [], []
    for class_id in range(num_classes):
        mine = class_ranked == class_id
        hits = np.cumsum(tp_ranked[mine], dtype=np.int64)
        seen = np.arange(1, len(hits) + 1, dtype=np.int64)
        precision.append(hits / seen)
        total = int(gt_count[class_id])
        recall.append(hits / total if total else np.zeros(len(hits)))
        score.append(score_ranked[mine])

    above = dets.score > np.float32(params.conf_thresh)
    first_claim = _first_of_each(matches.gt_index)
    tp_at = above & first_claim
    fp_at = above & ~first_claim
    tp_thresh = np.bincount(dets.class_id[tp_at], minlength=num_classes)[:num_classes]
    fp_thresh = np.bincount(dets.class_id[fp_at], minlength=num_classes)[:num_classes]
    iou_sum = np.bincount(
        dets.class_id[tp_at], weights=matches.iou[tp_at].astype(np.float64), minlength=num_classes
    )[:num_classes]
    return Accumulation(
        rank,
        tp,
        tuple(precision),
        tuple(recall),
        tuple(score),
        gt_count,
        tp_thresh,
        fp_thresh,
        iou_sum,
    )


def average_precision(precision: np.ndarray, recall: np.ndarray, points: int = 0) -> float:
    """AP of one class from its ranked (N_c,) precision and recall arrays, Darknet's way.

    ``points=0``: sum over ranks of the recall step times the best precision at that rank or
    later, plus the first step from recall 0. ``points=11|101``: mean over recall levels
    r = k * (1/(points-1)) of the best precision at any rank with recall >= r (0 if none).

    Two faces, three detections ranked by score: hit, miss, hit:

    >>> precision, recall = np.array([1, 1 / 2, 2 / 3]), np.array([1 / 2, 1 / 2, 1])
    >>> round(average_precision(precision, recall), 4)  # 1/2 * 1 + 1/2 * 2/3
    0.8333
    >>> round(average_precision(precision, recall, points=11), 4)  # (6 * 1 + 5 * 2/3) / 11
    0.8485
    """
    n = len(precision)
    if n == 0:
        return 0.0
    best_after = np.maximum.accumulate(precision[::-1])[::-1]
    if points == 0:
        steps = recall[1:] - recall[:-1]
        return float(np.sum(steps * best_after[:-1]) + recall[0] * best_after[0])
    # Darknet's `point * 1.0 / (map_points - 1)`, as its -Ofast build computes it: times the
    # reciprocal, so 6 of 11 is 0.6000000000000001 and a recall of exactly 3/5 misses that level
    levels = np.arange(points, dtype=np.float64) * (1.0 / (points - 1))
    first = np.searchsorted(recall, levels, side="left")
    values = np.where(first < n, best_after[np.minimum(first, n - 1)], 0.0)
    return float(np.sum(values) / points)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def summarize(
    acc: Accumulation,
    params: EvalParams,
    names: Sequence[str],
    detections: int,
) -> MapResult:
    """Stage 3: AP per class, the mAP over all classes, and the conf_thresh block."""
    classes = []
    for class_id, name in enumerate(names):
        tp, fp = int(acc.tp_thresh[class_id]), int(acc.fp_thresh[class_id])
        gt = int(acc.gt_count[class_id])
        p, r = _ratio(tp, tp + fp), _ratio(tp, gt)
        f1 = 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else 0.0
        classes.append(
            ClassAP(
                id=class_id,
                name=name,
                ap=average_precision(acc.precision[class_id], acc.recall[class_id], params.points),
                tp=tp,
                fp=fp,
                gt=gt,
                f1=f1,
                avg_iou=float(acc.iou_thresh_sum[class_id]) / (tp + fp) if tp + fp else 0.0,
            )
        )
    tp, fp = int(acc.tp_thresh.sum()), int(acc.fp_thresh.sum())
    total = int(acc.gt_count.sum())
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, total)
    overall_f1: float | None = None
    if precision is not None and recall is not None and precision + recall > 0:
        overall_f1 = 2 * precision * recall / (precision + recall)
    notes = tuple(
        f"{c.name}: no ground-truth box in the test list; its AP counts as 0 in the mAP "
        "(as in Darknet)"
        for c in classes
        if c.gt == 0
    )
    return MapResult(
        classes=tuple(classes),
        map=sum(c.ap for c in classes) / len(classes),
        iou_thresh=params.iou_thresh,
        points=params.points,
        conf_thresh=params.conf_thresh,
        precision=precision,
        recall=recall,
        f1=overall_f1,
        tp=tp,
        fp=fp,
        fn=total - tp,
        avg_iou=float(acc.iou_thresh_sum.sum()) / (tp + fp) if tp + fp else 0.0,
        detections=detections,
        ground_truth=total,
        source="evaluator",
        notes=notes,
    )


def evaluate(
    dets: Detections, gts: GroundTruth, params: EvalParams, names: Sequence[str]
) -> tuple[MapResult, Matches, Accumulation]:
    """All three stages; returns the result and the intermediate stages (for the report)."""
    matches = match(dets, gts, params)
    acc = accumulate(dets, gts, matches, params, len(names))
    return summarize(acc, params, names, len(dets)), matches, acc
