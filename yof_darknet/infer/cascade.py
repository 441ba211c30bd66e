"""The two-stage cascade: RetinaFace finds the faces, a Darknet classifier (ONNX Runtime on its
export, or OpenCV DNN's Darknet importer) names each face's expression. It answers like
:class:`~yof_darknet.infer.detector.Detector`::

    cascade = Cascade("runs/sample-cascade/expression-classifier.cfg",
                      "runs/sample-cascade/weights/expression-classifier.weights")
    for d in cascade.detect(cv2.imread("faces.jpg")):
        print(d.name, round(d.score, 2), d.xyxy)

A face's detection score for class c is ``face score x P(c | crop)``, the counterpart of the
single-stage ``objectness x P(c)``, so that both are ranked, thresholded and scored alike: one
:class:`Detection` per (face, class) above ``thresh``, as darknet reports a box once per class.
``nms`` does not apply (RetinaFace already suppressed overlapping faces).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from yof_darknet.core.errors import InferenceError
from yof_darknet.formats.cfg import net_int, read_cfg
from yof_darknet.formats.names import resolve_names
from yof_darknet.infer.detector import ENGINES, Detection, detect_image_files
from yof_darknet.infer.engines import (
    OPENCV5_HINT,
    Engine,
    OpenCVEngine,
    OrtEngine,
    has_darknet_importer,
    read_model_info,
)
from yof_darknet.infer.weightsfile import cfg_text, check_weights_size
from yof_darknet.tools.faces import (
    CROP_RECORD,
    DEFAULT_CROP_MARGIN,
    Face,
    FaceDetector,
    create_detector,
    face_crop,
)


def parse_cascade(value: str) -> tuple[Path, Path]:
    """``CFG:WEIGHTS`` of ``detect --cascade`` (the last ``:`` splits, for Windows drives).

    >>> parse_cascade("runs/c/expression-classifier.cfg:runs/c/weights/e.weights")[1].name
    'e.weights'
    """
    cfg, sep, weights = value.rpartition(":")
    if not sep or not cfg or not weights:
        raise InferenceError(f"--cascade {value!r}: expected CLASSIFIER_CFG:WEIGHTS")
    return Path(cfg), Path(weights)


def crop_margin(cfg: Path) -> float:
    """The margin of the classifier's training crops (``classifier.json`` beside its cfg)."""
    record = cfg.parent / CROP_RECORD
    if record.is_file():
        return float(json.loads(record.read_text())["margin"])
    return DEFAULT_CROP_MARGIN


