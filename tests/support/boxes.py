"""Box helpers shared by the tests (independent of the product's vectorised IoU code)."""

from __future__ import annotations

from collections.abc import Sequence


def iou_xyxy(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two pixel boxes (x1, y1, x2, y2); 0 when their union is empty."""
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = a, b
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0


def parse_line(line: str, image_wh: tuple[int, int]) -> tuple[int, tuple[float, ...]]:
    """Darknet label line → (class, pixel box x1 y1 x2 y2): the inverse a reader would apply."""
    cls, cx, cy, w, h = line.split()
    width, height = image_wh
    cx, cy, w, h = float(cx) * width, float(cy) * height, float(w) * width, float(h) * height
    return int(cls), (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
