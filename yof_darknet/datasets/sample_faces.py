"""Drawn faces for the embedded sample: one bold, large look per expression class.

From scratch on 2 CPU cores, YOLOv3-tiny has a few hundred iterations to learn both where faces
are and which expression they show, so each class differs in what a small network sees first:
the face colour (six hues 60 degrees apart, which Darknet's ``hue=.1`` augmentation cannot carry
into a neighbour, and a grey one for neutral) and thick, face-sized brows, eyes and mouth.
All sizes scale with the face box, so a small face carries the same cues as a large one.
"""

from __future__ import annotations

import numpy as np

# BGR face colours in CLASSES order: anger red, disgust green, fear magenta, happiness yellow,
# sadness blue, surprise cyan, neutral light grey (no hue, so colour jitter cannot move it).
FACE_BGR: tuple[tuple[int, int, int], ...] = (
    (40, 40, 215),
    (50, 175, 40),
    (200, 50, 195),
    (40, 215, 235),
    (215, 90, 30),
    (220, 205, 40),
    (205, 205, 205),
)
_INK = (20, 20, 20)
_WHITE = (250, 250, 250)


def _pt(cx: float, cy: float, rx: float, ry: float, u: float, v: float) -> tuple[int, int]:
    """Face-relative (u, v) in [-1, 1] (v down) → pixel point."""
    return (round(cx + u * rx), round(cy + v * ry))


def _line(img, f, a: tuple[float, float], b: tuple[float, float], thick: int) -> None:
    import cv2

    cv2.line(img, _pt(*f, *a), _pt(*f, *b), _INK, thick, cv2.LINE_AA)


def _poly(img, f, points: list[tuple[float, float]], thick: int) -> None:
    import cv2

    pts = np.array([_pt(*f, u, v) for u, v in points], dtype=np.int32)
    cv2.polylines(img, [pts], False, _INK, thick, cv2.LINE_AA)


def _ellipse(img, f, centre, axes, colour, thick: int, arc: tuple[int, int] = (0, 360)) -> None:
    import cv2

    rx, ry = f[2], f[3]
    axes_px = (max(1, round(axes[0] * rx)), max(1, round(axes[1] * ry)))
    cv2.ellipse(img, _pt(*f, *centre), axes_px, 0, arc[0], arc[1], colour, thick, cv2.LINE_AA)


def _round_eyes(img, f, radius: float, thick: int) -> None:
    for u in (-0.38, 0.38):
        _ellipse(img, f, (u, -0.2), (radius, radius), _WHITE, -1)
        _ellipse(img, f, (u, -0.2), (radius, radius), _INK, thick)
        _ellipse(img, f, (u, -0.2), (radius * 0.4, radius * 0.4), _INK, -1)


def _dot_eyes(img, f, radius: float) -> None:
    for u in (-0.38, 0.38):
        _ellipse(img, f, (u, -0.2), (radius, radius), _INK, -1)