class Classifier:
    """A Darknet classifier cfg + weights: class probabilities of face crops.

    ``engine``: ``ort`` (default) runs its fp32 ONNX export, made once into the cache beside the
    weights (:mod:`yof_darknet.export.cache`, as ``detect`` does), with ONNX Runtime; ``opencv``
    reads the cfg + weights with OpenCV DNN's Darknet importer (OpenCV < 5). Both see the same
    blob: RGB in 0..1, ``size`` x ``size``."""

    def __init__(
        self,
        cfg: Path,
        weights: Path,
        threads: int | None = None,
        *,
        engine: str = "ort",
        device: str = "auto",
    ) -> None:
        for path, what in ((cfg, "classifier cfg"), (weights, "classifier weights")):
            if not Path(path).is_file():
                raise InferenceError(f"{path}: {what} file not found")
        if engine not in ENGINES:
            raise InferenceError(f"--engine {engine}: expected one of {', '.join(ENGINES)}")
        sections = read_cfg(Path(cfg))
        width, height = net_int(sections, "width"), net_int(sections, "height")
        if width != height or width <= 0 or sections[-1].name != "softmax":
            raise InferenceError(
                f"{cfg}: not a classifier cfg (a square input and a final [softmax]); pass the "
                "cfg of `yof-darknet train-classifier`"
            )
        check_weights_size(Path(cfg), cfg_text(Path(cfg)), Path(weights))
        self.size = width
        self.engine_name = engine
        self.engine: Engine
        if engine == "ort":
            # the cascade runs the export stage here, as the detector does.
            from yof_darknet.export.cache import cached_model

            classes = _softmax_inputs(sections)
            names = [str(c) for c in range(classes)]  # the cascade keeps its own names
            model = cached_model(Path(cfg), Path(weights), (width, height), names)
            self.engine = OrtEngine(model, read_model_info(model), threads=threads, device=device)
        else:
            if not has_darknet_importer():
                raise InferenceError(OPENCV5_HINT.format(version=cv2.__version__))
            try:
                self.engine = OpenCVEngine(
                    darknet_cfg=Path(cfg).read_bytes(), weights=Path(weights), threads=threads,
                    device=device,
                )  # fmt: skip
            except InferenceError as exc:
                raise InferenceError(f"{exc} (classifier cfg {cfg})") from None
        self.backend = self.engine.backend

    def probabilities(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """(N, classes) softmax outputs for N BGR crops of ``size`` x ``size``; darknet sees RGB
        in 0..1."""
        if not crops:
            return np.zeros((0, 0), dtype=np.float32)
        blob = cv2.dnn.blobFromImages(list(crops), 1 / 255.0, (self.size, self.size), swapRB=True)
        return self.engine.run(blob)[0].reshape(len(crops), -1)


def _softmax_inputs(sections: list) -> int:
    """The class count of a classifier cfg: the filters of its last [convolutional]."""
    for section in reversed(sections):
        if section.name in ("convolutional", "conv"):
            return int(section.get("filters", "1") or 1)
    raise InferenceError("a classifier cfg needs a [convolutional] before its [softmax]")


class Cascade:
    """RetinaFace + the expression classifier; ``names`` as for ``Detector``.

    ``face_threshold``: minimum RetinaFace score of a face; ``face_max_side``: RetinaFace sees the
    frame shrunk to this long side (0: full size); ``margin``: the crop margin (default: the one
    the classifier was trained with); ``engine``/``device``: the classifier's (see
    :class:`Classifier`).
    """

    def __init__(
        self,
        cfg: str | Path,
        weights: str | Path,
        names: Sequence[str] | str | Path | None = None,
        *,
        face_threshold: float = 0.5,
        face_max_side: int = 640,
        margin: float | None = None,
        threads: int | None = None,
        faces: FaceDetector | None = None,
        engine: str = "ort",
        device: str = "auto",
    ) -> None:
        self.cfg, self.weights = Path(cfg), Path(weights)
        self.classifier = Classifier(self.cfg, self.weights, threads, engine=engine, device=device)
        self.names = resolve_names(names, self.cfg, self.weights)
        self.margin = crop_margin(self.cfg) if margin is None else margin
        self.faces = faces or create_detector(
            threshold=face_threshold, max_side=face_max_side, threads=threads or 1
        )
        self.backend = self.classifier.backend
        what = {"ort": "onnxruntime", "opencv": "opencv darknet importer"}[engine]
        self.description = f"cascade: RetinaFace (onnxruntime) + classifier ({what})"
        classes = self.classifier.probabilities([np.zeros((8, 8, 3), np.uint8)]).shape[1]
        if classes != len(self.names):
            raise InferenceError(
                f"{self.cfg}: the classifier has {classes} outputs but {len(self.names)} class "
                "names were given; pass the matching --names file"
            )

    def detect_batch(
        self, images: Sequence[np.ndarray], thresh: float = 0.25, nms: float = 0.45
    ) -> list[list[Detection]]:
        """:meth:`detect` of each image (RetinaFace sees one frame at a time)."""
        return [self.detect(image, thresh, nms) for image in images]

    def detect_files(
        self, paths: Iterable[Path], thresh: float = 0.005, nms: float = 0.45
    ) -> Iterator[tuple[Path, list[Detection]]]:
        """Detect in image files (for evaluation), with the detector's reader thread."""
        return detect_image_files(self, paths, thresh, nms)

    def classify(self, image_bgr: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """(faces, classes) class probabilities of ``faces`` (e.g. ground-truth boxes)."""
        size = self.classifier.size
        crops = [face_crop(image_bgr, face.xyxy, self.margin, size) for face in faces]
        return self.classifier.probabilities(crops)

    def detect(
        self, image_bgr: np.ndarray, thresh: float = 0.25, nms: float = 0.45
    ) -> list[Detection]:
        """Detections in an 8-bit BGR image, best score first (``nms`` is not used)."""
        if image_bgr is None or image_bgr.dtype != np.uint8 or image_bgr.ndim != 3:
            raise InferenceError("detect() needs an 8-bit BGR image as cv2.imread returns it")
        faces = self.faces.detect(image_bgr)
        if not faces:
            return []
        scores = np.asarray([f.score for f in faces])[:, None] * self.classify(image_bgr, faces)
        found = [
            Detection(int(c), self.names[c], float(scores[i, c]), faces[i].xyxy)
            for i, c in zip(*np.nonzero(scores > thresh), strict=True)
        ]
        return sorted(found, key=lambda d: -d.score)
