"""Evaluator throughput: 1,000,000 random detection records over 5,000 images (7 classes)."""

from __future__ import annotations

import time

import numpy as np

from yof_darknet.core.expressions import CLASSES
from yof_darknet.evaluate.ap import (
    Detections,
    EvalParams,
    GroundTruth,
    accumulate,
    match,
    summarize,
)

IMAGES = 5_000
DETECTIONS = 1_000_000
FACES_PER_IMAGE = 2


def random_case(seed: int = 0) -> tuple[Detections, GroundTruth]:
    """Faces of random class and size; detections jittered around them or anywhere."""
    rng = np.random.default_rng(seed)
    faces = IMAGES * FACES_PER_IMAGE
    gt_image = np.repeat(np.arange(IMAGES), FACES_PER_IMAGE)
    gt_box = np.column_stack(
        [rng.uniform(0.2, 0.8, (faces, 2)), rng.uniform(0.05, 0.3, (faces, 2))]
    )
    truth = GroundTruth.from_arrays(gt_image, rng.integers(0, 7, faces), gt_box, IMAGES)
    near = rng.integers(0, faces, DETECTIONS)
    jitter = rng.normal(0, 0.03, (DETECTIONS, 4))
    det_box = np.abs(gt_box[near] + jitter)
    order = np.argsort(gt_image[near], kind="stable")  # darknet's order: image by image
    dets = Detections.from_arrays(
        gt_image[near][order],
        rng.integers(0, 7, DETECTIONS)[order],
        rng.uniform(0.005, 1.0, DETECTIONS)[order],
        det_box[order],
    )
    return dets, truth


def main() -> None:
    dets, truth = random_case()
    params = EvalParams()
    start = time.perf_counter()
    matches = match(dets, truth, params)
    matched = time.perf_counter()
    acc = accumulate(dets, truth, matches, params, len(CLASSES))
    accumulated = time.perf_counter()
    result = summarize(acc, params, CLASSES, len(dets))
    done = time.perf_counter()
    total = done - start
    print(f"{DETECTIONS:,} detections, {len(truth):,} faces, {IMAGES:,} images")
    print(f"match {matched - start:.2f} s, accumulate {accumulated - matched:.2f} s, "
          f"summarize {done - accumulated:.3f} s")  # fmt: skip
    print(f"evaluator: {DETECTIONS / total:,.0f} detections/s (mAP {result.map:.4f})")
    for points in (11, 101):
        start = time.perf_counter()
        summarize(acc, EvalParams(points=points), CLASSES, len(dets))
        print(f"summarize, {points} points: {time.perf_counter() - start:.3f} s")
