"""A Darknet YOLO detector run by OpenCV's DNN module, with darknet's own pre/post-processing.

    detector = Detector("runs/sample/yolov3-tiny.cfg", "runs/sample/yolov3-tiny_final.weights")
    for d in detector.detect(cv2.imread("face.jpg")):
        print(d.name, round(d.score, 2), d.xyxy)

What ``detect`` returns is what ``darknet detector test`` (AlexeyAB) prints: one
:class:`Detection` per (box, class) whose probability (objectness x class probability) exceeds
``thresh``, after darknet's per-class greedy NMS (``do_nms_sort``). A box may therefore appear
once per class above the threshold, as in darknet. Boxes are in pixels of the original image and
not clipped (``detector map`` scores them unclipped); :meth:`Detection.clipped` clips them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yof_darknet.cluster import available_cpus
from yof_darknet.errors import InferenceError, YofError
from yof_darknet.expressions import CLASSES
from yof_darknet.fileio import read_lines
from yof_darknet.formats.objdata import read_obj_data
from yof_darknet.infer.netcfg import NetSpec, opencv_cfg_text, read_net_spec
from yof_darknet.infer.preprocess import Placement, darknet_input, to_image_boxes
from yof_darknet.infer.weightsfile import check_weights_size


@dataclass(frozen=True)
class Detection:
    """One detection: class id and name, probability, box (x1, y1, x2, y2) in image pixels."""

    class_id: int
    name: str
    score: float
    xyxy: tuple[float, float, float, float]

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


def read_names(path: Path) -> list[str]:
    """Class names from a names file, one per line (blank lines ignored)."""
    if not path.is_file():
        raise InferenceError(f"{path}: names file not found; pass --names FILE")
    return read_lines(path)


def resolve_names(names: Sequence[str] | str | Path | None, cfg: Path, weights: Path) -> list[str]:
    """The class names: a list as given, a names file, or (``None``) the ``names=`` file of an
    ``obj.data`` beside the cfg (a run folder), an ``obj.names`` beside the cfg or the weights,
    else the 7 expression classes."""
    if isinstance(names, (str, Path)):
        return read_names(Path(names))
    if names is not None:
        return list(names)
    try:
        return read_names(read_obj_data(cfg.parent / "obj.data").names)
    except YofError:
        pass
    for folder in (cfg.parent, weights.parent, weights.parent.parent):
        candidate = folder / "obj.names"
        if candidate.is_file():
            return read_names(candidate)
    return list(CLASSES)


def _net_size(size: int | tuple[int, int] | None, spec: NetSpec, cfg: Path) -> tuple[int, int]:
    width, height = (
        (spec.width, spec.height)
        if size is None
        else ((size, size) if isinstance(size, int) else size)
    )
    if width <= 0 or height <= 0 or width % 32 or height % 32:
        raise InferenceError(
            f"{cfg}: network size {width}x{height} is not a positive multiple of 32; "
            "pick e.g. --size 320 or 416"
        )
    return width, height


def cuda_available() -> bool:
    """Whether the installed OpenCV was built with CUDA and sees a GPU."""
    try:
        return cv2.cuda.getCudaEnabledDeviceCount() > 0
    except (cv2.error, AttributeError):
        return False


class FileDetection:
    """``detect_files`` for any detector with ``detect(image, thresh, nms)`` (this one, the
    cascade)."""

    def detect(self, image_bgr: np.ndarray, thresh: float, nms: float) -> list[Detection]:
        raise NotImplementedError

    def detect_files(
        self, paths: Iterable[Path], thresh: float = 0.005, nms: float = 0.45
    ) -> Iterator[tuple[Path, list[Detection]]]:
        """Detect in image files (for evaluation), reading the next image in a background thread
        while the network runs. Defaults are ``detector map``'s thresholds."""
        loaded: queue.Queue[tuple[Path, np.ndarray | None] | None] = queue.Queue(maxsize=4)
        stop = threading.Event()

        def read_all() -> None:
            for path in paths:
                if stop.is_set():
                    break
                loaded.put((Path(path), cv2.imread(str(path), cv2.IMREAD_COLOR)))
            loaded.put(None)

        reader = threading.Thread(target=read_all, daemon=True)
        reader.start()
        try:
            while (item := loaded.get()) is not None:
                path, image = item
                if image is None:
                    raise InferenceError(
                        f"{path}: cannot read this image (missing or not an image)"
                    )
                yield path, self.detect(image, thresh, nms)
        finally:
            stop.set()
            while reader.is_alive():
                try:
                    loaded.get(timeout=0.1)
                except queue.Empty:
                    continue


