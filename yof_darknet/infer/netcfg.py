"""What the detector needs from a Darknet cfg, and the copy of it that OpenCV's importer reads.

OpenCV's Darknet importer gives each ``[yolo]`` layer a class-score threshold (the ``thresh`` key,
0.2 when absent; Darknet itself ignores the key) and zeroes every score at or below it. The copy
made by :func:`opencv_cfg_text` sets ``thresh=0`` in every ``[yolo]`` section so that all scores
reach Python, where the user's threshold is applied exactly as Darknet applies it. The copy stays
in memory: the user's cfg file is never modified.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yof_darknet.core.errors import InferenceError
from yof_darknet.formats.cfg import apply_setting, dump_cfg, net_int, parse_cfg, yolo_heads


@dataclass(frozen=True)
class NetSpec:
    """The [net] input size, the letterbox flag and the class count of a Darknet cfg."""

    width: int
    height: int
    channels: int
    letter_box: bool
    classes: int
    yolo_layers: int


def read_net_spec(path: Path, text: str) -> NetSpec:
    """Parse ``text`` (the contents of the cfg ``path``) into a :class:`NetSpec`."""
    sections = parse_cfg(text, str(path))
    heads = [sections[i] for i in yolo_heads(sections)]
    if not heads:
        raise InferenceError(
            f"{path}: no [yolo] section; only YOLOv3/v4-style detectors are supported"
        )
    classes = {head.get("classes") for head in heads}
    only = classes.pop() if len(classes) == 1 else None
    if only is None:
        raise InferenceError(f"{path}: every [yolo] section needs the same classes=")
    return NetSpec(
        width=net_int(sections, "width"),
        height=net_int(sections, "height"),
        channels=net_int(sections, "channels", 3),
        letter_box=bool(net_int(sections, "letter_box", 0)),
        classes=int(only),
        yolo_layers=len(heads),
    )


def opencv_cfg_text(text: str, size: tuple[int, int] | None = None) -> str:
    """A copy of the cfg ``text`` with ``thresh=0`` in each [yolo] section (and, if ``size``
    = (width, height) is given, that input size in [net]), for ``cv2.dnn.readNetFromDarknet``."""
    sections = parse_cfg(text)
    apply_setting(sections, "yolo.thresh", "0")
    if size is not None:
        apply_setting(sections, "net.width", str(size[0]))
        apply_setting(sections, "net.height", str(size[1]))
    return dump_cfg(sections)
