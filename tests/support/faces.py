"""A real multi-face photo for the face-hygiene tests, from public-domain portraits in wheels.

Grace Hopper (matplotlib's sample data) and Eileen Collins (the package's shipped crop of
scikit-image's astronaut, twice: at 2x and mirrored at 1x) side by side on a grey canvas. The
boxes are tight face boxes (brows to chin, cheek to cheek), chosen by eye the way ExpW's are.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from yof_darknet.samples.affwild2 import ASSETS

HOPPER_TIGHT = (210, 170, 320, 300)  # in matplotlib's 512x600 grace_hopper.jpg
COLLINS_TIGHT = (70, 65, 135, 150)  # in assets/faces/eileen_collins.jpg (200x220)


def hopper() -> np.ndarray:
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def group_photo() -> tuple[np.ndarray, dict[str, tuple[int, int, int, int]]]:
    """The 1250x600 BGR canvas and each person's tight face box in it (x1, y1, x2, y2)."""
    canvas = np.full((600, 1250, 3), 128, dtype=np.uint8)
    canvas[:, :512] = hopper()
    collins = cv2.imread(str(ASSETS / "eileen_collins.jpg"), cv2.IMREAD_COLOR)
    canvas[80:520, 560:960] = cv2.resize(collins, (400, 440), interpolation=cv2.INTER_CUBIC)
    canvas[300:520, 1010:1210] = collins[:, ::-1]
    x1, y1, x2, y2 = COLLINS_TIGHT
    boxes = {
        "hopper": HOPPER_TIGHT,
        "collins_large": (560 + 2 * x1, 80 + 2 * y1, 560 + 2 * x2, 80 + 2 * y2),
        "collins_small": (1010 + 200 - x2, 300 + y1, 1010 + 200 - x1, 300 + y2),
    }
    return canvas, boxes


def write_group_expw(root: Path, annotated: tuple[str, ...] = ("hopper",)) -> dict:
    """An ExpW folder with the group photo (``group.jpg``, JPEG quality 95) and one
    ``label.lst`` row per ``annotated`` person (label 3, score 90); returns the boxes."""
    image, boxes = group_photo()
    origin = root / "image" / "origin"
    origin.mkdir(parents=True)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    (origin / "group.jpg").write_bytes(data.tobytes())
    rows = []
    for face_id, who in enumerate(annotated):
        x1, y1, x2, y2 = boxes[who]
        rows.append(f"group.jpg {face_id} {y1} {x1} {x2} {y2} 90.0 3\n")
    (root / "label").mkdir()
    (root / "label" / "label.lst").write_text("".join(rows))
    return boxes
