"""Drawn faces for the embedded sample: the expression lives in the brows, eyes and mouth only.

Every face is drawn the same way whatever its class: a filled ellipse of a random colour (any
hue, saturation and brightness, drawn by the caller independently of the class) with a dark
outline, and dark brows, eyes and mouth. Only those strokes differ between the classes, so a
network can only score by reading them; the colour, size, shape and place of a face tell nothing.
From scratch on 2 CPU cores YOLOv3-tiny has a few hundred iterations to learn both where faces
are and which expression they show, so the strokes are bold and large (all sizes scale with the
face box, so a small face carries the same cues as a large one).
"""

from __future__ import annotations

import numpy as np

_INK = (20, 20, 20)
_WHITE = (250, 250, 250)
# Stroke width = the face's smaller semi-axis / _STROKE: bold enough to survive the network's
# 128 px input when three faces share an image.
_STROKE = 4.5


def face_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A random BGR fill: any hue, saturation 0-170, brightness 165-245 (dark ink stays visible)."""
    import cv2

    hsv = np.array(
        [[[rng.uniform(0, 180), rng.uniform(0, 170), rng.uniform(165, 245)]]], dtype=np.float32
    )
    bgr = cv2.cvtColor(hsv.round().astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0]
    return (int(bgr[0]), int(bgr[1]), int(bgr[2]))


def _pt(cx: float, cy: float, rx: float, ry: float, u: float, v: float) -> tuple[int, int]:
    """Face-relative (u, v) in [-1, 1] (v down) → pixel point."""
    return (round(cx + u * rx), round(cy + v * ry))


_Face = tuple[float, float, float, float]  # centre x, y and semi-axes x, y in pixels


def _line(img, f: _Face, a: tuple[float, float], b: tuple[float, float], thick: int) -> None:
    import cv2

    cv2.line(img, _pt(*f, *a), _pt(*f, *b), _INK, thick, cv2.LINE_AA)


def _poly(img, f: _Face, points: list[tuple[float, float]], thick: int) -> None:
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
    if label == 0:  # anger: brows in a steep V, slit eyes, clenched teeth
        _line(img, f, (-0.7, -0.65), (-0.1, -0.3), thick)
        _line(img, f, (0.7, -0.65), (0.1, -0.3), thick)
        _line(img, f, (-0.55, -0.12), (-0.2, -0.12), thick)
        _line(img, f, (0.55, -0.12), (0.2, -0.12), thick)
        _ellipse(img, f, (0, 0.5), (0.5, 0.24), _WHITE, -1)
        _ellipse(img, f, (0, 0.5), (0.5, 0.24), _INK, max(1, thick // 2))
        _line(img, f, (-0.45, 0.5), (0.45, 0.5), max(1, thick // 2))
    elif label == 1:  # disgust: one brow up, one down, squint, zigzag mouth pulled to one side
        _line(img, f, (-0.7, -0.65), (-0.15, -0.5), thick)
        _line(img, f, (0.15, -0.3), (0.7, -0.42), thick)
        _line(img, f, (-0.55, -0.18), (-0.2, -0.18), thick)
        _dot_eyes(img, f, 0.12)
        _poly(img, f, [(-0.6, 0.3), (-0.3, 0.58), (0.0, 0.3), (0.3, 0.6), (0.6, 0.4)], thick)
    elif label == 2:  # fear: brows raised and pulled together, huge eyes, wide open mouth
        _line(img, f, (-0.7, -0.55), (-0.12, -0.78), thick)
        _line(img, f, (0.7, -0.55), (0.12, -0.78), thick)
        _round_eyes(img, f, 0.22, thick)
        _ellipse(img, f, (0, 0.5), (0.55, 0.24), _INK, -1)
        _ellipse(img, f, (0, 0.5), (0.42, 0.08), _WHITE, -1)
    elif label == 3:  # happiness: arched brows, closed ^ eyes, wide open smile
        _ellipse(img, f, (-0.38, -0.45), (0.25, 0.14), _INK, thick, (180, 360))
        _ellipse(img, f, (0.38, -0.45), (0.25, 0.14), _INK, thick, (180, 360))
        _ellipse(img, f, (-0.38, -0.1), (0.2, 0.16), _INK, thick, (180, 360))
        _ellipse(img, f, (0.38, -0.1), (0.2, 0.16), _INK, thick, (180, 360))
        _ellipse(img, f, (0, 0.22), (0.62, 0.5), _INK, -1, (0, 180))
    elif label == 4:  # sadness: brows slanting up inwards, drooping eyes, deep frown, a tear
        _line(img, f, (-0.7, -0.32), (-0.12, -0.62), thick)
        _line(img, f, (0.7, -0.32), (0.12, -0.62), thick)
        _ellipse(img, f, (-0.38, -0.2), (0.2, 0.14), _INK, thick, (0, 180))
        _ellipse(img, f, (0.38, -0.2), (0.2, 0.14), _INK, thick, (0, 180))
        _ellipse(img, f, (0, 0.75), (0.55, 0.4), _INK, thick, (180, 360))
        _ellipse(img, f, (-0.45, 0.18), (0.1, 0.17), _WHITE, -1)
    elif label == 5:  # surprise: brows high up, big round eyes, tall round O mouth
        _ellipse(img, f, (-0.38, -0.62), (0.25, 0.15), _INK, thick, (180, 360))
        _ellipse(img, f, (0.38, -0.62), (0.25, 0.15), _INK, thick, (180, 360))
        _round_eyes(img, f, 0.2, thick)
        _ellipse(img, f, (0, 0.48), (0.25, 0.36), _INK, -1)
    else:  # neutral: straight brows, dot eyes, straight mouth
        _line(img, f, (-0.62, -0.48), (-0.15, -0.48), thick)
        _line(img, f, (0.62, -0.48), (0.15, -0.48), thick)
        _dot_eyes(img, f, 0.12)
        _line(img, f, (-0.42, 0.48), (0.42, 0.48), thick)


def draw_face(
    img: np.ndarray, ltrb: tuple[int, int, int, int], label: int, colour: tuple[int, int, int]
) -> None:
    """Draw a face of class ``label`` filling the box ``ltrb`` (pixels) of the BGR image ``img``.

    ``colour`` is the BGR fill (``face_colour``); the caller draws it independently of ``label``.
    """
    left, top, right, bottom = ltrb
    f = ((left + right) / 2, (top + bottom) / 2, (right - left) / 2, (bottom - top) / 2)
    thick = max(2, round(min(f[2], f[3]) / _STROKE))
    _ellipse(img, f, (0, 0), (1, 1), colour, -1)
    _ellipse(img, f, (0, 0), (1, 1), _INK, max(1, thick // 2))
    _features(img, f, label, thick)


def background(rng: np.random.Generator, side: int) -> np.ndarray:
    """Dim, low-saturation clutter: a gradient, noise and a few grey shapes, darker than any face.

    Brightness stays under 140 (a face's fill is 165 or more), so that a face's outline is
    always visible; it is drawn the same way whatever the classes of the faces put on it.
    """
    import cv2

    base = rng.uniform(45, 105) + rng.uniform(-10, 10, size=3)
    ramp = np.linspace(-20, 20, side)[None, :, None] * rng.choice([-1, 1])
    img = np.clip(base + ramp + rng.normal(0, 6, size=(side, side, 3)), 0, 255).astype(np.uint8)
    img = np.ascontiguousarray(np.swapaxes(img, 0, 1) if rng.random() < 0.5 else img)
    for _ in range(int(rng.integers(2, 6))):
        grey = int(rng.integers(30, 140))
        p1 = tuple(int(v) for v in rng.integers(0, side, size=2))
        p2 = tuple(int(v) for v in rng.integers(0, side, size=2))
        if rng.random() < 0.5:
            cv2.rectangle(img, p1, p2, (grey, grey, grey), -1)
        else:
            cv2.line(img, p1, p2, (grey, grey, grey), int(rng.integers(1, 4)))
    return img


def face_picture(
    rng: np.random.Generator,
    size_wh: tuple[int, int],
    faces_ltrb: list[tuple[int, int, int, int]],
    labels: list[int],
) -> np.ndarray:
    """A BGR picture of ``size_wh`` with a drawn face of class ``labels[i]`` in each box."""
    width, height = size_wh
    img = np.ascontiguousarray(background(rng, max(width, height))[:height, :width])
    for box, label in zip(faces_ltrb, labels, strict=True):
        draw_face(img, box, label, face_colour(rng))
    return img


ENCODINGS = ("jpeg", "png", "bmp", "tiff", "gif")


def encode(img: np.ndarray, kind: str) -> bytes:
    """``img`` (BGR) as a file of ``kind`` (``ENCODINGS``; ``gif``: two frames, animated)."""
    import io

    from PIL import Image

    rgb = Image.fromarray(np.ascontiguousarray(img[:, :, ::-1]))
    buffer = io.BytesIO()
    if kind == "jpeg":
        rgb.save(buffer, "JPEG", quality=92)
    elif kind == "gif":
        flipped = Image.fromarray(np.ascontiguousarray(img[::-1, :, ::-1]))
        rgb.save(buffer, "GIF", save_all=True, append_images=[flipped], duration=100, loop=0)
    else:
        rgb.save(buffer, kind.upper())
    return buffer.getvalue()
