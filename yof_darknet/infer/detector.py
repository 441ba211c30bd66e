"""A Darknet YOLO detector (ONNX Runtime or OpenCV DNN) with darknet's pre/post-processing.

    detector = Detector("runs/sample/yolov3-tiny.cfg", "runs/sample/yolov3-tiny_final.weights")
    for d in detector.detect(cv2.imread("face.jpg")):
        print(d.name, round(d.score, 2), d.xyxy)

What ``detect`` returns is what ``darknet detector test`` (AlexeyAB) prints: one
:class:`Detection` per (box, class) whose probability (objectness x class probability) exceeds
``thresh``, after darknet's per-class greedy NMS (``do_nms_sort``; AlexeyAB's DIoU variant when
the cfg's last [yolo] asks for it, ``nms_kind=greedynms|diounms``). A box may therefore appear
once per class above the threshold, as in darknet. Boxes are in pixels of the original image and
not clipped (``detector map`` scores them unclipped); :meth:`Detection.clipped` clips them.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from yof_darknet.core.engines import NETWORK_ENGINES
from yof_darknet.core.errors import InferenceError
from yof_darknet.core.fileio import sha256_file
from yof_darknet.formats.cfg import parse_cfg
from yof_darknet.formats.imagefiles import read_image
from yof_darknet.formats.modelinfo import ModelInfo, head_specs
from yof_darknet.formats.names import resolve_names
from yof_darknet.formats.ultralytics import (
    LetterboxPlacement,
    UltralyticsInfo,
    letterbox_into,
    ultralytics_rows,
)
from yof_darknet.infer.engines import Engine, OpenCVEngine, OrtEngine, read_model, read_model_info
from yof_darknet.infer.netcfg import NetSpec, opencv_cfg_text, read_net_spec
from yof_darknet.infer.weightsfile import cfg_text, check_weights_size
from yof_darknet.infer.yolo import decode_heads
from yof_darknet.tools.cluster import available_cpus
from yof_darknet.tools.netinput import Placement, fill_input, to_image_boxes

ENGINES = NETWORK_ENGINES


@dataclass(frozen=True)
class Detection:
    """One detection: class id and name, probability, box (x1, y1, x2, y2) in image pixels.

    ``probs``: the probability of every class for this box (objectness x class probability,
    darknet's ``prob[]`` before the threshold), when the detector gives it; temporal models
    read it.
    """

    class_id: int
    name: str
    score: float
    xyxy: tuple[float, float, float, float]
    probs: np.ndarray | None = field(default=None, compare=False, repr=False)

    def clipped(self, width: int, height: int) -> tuple[float, float, float, float]:
        """The box clipped to a ``width`` x ``height`` image."""
        x1, y1, x2, y2 = self.xyxy
        w, h = float(width), float(height)
        return (
            min(max(x1, 0.0), w),
            min(max(y1, 0.0), h),
            min(max(x2, 0.0), w),
            min(max(y2, 0.0), h),
        )


def _net_size(
    size: int | tuple[int, int] | None, default: tuple[int, int], where: Path
) -> tuple[int, int]:
    width, height = default if size is None else ((size, size) if isinstance(size, int) else size)
    if width <= 0 or height <= 0 or width % 32 or height % 32:
        raise InferenceError(
            f"{where}: network size {width}x{height} is not a positive multiple of 32; "
            "pick e.g. --size 320 or 416"
        )
    return width, height


class FrameDetector(Protocol):
    """What detect's loops ask of a detector: the single-stage :class:`Detector`, the
    :class:`~yof_darknet.infer.cascade.Cascade` (RetinaFace + classifier) or a replay of
    tracked detections."""

    @property
    def names(self) -> Sequence[str]: ...

    def detect(self, image_bgr: np.ndarray, thresh: float, nms: float) -> list[Detection]: ...

    def detect_batch(
        self, images: Sequence[np.ndarray], thresh: float, nms: float
    ) -> list[list[Detection]]: ...


class Detector:
    """A Darknet YOLO detector run by ONNX Runtime (``engine="ort"``) or OpenCV DNN
    (``engine="opencv"``); both feed the same decoder (:mod:`yof_darknet.infer.yolo`).

    ``cfg`` + ``weights``: the Darknet model. With ``engine="ort"`` it is exported once into a
    cache beside the weights (:mod:`yof_darknet.export.cache`); ``model`` gives an exported ONNX
    file instead (fp32 or int8; cfg and weights may then be omitted, and when given must be the
    ones it was exported from). ``engine="opencv"`` reads the cfg + weights with OpenCV's Darknet
    importer (OpenCV < 5 only) or, given ``model``, the fp32 ONNX file with its ONNX reader.
    ``names``: a list of class names, a names file, or ``None`` (see :func:`resolve_names`; a
    model alone brings its own). ``size``: network input (an int for a square input, or
    (width, height)); default: the cfg's or the model's. ``threads``: CPU threads of the engine.
    ``device``: ``auto`` (CUDA when the engine has it and a GPU is there), ``cpu`` or ``cuda``.
    ``spinning``: ONNX Runtime's threads spin between operators (see
    :class:`~yof_darknet.infer.engines.OrtEngine`).
    """

    def __init__(
        self,
        cfg: str | Path | None = None,
        weights: str | Path | None = None,
        names: Sequence[str] | str | Path | None = None,
        size: int | tuple[int, int] | None = None,
        threads: int | None = None,
        *,
        engine: str = "ort",
        model: str | Path | None = None,
        device: str = "auto",
        bn_flavor: str = "auto",
        spinning: bool = True,
    ) -> None:
        if engine not in ENGINES:
            raise InferenceError(f"--engine {engine}: expected one of {', '.join(ENGINES)}")
        self.nonfinite = 0  # boxes dropped for a NaN or infinite number (see ``decode``)
        self.notes: list[str] = []  # what the user should know about the model given
        self.cfg = None if cfg is None else Path(cfg)
        self.weights = None if weights is None else Path(weights)
        self.model = None if model is None else Path(model)
        for path, what in ((self.cfg, "cfg"), (self.weights, "weights"), (self.model, "model")):
            if path is not None and not path.is_file():
                raise InferenceError(f"{path}: {what} file not found")
        if self.model is None and (self.cfg is None or self.weights is None):
            raise InferenceError("a detector needs --cfg and --weights, or --model")
        self.ultralytics: UltralyticsInfo | None = None
        found = read_model(self.model) if self.model is not None else None
        if isinstance(found, UltralyticsInfo):
            self._init_ultralytics(found, names, size, threads, engine, device, spinning)
            return
        info = found
        if info is not None and not info.heads:
            raise InferenceError(
                f"{self.model}: a classifier's export (no [yolo] heads); use it through "
                "--cascade CFG:WEIGHTS"
            )
        if self.cfg is not None and self.weights is not None:
            text = cfg_text(self.cfg)
            self.spec = read_net_spec(self.cfg, text)
            self.heads = head_specs(parse_cfg(text, str(self.cfg)), str(self.cfg))
            self.names = resolve_names(names, self.cfg, self.weights)
            self.notes = check_weights_size(self.cfg, text, self.weights)
            if info is not None:
                _check_model_source(info, self.model, text, self.weights)
                self.spec = replace(self.spec, width=info.width, height=info.height)
        else:
            assert info is not None and self.model is not None
            self.spec = NetSpec(info.width, info.height, 3, info.letter_box,
                                info.heads[0].classes, len(info.heads))  # fmt: skip
            self.heads = list(info.heads)
            self.names = list(info.names) if names is None else resolve_names(
                names, self.model, self.model
            )  # fmt: skip
        where = self.model or self.cfg
        assert where is not None
        if len(self.names) != self.spec.classes:
            raise InferenceError(
                f"{where}: the model has classes={self.spec.classes} but "
                f"{len(self.names)} class names were given; pass the matching --names file"
            )
        self.width, self.height = _net_size(size, (self.spec.width, self.spec.height), where)
        if info is not None and (self.width, self.height) != (info.width, info.height):
            raise InferenceError(
                f"{self.model}: exported for {info.width}x{info.height}, not "
                f"{self.width}x{self.height}; export it again with --size or drop --size"
            )
        threads = threads if threads is not None else available_cpus()
        self.spinning = spinning
        self.engine: Engine = self._engine(engine, info, threads, device, bn_flavor)
        self.backend = self.engine.backend
        self.precision = "fp32"
        if engine == "ort":
            assert self.model is not None  # _engine exported it
            self.precision = (
                read_model_info(self.model).precision if info is None else info.precision
            )
        described = {"ort": f"onnxruntime {self.precision}", "opencv": "opencv darknet importer"}
        self.description = "opencv onnx" if engine == "opencv" and self.model else described[engine]

    def _init_ultralytics(
        self,
        info: UltralyticsInfo,
        names: Sequence[str] | str | Path | None,
        size: int | tuple[int, int] | None,
        threads: int | None,
        engine: str,
        device: str,
        spinning: bool,
    ) -> None:
        """An Ultralytics ONNX export: its own letterbox, its output decoded into the same rows
        (:mod:`yof_darknet.formats.ultralytics`), then the same thresholds and NMS."""
        assert self.model is not None
        if self.cfg is not None or self.weights is not None:
            raise InferenceError(
                f"{self.model}: an Ultralytics export runs alone; drop --cfg and --weights"
            )
        self.ultralytics = info
        self.spec = NetSpec(info.width, info.height, 3, True, len(info.names), 0)
        self.heads = []
        self.names = list(info.names)
        if names is not None and (given := resolve_names(names, self.model, self.model)) != list(
            info.names
        ):
            raise InferenceError(
                f"{self.model}: the model's classes ({', '.join(info.names)}) are not the "
                f"dataset's ({', '.join(given)}); train it on the converted data's "
                "ultralytics.yaml"
            )
        self.width, self.height = _net_size(size, (info.width, info.height), self.model)
        if (self.width, self.height) != (info.width, info.height):
            raise InferenceError(
                f"{self.model}: exported for {info.width}x{info.height}, not "
                f"{self.width}x{self.height}; export it again with imgsz= or drop --size"
            )
        self.spinning = spinning
        threads = threads if threads is not None else available_cpus()
        if engine == "opencv":
            if info.precision != "fp32":
                raise InferenceError(f"{self.model}: OpenCV runs fp32 models only")
            self.engine = OpenCVEngine(
                onnx=self.model, outputs=list(info.outputs), threads=threads, device=device
            )
        else:
            self.engine = OrtEngine(
                self.model, info, threads=threads, device=device, spinning=spinning
            )
        self.backend = self.engine.backend
        self.precision = info.precision
        self.description = "opencv onnx" if engine == "opencv" else f"onnxruntime {self.precision}"

    def _rows(self, raws: Sequence[np.ndarray]) -> np.ndarray:
        if self.ultralytics is None:
            return decode_heads(raws, self.heads, self.width, self.height)
        try:
            return ultralytics_rows(raws[0], self.ultralytics)
        except ValueError as exc:
            raise InferenceError(f"{self.model}: {exc}") from None

    def _engine(
        self, engine: str, info: ModelInfo | None, threads: int | None, device: str, flavor: str
    ) -> Engine:
        if engine == "opencv":
            if self.model is not None:
                if info is not None and info.precision != "fp32":
                    raise InferenceError(f"{self.model}: OpenCV runs fp32 models only")
                return OpenCVEngine(onnx=self.model, outputs=list(info.outputs) if info else None,
                                    threads=threads, device=device)  # fmt: skip
            assert self.cfg is not None and self.weights is not None
            text = cfg_text(self.cfg)
            patched = opencv_cfg_text(text, (self.width, self.height)).encode()
            return OpenCVEngine(
                darknet_cfg=patched, weights=self.weights, threads=threads, device=device
            )
        if self.model is None:
            assert self.cfg is not None and self.weights is not None
            # detect runs the export stage here (named in the README's architecture section).
            from yof_darknet.export.cache import cached_model

            self.model = cached_model(
                self.cfg, self.weights, (self.width, self.height), list(self.names), flavor
            )
            info = read_model_info(self.model)
        assert info is not None
        return OrtEngine(self.model, info, threads=threads, device=device, spinning=self.spinning)

    def forward(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Placement | LetterboxPlacement]:
        """Decoded YOLO rows (cx, cy, w, h relative to the net input, objectness, class probs)
        of one image, and its placement in the network input."""
        rows, placements = self.forward_batch([image_bgr])
        return rows[0], placements[0]

    def prepare(
        self, images: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, list[Placement | LetterboxPlacement]]:
        """The network input of ``images`` (Darknet's pre-processing, one blob for the batch)
        and each image's placement in it: the first of :meth:`detect_batch`'s three steps,
        which a pipeline may run in another thread than the network."""
        blob = np.empty((len(images), 3, self.height, self.width), dtype=np.float32)
        placements = [self._fill(_as_bgr(image), blob[i]) for i, image in enumerate(images)]
        return blob, placements

    def _fill(self, image: np.ndarray, blob: np.ndarray) -> Placement | LetterboxPlacement:
        if self.ultralytics is not None:
            return letterbox_into(image, blob)
        return fill_input(image, blob, self.spec.letter_box)

    def finish(
        self,
        raws: Sequence[np.ndarray],
        placements: Sequence[Placement | LetterboxPlacement],
        images_wh: Sequence[tuple[int, int]],
        thresh: float = 0.25,
        nms: float = 0.45,
    ) -> list[list[Detection]]:
        """Decode + NMS of the network's raw outputs (``engine.run``): the last step."""
        rows = self._rows(raws)
        return [
            self.decode(r, p, wh, thresh, nms)
            for r, p, wh in zip(rows, placements, images_wh, strict=True)
        ]

    def forward_batch(
        self, images: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, list[Placement | LetterboxPlacement]]:
        """:meth:`forward` for several images in one network run (a batch)."""
        blob, placements = self.prepare(images)
        raws = self.engine.run(blob)
        return self._rows(raws), placements

    def detect_batch(
        self, images: Sequence[np.ndarray], thresh: float = 0.25, nms: float = 0.45
    ) -> list[list[Detection]]:
        """:meth:`detect` of several images, run through the network as one batch."""
        blob, placements = self.prepare(images)
        sizes = [(image.shape[1], image.shape[0]) for image in images]
        return self.finish(self.engine.run(blob), placements, sizes, thresh, nms)

    def detect(
        self, image_bgr: np.ndarray, thresh: float = 0.25, nms: float = 0.45
    ) -> list[Detection]:
        """Detections in an 8-bit BGR image (as ``cv2.imread`` gives), best score first."""
        return self.detect_batch([image_bgr], thresh, nms)[0]

    def decode(
        self,
        rows: np.ndarray,
        placement: Placement | LetterboxPlacement,
        image_wh: tuple[int, int],
        thresh: float,
        nms: float,
    ) -> list[Detection]:
        """Darknet's ``get_network_boxes`` + ``do_nms_sort`` on :meth:`forward`'s rows. Rows
        with a NaN or infinite number (a diverged model) are dropped and counted in
        ``nonfinite``: no box or score that is not a finite number is ever returned."""
        finite = np.isfinite(rows).all(axis=1)
        if not finite.all():
            self.nonfinite += int(np.count_nonzero(~finite & ~(rows[:, 4] <= thresh)))
            rows = rows[finite]
        rows = rows[rows[:, 4] > thresh]
        box_index, class_ids = np.nonzero(rows[:, 5:] > thresh)
        if box_index.size == 0:
            return []
        scores = rows[box_index, 5 + class_ids]
        in_image = (
            placement.to_image(rows[:, :4], image_wh)
            if isinstance(placement, LetterboxPlacement)
            else to_image_boxes(rows[:, :4], placement)
        )
        cxcywh = in_image * np.array(image_wh * 2, dtype=np.float64)
        xyxy = np.concatenate(
            [cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], 1
        )
        keep = np.arange(box_index.size)
        if self.ultralytics is not None and self.ultralytics.end2end:
            nms = 0.0  # an NMS-free export: its boxes are final, as predict takes them
        kind = self.heads[-1].nms_kind if self.heads else "default"  # darknet: the last layer's
        if nms > 0 and kind != "default":
            relative = cxcywh[box_index] / np.array(image_wh * 2, dtype=np.float64)
            beta = 0.6 if kind == "greedynms" else self.heads[-1].beta_nms
            keep = np.concatenate([
                _class_diou_nms(relative, scores, keep[class_ids == c], nms, beta)
                for c in np.unique(class_ids)
            ])  # fmt: skip
        elif nms > 0:
            xywh = np.concatenate([xyxy[box_index, :2], cxcywh[box_index, 2:]], 1)
            keep = np.concatenate(
                [_class_nms(xywh, scores, keep[class_ids == c], nms) for c in np.unique(class_ids)]
            )
        keep = keep[np.argsort(-scores[keep], kind="stable")]
        return [
            Detection(
                class_id=int(class_ids[k]),
                name=self.names[class_ids[k]],
                score=float(scores[k]),
                xyxy=_xyxy(xyxy[box_index[k]]),
                probs=rows[box_index[k], 5:].astype(np.float64),
            )
            for k in keep
        ]

    def detect_files(
        self, paths: Iterable[Path], thresh: float = 0.005, nms: float = 0.45
    ) -> Iterator[tuple[Path, list[Detection]]]:
        """Detect in image files (for evaluation): :func:`detect_image_files`. Defaults are
        ``detector map``'s thresholds."""
        return detect_image_files(self, paths, thresh, nms)


def _check_model_source(info: ModelInfo, model: Path | None, cfg_text: str, weights: Path) -> None:
    """Refuse a model exported from another cfg or other weights than the ones given."""
    if hashlib.sha256(cfg_text.encode()).hexdigest() != info.cfg_sha256:
        raise InferenceError(f"{model}: exported from another cfg; export it again or drop --cfg")
    if sha256_file(weights) != info.weights_sha256:
        raise InferenceError(
            f"{model}: exported from other weights than {weights}; export it again or drop "
            "--weights"
        )


def detect_image_files(
    detector: FrameDetector, paths: Iterable[Path], thresh: float, nms: float
) -> Iterator[tuple[Path, list[Detection]]]:
    """``detector`` on image files (for evaluation), reading the next image in a background
    thread while the network runs."""
    loaded: queue.Queue[tuple[Path, np.ndarray | None] | None] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def read_all() -> None:
        for path in paths:
            if stop.is_set():
                break
            loaded.put((Path(path), read_image(path)))
        loaded.put(None)

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    try:
        while (item := loaded.get()) is not None:
            path, image = item
            if image is None:
                raise InferenceError(f"{path}: cannot read this image (missing or not an image)")
            yield path, detector.detect(image, thresh, nms)
    finally:
        stop.set()
        while reader.is_alive():
            try:
                loaded.get(timeout=0.1)
            except queue.Empty:
                continue


def _xyxy(row: np.ndarray) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in row)
    return x1, y1, x2, y2


