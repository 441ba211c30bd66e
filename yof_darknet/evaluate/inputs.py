"""What the evaluator scores: the test list's labels, and detections from any source.

Sources of detections: ``detector valid`` result files (``comp4_det_test_<class>.txt``) and
:class:`yof_darknet.infer.detector.Detection` lists (OpenCV DNN). Ground truth is read from each
image's label file, found as AlexeyAB's darknet finds it (``JPEGImages/`` → ``labels/``, else the
``.txt`` beside the image).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import imagesize
import numpy as np

from yof_darknet.core.errors import EvaluationError
from yof_darknet.evaluate.ap import Detections, GroundTruth
from yof_darknet.formats.imagefiles import exif_orientation
from yof_darknet.formats.labels import label_path, read_labels

if TYPE_CHECKING:
    from yof_darknet.infer.detector import Detection

_LISTED = 20


def check_test_images(images: Sequence[Path], list_file: Path) -> None:
    """Refuse a test list with missing images or labels, or EXIF-turned images, naming them.

    Darknet scores a missing image as a black 10x10 image (phantom false positives) and a missing
    label file as an image without faces, so both would silently lower the mAP. An image with an
    EXIF orientation is read upright by OpenCV (our engines, OpenCV-built darknet) and as stored
    by stb_image, and ``imagesize`` 2.x reports its turned size: its score would depend on the
    program and library versions (``datasets`` writes such images as upright copies).
    """
    if not images:
        raise EvaluationError(f"{list_file}: the test list is empty; nothing to score")
    problems = []
    for number, image in enumerate(images, start=1):
        if not image.is_file():
            problems.append(f"{list_file}:{number}: image not found: {image}")
        elif not label_path(image).is_file():
            problems.append(f"{list_file}:{number}: label not found: {label_path(image)}")
        elif (turn := exif_orientation(image)) != 1:
            problems.append(
                f"{list_file}:{number}: EXIF orientation {turn} (decoders disagree on which way "
                f"up it is; convert it with `yof-darknet datasets`): {image}"
            )
    if problems:
        shown = "\n  ".join(problems[:_LISTED])
        more = f"\n  ... and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
        raise EvaluationError(
            f"{len(problems)} of {len(images)} test images cannot be scored honestly "
            f"(Darknet would count them as empty or black images, or read them turned):\n  "
            f"{shown}{more}"
        )


def load_ground_truth(images: Sequence[Path], num_classes: int) -> GroundTruth:
    """Every labelled box of ``images`` (in list order), validated like the dataset writer."""
    image_ids: list[int] = []
    class_ids: list[int] = []
    boxes: list[tuple[float, ...]] = []
    for index, image in enumerate(images):
        for label in read_labels(label_path(image), num_classes, error=EvaluationError):
            image_ids.append(index)
            class_ids.append(label.class_id)
            boxes.append(label.box)
    return GroundTruth.from_arrays(image_ids, class_ids, np.reshape(boxes, (-1, 4)), len(images))


def image_sizes(images: Sequence[Path]) -> np.ndarray:
    """(K, 2) width, height of each image, read from its header."""
    sizes = []
    for image in images:
        try:
            sizes.append(imagesize.get(str(image)))
        except (OSError, ValueError) as exc:
            raise EvaluationError(f"{image}: cannot read the image size ({exc})") from None
    result = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    bad = np.nonzero((result <= 0).any(axis=1))[0]
    if len(bad):
        raise EvaluationError(f"{images[bad[0]]}: unknown image format (no size in its header)")
    return result


def _xyxy_to_cxcywh_norm(xyxy: np.ndarray, wh: np.ndarray) -> np.ndarray:
    size = np.concatenate([wh, wh], axis=1)
    norm = xyxy / size
    with np.errstate(invalid="ignore"):  # inf boxes of an untrained net stay unmatchable
        return np.concatenate([(norm[:, :2] + norm[:, 2:]) / 2, norm[:, 2:] - norm[:, :2]], axis=1)


def read_valid_results(
    folder: Path, names: Sequence[str], images: Sequence[Path], prefix: str = "comp4_det_test_"
) -> Detections:
    """Records of ``detector valid`` (``<prefix><class>.txt``: ``id prob xmin ymin xmax ymax``).

    ``id`` is the image's basename without extension; boxes are 1-based pixels, clipped to the
    image by darknet. Records come back image by image, class by class, in file order (the order
    darknet processed them cannot be recovered from these files).
    """
    by_id: dict[str, int] = {}
    for index, image in enumerate(images):
        if by_id.setdefault(image.stem, index) != index:
            raise EvaluationError(
                f"{image}: two test images share the basename {image.stem!r}; `detector valid` "
                "result files name images by basename only, so they cannot be told apart"
            )
    sizes = image_sizes(images)
    image_ids, class_ids, scores, boxes = [], [], [], []
    for class_id, name in enumerate(names):
        path = folder / f"{prefix}{name}.txt"
        if not path.is_file():
            raise EvaluationError(f"{path}: result file not found (one per class is expected)")
        for number, line in enumerate(os.fsdecode(path.read_bytes()).split("\n"), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 6 or fields[0] not in by_id:
                why = "not in the test list" if len(fields) == 6 else "expected 6 fields"
                raise EvaluationError(f"{path}:{number}: {why}: {line!r}")
            try:
                values = [float(v) for v in fields[1:]]
            except ValueError:
                raise EvaluationError(f"{path}:{number}: not a number in {line!r}") from None
            image_ids.append(by_id[fields[0]])
            class_ids.append(class_id)
            scores.append(values[0])
            boxes.append(values[1:])
    image_arr = np.asarray(image_ids, dtype=np.int64)
    xyxy = np.reshape(np.asarray(boxes, dtype=np.float64), (-1, 4)) - 1.0
    cxcywh = _xyxy_to_cxcywh_norm(xyxy, sizes[image_arr])
    order = np.argsort(image_arr, kind="stable")
    return Detections.from_arrays(
        image_arr[order], np.asarray(class_ids)[order], np.asarray(scores)[order], cxcywh[order]
    )


def detections_from_objects(
    per_image: Iterable[tuple[int, Sequence[Detection], tuple[int, int]]],
) -> Detections:
    """Records from ``(image index, detections, (width, height))`` triples, in that order."""
    image_ids, class_ids, scores, boxes, sizes = [], [], [], [], []
    for index, found, wh in per_image:
        for det in found:
            image_ids.append(index)
            class_ids.append(det.class_id)
            scores.append(det.score)
            boxes.append(det.xyxy)
            sizes.append(wh)
    xyxy = np.reshape(np.asarray(boxes, dtype=np.float64), (-1, 4))
    cxcywh = _xyxy_to_cxcywh_norm(xyxy, np.reshape(np.asarray(sizes, dtype=np.float64), (-1, 2)))
    return Detections.from_arrays(image_ids, class_ids, scores, cxcywh)
