"""What an exported ONNX detector records about itself, and the ``[yolo]`` heads it decodes.

The export writes :class:`ModelInfo` into the ONNX file's ``metadata_props`` (one JSON value
under :data:`METADATA_KEY`); the detector reads it back, so a model file alone says how to
pre-process its input (size, letterbox) and decode its raw head outputs (anchors, masks,
``scale_x_y``), which classes it has, and which cfg and weights it came from (sha256)::

    info = ModelInfo.from_json(props[METADATA_KEY])
    info.heads[0].anchors   # ((81.0, 82.0), (135.0, 169.0), (344.0, 319.0))
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import Section, yolo_heads

METADATA_KEY = "yof_darknet"
NMS_KINDS = ("default", "greedynms", "diounms")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class YoloHead:
    """One ``[yolo]`` layer as the decoder needs it: the anchors its mask selects (pixels of the
    network input), the class count, the grid-sensitivity factor ``scale_x_y`` and
    ``new_coords`` (yolov7/Scaled-YOLOv4: the convolution already applied the logistic, and
    w, h = (2 * output)^2 * anchor instead of exp(output) * anchor), and the NMS AlexeyAB runs
    after it (``nms_kind``: ``default`` IoU, ``greedynms`` DIoU with exponent 0.6, ``diounms``
    DIoU with exponent ``beta_nms``; darknet takes the last head's)."""

    anchors: tuple[tuple[float, float], ...]
    mask: tuple[int, ...]
    classes: int
    scale_x_y: float = 1.0
    new_coords: bool = False
    nms_kind: str = "default"
    beta_nms: float = 0.6

    @property
    def channels(self) -> int:
        return len(self.anchors) * (self.classes + 5)


def head_specs(sections: list[Section], source: str = "<cfg>") -> list[YoloHead]:
    """The :class:`YoloHead` of every ``[yolo]`` section, in cfg order (the decoder's and the
    exported model's output order). Options the decoder does not implement are refused."""
    heads = []
    for index in yolo_heads(sections):
        head = sections[index]
        where = f"{source}:{head.line}: [yolo]"
        numbers = [float(v) for v in head.get("anchors", "").split(",") if v.strip()]
        pairs = list(zip(numbers[::2], numbers[1::2], strict=False))
        mask = head.ints("mask") or list(range(len(pairs)))
        if not pairs or any(m < 0 or m >= len(pairs) for m in mask):
            raise DarknetError(f"{where}: mask={mask} does not index its {len(pairs)} anchors")
        heads.append(
            YoloHead(
                anchors=tuple(pairs[m] for m in mask),
                mask=tuple(mask),
                classes=int(head.get("classes", "0") or 0),
                scale_x_y=float(head.get("scale_x_y", "1") or 1),
                new_coords=bool(int(float(head.get("new_coords", "0") or 0))),
                # AlexeyAB's parser: any other name is its default NMS
                nms_kind=kind if (kind := head.get("nms_kind")) in NMS_KINDS else "default",
                beta_nms=float(head.get("beta_nms", "0.6") or 0.6),
            )
        )
    return heads


@dataclass(frozen=True)
class ModelInfo:
    """Everything an exported model needs to run like its Darknet source."""

    width: int
    height: int
    letter_box: bool
    names: tuple[str, ...]
    heads: tuple[YoloHead, ...]
    outputs: tuple[str, ...]  # ONNX output names, one per head, in head order
    cfg_sha256: str
    weights_sha256: str
    bn_flavor: str  # darknet whose batch-norm epsilon was folded in (alexeyab|pjreddie)
    precision: str = "fp32"  # fp32 | int8
    quantization: dict[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelInfo:
        raw = json.loads(text)
        if raw.get("version") != FORMAT_VERSION:
            raise DarknetError(
                f"model metadata version {raw.get('version')!r}; this yof-darknet reads "
                f"{FORMAT_VERSION}: export the model again"
            )
        heads = tuple(
            YoloHead(
                anchors=tuple(tuple(a) for a in h["anchors"]),
                mask=tuple(h["mask"]),
                classes=int(h["classes"]),
                scale_x_y=float(h["scale_x_y"]),
                new_coords=bool(h.get("new_coords", False)),
                nms_kind=str(h.get("nms_kind", "default")),
                beta_nms=float(h.get("beta_nms", 0.6)),
            )
            for h in raw.pop("heads")
        )
        return cls(
            **{
                **raw,
                "heads": heads,
                "names": tuple(raw["names"]),
                "outputs": tuple(raw["outputs"]),
            }
        )