def _class_nms(xywh: np.ndarray, scores: np.ndarray, members: np.ndarray, nms: float) -> np.ndarray:
    """Darknet's greedy NMS within one class: best first, drop later boxes with IoU > ``nms``.
    (One class at a time: OpenCV's batched NMS compares every class with every other.)"""
    kept = cv2.dnn.NMSBoxes(xywh[members], scores[members], 0.0, nms)
    return members[np.asarray(kept, dtype=np.intp).reshape(-1)]


def _class_diou_nms(
    cxcywh: np.ndarray, scores: np.ndarray, members: np.ndarray, nms: float, beta: float
) -> np.ndarray:
    """AlexeyAB's ``diounms_sort`` within one class: best first, drop later boxes whose DIoU
    (IoU - (centre distance² / enclosing diagonal²) ** ``beta``, in image-relative units as
    darknet's boxes are) with a kept one exceeds ``nms``."""
    order = members[np.argsort(-scores[members], kind="stable")]
    boxes = cxcywh[order]
    lo, hi = boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2
    area = boxes[:, 2] * boxes[:, 3]
    dropped = np.zeros(len(order), dtype=bool)
    for i in range(len(order)):
        if dropped[i]:
            continue
        rest = slice(i + 1, None)
        overlap = np.minimum(hi[i], hi[rest]) - np.maximum(lo[i], lo[rest])
        inter = np.where((overlap >= 0).all(axis=1), overlap[:, 0] * overlap[:, 1], 0.0)
        union = area[i] + area[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=(inter > 0) & (union > 0))
        span = np.maximum(hi[i], hi[rest]) - np.minimum(lo[i], lo[rest])
        diagonal = (span**2).sum(axis=1)
        distance = ((boxes[i, :2] - boxes[rest, :2]) ** 2).sum(axis=1)
        ratio = np.divide(distance, diagonal, out=np.zeros_like(distance), where=diagonal > 0)
        dropped[rest] |= iou - np.where(diagonal > 0, ratio**beta, 0.0) > nms
    return order[~dropped]


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image is None or not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise InferenceError("detect() needs an 8-bit image as cv2.imread returns it")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise InferenceError(f"detect() needs a BGR image, got an array of shape {image.shape}")
