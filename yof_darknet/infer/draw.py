"""Drawing detections (box, class name, score) and the frame rate on BGR images, in place."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from yof_darknet.infer.detector import Detection

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_colour(class_id: int) -> tuple[int, int, int]:
    """A stable, well separated BGR colour per class id (golden-ratio hues)."""
    hue = int((class_id * 0.618033988749895 % 1.0) * 180)
    pixel = np.array([[[hue, 200, 230]]], dtype=np.uint8)
    b, g, r = cv2.cvtColor(pixel, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def draw_detections(
    image: np.ndarray, detections: Sequence[Detection], labels: Sequence[str] | None = None
) -> np.ndarray:
    """Draw each detection's box and ``labels[i]`` (default ``"name 0.91"``) on ``image``."""
    height, width = image.shape[:2]
    scale = max(0.4, min(width, height) / 800)
    thickness = max(1, round(scale * 2))
    for index, det in enumerate(detections):
        x1, y1, x2, y2 = (round(v) for v in det.clipped(width - 1, height - 1))
        colour = class_colour(det.class_id)
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, thickness)
        text = labels[index] if labels is not None else f"{det.name} {det.score:.2f}"
        (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
        top = y1 - th - base if y1 - th - base >= 0 else y1
        left = max(0, min(x1, width - tw))
        cv2.rectangle(image, (left, top), (left + tw, top + th + base), colour, -1)
        cv2.putText(image, text, (left, top + th), _FONT, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return image


def draw_fps(image: np.ndarray, fps: float) -> np.ndarray:
    """Write ``FPS 12.3`` in the bottom-left corner (labels of faces near the top stay readable)."""
    scale = max(0.5, image.shape[0] / 720)
    text = f"FPS {fps:.1f}"
    for colour, extra in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(
            image, text, (8, image.shape[0] - int(10 * scale)), _FONT, scale, colour, extra,
            cv2.LINE_AA,
        )  # fmt: skip
    return image