class Detector(FileDetection):
    """Load a Darknet cfg + weights with ``cv2.dnn.readNetFromDarknet``.

    ``names``: a list of class names, a names file, or ``None`` (see :func:`resolve_names`).
    ``size``: network input (an int for a square input, or (width, height)); default: the cfg's.
    ``threads``: OpenCV's CPU thread count (process-wide; ``None``: the CPUs this task was given,
    ``cluster.available_cpus``).
    The CUDA backend is used when the installed OpenCV has it and a GPU is visible.
    """

    def __init__(
        self,
        cfg: str | Path,
        weights: str | Path,
        names: Sequence[str] | str | Path | None = None,
        size: int | tuple[int, int] | None = None,
        threads: int | None = None,
    ) -> None:
        self.cfg, self.weights = Path(cfg), Path(weights)
        for path, what in ((self.cfg, "cfg"), (self.weights, "weights")):
            if not path.is_file():
                raise InferenceError(f"{path}: {what} file not found")
        text = self.cfg.read_text(errors="replace")
        self.spec = read_net_spec(self.cfg, text)
        self.names = resolve_names(names, self.cfg, self.weights)
        if len(self.names) != self.spec.classes:
            raise InferenceError(
                f"{self.cfg}: the model has classes={self.spec.classes} but "
                f"{len(self.names)} class names were given; pass the matching --names file"
            )
        self.width, self.height = _net_size(size, self.spec, self.cfg)
        cv2.setNumThreads(threads if threads is not None else available_cpus())
        check_weights_size(self.cfg, text, self.weights)
        patched = opencv_cfg_text(text, (self.width, self.height)).encode()
        try:
            self.net = cv2.dnn.readNetFromDarknet(
                np.frombuffer(patched, dtype=np.uint8), np.fromfile(self.weights, dtype=np.uint8)
            )
        except cv2.error as exc:
            raise InferenceError(
                f"{self.weights}: OpenCV cannot load these weights with {self.cfg} "
                f"({str(exc).strip().splitlines()[-1]}); are they from this cfg?"
            ) from None
        self.backend = "cuda" if cuda_available() else "cpu"
        if self.backend == "cuda":
            self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_CUDA)
            self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CUDA)
        else:
            self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
            self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self._outputs = list(self.net.getUnconnectedOutLayersNames())

    def forward(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Placement]:
        """Raw YOLO rows (cx, cy, w, h relative to the net input, objectness, class probs)."""
        image = _as_bgr(image_bgr)
        blob, placement = darknet_input(image, self.width, self.height, self.spec.letter_box)
        self.net.setInput(blob)
        rows = np.concatenate(
            [out.reshape(-1, out.shape[-1]) for out in self.net.forward(self._outputs)]
        )
        return rows, placement

    def detect(
        self, image_bgr: np.ndarray, thresh: float = 0.25, nms: float = 0.45
    ) -> list[Detection]:
        """Detections in an 8-bit BGR image (as ``cv2.imread`` gives), best score first."""
        rows, placement = self.forward(image_bgr)
        height, width = image_bgr.shape[:2]
        return self.decode(rows, placement, (width, height), thresh, nms)

    def decode(
        self,
        rows: np.ndarray,
        placement: Placement,
        image_wh: tuple[int, int],
        thresh: float,
        nms: float,
    ) -> list[Detection]:
        """Darknet's ``get_network_boxes`` + ``do_nms_sort`` on :meth:`forward`'s rows."""
        rows = rows[rows[:, 4] > thresh]
        box_index, class_ids = np.nonzero(rows[:, 5:] > thresh)
        if box_index.size == 0:
            return []
        scores = rows[box_index, 5 + class_ids]
        cxcywh = to_image_boxes(rows[:, :4], placement) * np.array(image_wh * 2, dtype=np.float64)
        xyxy = np.concatenate(
            [cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], 1
        )
        keep = np.arange(box_index.size)
        if nms > 0:
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
                xyxy=tuple(float(v) for v in xyxy[box_index[k]]),
            )
            for k in keep
        ]


def _class_nms(xywh: np.ndarray, scores: np.ndarray, members: np.ndarray, nms: float) -> np.ndarray:
    """Darknet's greedy NMS within one class: best first, drop later boxes with IoU > ``nms``.
    (One class at a time: OpenCV's batched NMS compares every class with every other.)"""
    kept = cv2.dnn.NMSBoxes(xywh[members], scores[members], 0.0, nms)
    return members[np.asarray(kept, dtype=np.intp).reshape(-1)]


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