def _features(img, f, label: int, thick: int) -> None:
    """Brows, eyes and mouth of class ``label`` on the face ``f = (cx, cy, rx, ry)``."""
    if label == 0:  # anger: brows in a steep V, slit eyes, clenched frown with teeth
        _line(img, f, (-0.7, -0.62), (-0.12, -0.35), thick)
        _line(img, f, (0.7, -0.62), (0.12, -0.35), thick)
        _line(img, f, (-0.55, -0.18), (-0.2, -0.18), thick)
        _line(img, f, (0.55, -0.18), (0.2, -0.18), thick)
        _ellipse(img, f, (0, 0.45), (0.42, 0.16), _INK, -1)
        _line(img, f, (-0.36, 0.45), (0.36, 0.45), max(1, thick // 2))
    elif label == 1:  # disgust: one brow up, one down, squint, zigzag mouth pulled to one side
        _line(img, f, (-0.7, -0.6), (-0.15, -0.48), thick)
        _line(img, f, (0.15, -0.3), (0.7, -0.42), thick)
        _line(img, f, (-0.55, -0.2), (-0.2, -0.2), thick)
        _dot_eyes(img, f, 0.1)
        _poly(img, f, [(-0.5, 0.35), (-0.25, 0.5), (0.0, 0.3), (0.25, 0.55), (0.55, 0.4)], thick)
    elif label == 2:  # fear: brows raised and pulled together, huge eyes, wide open mouth
        _line(img, f, (-0.7, -0.55), (-0.12, -0.75), thick)
        _line(img, f, (0.7, -0.55), (0.12, -0.75), thick)
        _round_eyes(img, f, 0.2, thick)
        _ellipse(img, f, (0, 0.45), (0.5, 0.2), _INK, -1)
        _ellipse(img, f, (0, 0.45), (0.4, 0.07), _WHITE, -1)
    elif label == 3:  # happiness: arched brows, closed ^ eyes, wide open smile
        _ellipse(img, f, (-0.38, -0.42), (0.25, 0.12), _INK, thick, (180, 360))
        _ellipse(img, f, (0.38, -0.42), (0.25, 0.12), _INK, thick, (180, 360))
        _ellipse(img, f, (-0.38, -0.12), (0.2, 0.14), _INK, thick, (180, 360))
        _ellipse(img, f, (0.38, -0.12), (0.2, 0.14), _INK, thick, (180, 360))
        _ellipse(img, f, (0, 0.22), (0.6, 0.45), _INK, -1, (0, 180))
    elif label == 4:  # sadness: brows slanting up inwards, drooping eyes, deep frown, a tear
        _line(img, f, (-0.7, -0.35), (-0.12, -0.6), thick)
        _line(img, f, (0.7, -0.35), (0.12, -0.6), thick)
        _ellipse(img, f, (-0.38, -0.22), (0.2, 0.12), _INK, thick, (0, 180))
        _ellipse(img, f, (0.38, -0.22), (0.2, 0.12), _INK, thick, (0, 180))
        _ellipse(img, f, (0, 0.7), (0.5, 0.35), _INK, thick, (180, 360))
        _ellipse(img, f, (-0.45, 0.15), (0.09, 0.15), _WHITE, -1)
    elif label == 5:  # surprise: brows high up, big round eyes, tall round O mouth
        _ellipse(img, f, (-0.38, -0.6), (0.25, 0.15), _INK, thick, (180, 360))
        _ellipse(img, f, (0.38, -0.6), (0.25, 0.15), _INK, thick, (180, 360))
        _round_eyes(img, f, 0.18, thick)
        _ellipse(img, f, (0, 0.45), (0.22, 0.33), _INK, -1)
    else:  # neutral: straight brows, dot eyes, straight mouth
        _line(img, f, (-0.62, -0.45), (-0.15, -0.45), thick)
        _line(img, f, (0.62, -0.45), (0.15, -0.45), thick)
        _dot_eyes(img, f, 0.11)
        _line(img, f, (-0.4, 0.45), (0.4, 0.45), thick)


def draw_face(img: np.ndarray, ltrb: tuple[int, int, int, int], label: int, jitter: int) -> None:
    """Draw a face of class ``label`` filling the box ``ltrb`` (pixels) of the BGR image ``img``.

    ``jitter`` (-20..20) shifts the face colour a little, so that no two faces are identical.
    """
    left, top, right, bottom = ltrb
    f = ((left + right) / 2, (top + bottom) / 2, (right - left) / 2, (bottom - top) / 2)
    colour = tuple(int(np.clip(c + jitter, 0, 255)) for c in FACE_BGR[label])
    thick = max(2, round(min(f[2], f[3]) / 6))
    _ellipse(img, f, (0, 0), (1, 1), colour, -1)
    _ellipse(img, f, (0, 0), (1, 1), _INK, max(1, thick // 2))
    _features(img, f, label, thick)
