"""An Ultralytics YOLO ONNX export: what its metadata says, its letterbox, its output layout.

``yolo export format=onnx`` writes ``imgsz``, ``names``, ``stride``, ``task``, ``end2end`` (and
``author: Ultralytics``) into the model's ``metadata_props`` as Python literals; nothing else is
needed to run the model as Ultralytics' own ``predict`` does:

* input: the image letterboxed as ``LetterBox(auto=False)`` does it (``cv2.resize`` bilinear to
  ``round(side * r)``, grey 114 padding split ``round(d / 2 -+ 0.1)``), RGB, divided by 255;
* output ``(batch, 4 + classes, anchors)``: cx, cy, w, h in network-input pixels and each class's
  probability (no objectness), NMS still to do; or, for an NMS-free export (YOLO26/v10 with
  ``nms=False``: ``end2end``), ``(batch, K, 6)``: x1, y1, x2, y2, score, class, final.

Only the Ultralytics package is AGPL; nothing here imports it.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yof_darknet.core.expressions import CLASSES

PAD_VALUE = 114


def ultralytics_yaml(out: Path, lists: Mapping[str, Path], names: Sequence[str] = CLASSES) -> str:
    """The Ultralytics data file of a converted dataset: ``train``/``val``/``test`` are our
    image lists (absolute paths), ``names`` the dataset's classes (our 7 by default).

    Ultralytics finds an image's label by replacing the last ``/images/`` of its path with
    ``/labels/`` and the extension with ``.txt`` (``data.utils.img2label_paths``); our paths
    have no ``images`` folder (Darknet's rules refuse one), so the label found is the ``.txt``
    beside the image, where ``datasets`` wrote it: nothing is copied. JSON is valid YAML, and
    quotes every path."""
    lines = [
        "# Ultralytics data file written by yof-darknet datasets: the lists of obj.data",
        "# yolo train data=<this file> model=yolo26n.pt (labels are found beside the images)",
        f"path: {json.dumps(os.path.abspath(out))}",
        *(f"{key}: {json.dumps(os.path.abspath(lists[key]))}" for key in ("train", "val", "test")),
        f"names: {json.dumps(list(names))}",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class UltralyticsInfo:
    """What an Ultralytics detection export records about itself."""

    width: int
    height: int
    names: tuple[str, ...]
    stride: int
    end2end: bool
    version: str
    outputs: tuple[str, ...]  # the ONNX output (one)
    precision: str = "fp32"


def is_ultralytics(props: dict[str, str]) -> bool:
    """Whether ``metadata_props`` are an Ultralytics export's."""
    return props.get("author") == "Ultralytics" or {"imgsz", "names", "stride"} <= props.keys()


def read_ultralytics_info(
    props: dict[str, str], outputs: tuple[str, ...], where: str
) -> UltralyticsInfo:
    """:class:`UltralyticsInfo` from an export's ``metadata_props``; ``where`` names the file in
    errors (ValueError: the caller turns it into its stage's error)."""
    try:
        imgsz = ast.literal_eval(props["imgsz"])
        names = ast.literal_eval(props["names"])
        stride = int(props.get("stride", "32"))
    except (KeyError, ValueError, SyntaxError) as exc:
        raise ValueError(f"{where}: Ultralytics metadata without a readable {exc}") from None
    task = props.get("task", "detect")
    if task != "detect":
        raise ValueError(f"{where}: an Ultralytics {task!r} model; only detect models are scored")
    height, width = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    return UltralyticsInfo(
        width=int(width),
        height=int(height),
        names=tuple(str(n) for n in names),
        stride=stride,
        end2end=props.get("end2end", "False") == "True",
        version=props.get("version", "?"),
        outputs=outputs,
    )


@dataclass(frozen=True)
class LetterboxPlacement:
    """Where ``LetterBox`` put the image: scaled by ``gain_x``, ``gain_y`` and shifted by
    ``pad_x``, ``pad_y`` network pixels (``ops.scale_boxes`` undoes exactly this)."""

    net_w: int
    net_h: int
    gain_x: float
    gain_y: float
    pad_x: int
    pad_y: int

    def to_image(self, cxcywh_net: np.ndarray, image_wh: tuple[int, int]) -> np.ndarray:
        """Boxes relative to the network input -> relative to the image (cx, cy, w, h)."""
        out = np.empty_like(cxcywh_net, dtype=np.float64)
        out[:, 0] = (cxcywh_net[:, 0] * self.net_w - self.pad_x) / self.gain_x / image_wh[0]
        out[:, 1] = (cxcywh_net[:, 1] * self.net_h - self.pad_y) / self.gain_y / image_wh[1]
        out[:, 2] = cxcywh_net[:, 2] * self.net_w / self.gain_x / image_wh[0]
        out[:, 3] = cxcywh_net[:, 3] * self.net_h / self.gain_y / image_wh[1]
        return out


def letterbox_into(image_bgr: np.ndarray, blob: np.ndarray) -> LetterboxPlacement:
    """Write Ultralytics' network input for ``image_bgr`` into ``blob`` (3xHxW float32) as
    ``LetterBox(auto=False, scaleup=True)`` + ``preprocess`` make it, and return the placement."""
    in_h, in_w = image_bgr.shape[:2]
    net_h, net_w = blob.shape[1:]
    r = min(net_h / in_h, net_w / in_w)
    new_w, new_h = max(round(in_w * r), 1), max(round(in_h * r), 1)
    top, left = round((net_h - new_h) / 2 - 0.1), round((net_w - new_w) / 2 - 0.1)
    resized = image_bgr
    if (in_w, in_h) != (new_w, new_h):
        resized = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    blob.fill(PAD_VALUE / 255.0)
    blob[:, top : top + new_h, left : left + new_w] = resized[:, :, ::-1].transpose(2, 0, 1).astype(
        np.float32
    ) / np.float32(255)
    return LetterboxPlacement(net_w, net_h, new_w / in_w, new_h / in_h, left, top)


def ultralytics_rows(raw: np.ndarray, info: UltralyticsInfo) -> np.ndarray:
    """(batch, boxes, 5 + classes) rows in the decoder's layout (cx, cy, w, h relative to the
    network input, a box score, each class's score) from the export's one output.

    As ``predict`` does (``multi_label=False``), a box keeps only its best class: that class's
    probability is the box score and the only non-zero class score, so the per-class NMS that
    follows sees each box once, in its best class."""
    classes = len(info.names)
    size = np.array([info.width, info.height] * 2, dtype=np.float32)
    if info.end2end:
        if raw.ndim != 3 or raw.shape[2] != 6:
            raise ValueError(f"an NMS-free Ultralytics output is (batch, K, 6), not {raw.shape}")
        xyxy, score, cls = raw[..., :4], raw[..., 4], raw[..., 5].astype(np.intp)
        cxcywh = np.concatenate(
            [(xyxy[..., :2] + xyxy[..., 2:]) / 2, xyxy[..., 2:] - xyxy[..., :2]], -1
        )
    else:
        if raw.ndim != 3 or raw.shape[1] != 4 + classes:
            raise ValueError(
                f"an Ultralytics detect output for {classes} classes is (batch, {4 + classes}, "
                f"anchors), not {raw.shape}"
            )
        cells = raw.transpose(0, 2, 1)
        cxcywh, probs = cells[..., :4], cells[..., 4:]
        cls = probs.argmax(-1)
        score = np.take_along_axis(probs, cls[..., None], -1)[..., 0]
    if (cls < 0).any() or (cls >= classes).any():
        raise ValueError(f"an Ultralytics output names a class outside 0..{classes - 1}")
    rows = np.zeros((*score.shape, 5 + classes), dtype=np.float32)
    rows[..., :4] = cxcywh / size
    rows[..., 4] = score
    np.put_along_axis(rows[..., 5:], cls[..., None], score[..., None], -1)
    return rows
