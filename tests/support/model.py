"""A tiny YOLOv3-tiny model trained once per session by Debian's darknet, and its images.

Darknet starts from random weights whose batch-norm statistics are calibrated on the training
images (darknet's own start, rolling variance 0, needs hundreds of iterations before inference
gives finite boxes) and trains ITERATIONS iterations.

The images are generated at the network size (96x96 PNG, lossless so both programs decode the
same pixels), with 1-2 filled shapes whose class is the shape and colour, like the shared
fixtures' dataset.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yof_darknet.expressions import CLASSES
from yof_darknet.formats.labels import check_label_path
from yof_darknet.infer.weightsfile import write_random_weights

NET = 96
ITERATIONS = 20
# (shape, BGR colour) of each class, in CLASSES order.
SHAPES = (
    ("circle", (40, 40, 220)),
    ("square", (40, 200, 40)),
    ("triangle", (180, 40, 150)),
    ("circle", (40, 220, 230)),
    ("square", (220, 80, 40)),
    ("triangle", (30, 140, 250)),
    ("plus", (20, 20, 20)),
)


@dataclass(frozen=True)
class TinyModel:
    root: Path
    cfg: Path
    weights: Path
    names: Path
    data: Path
    train_images: list[Path]
    valid_images: list[Path]


def _draw(image: np.ndarray, class_id: int, x1: int, y1: int, side: int) -> None:
    shape, colour = SHAPES[class_id]
    x2, y2 = x1 + side, y1 + side
    if shape == "circle":
        cv2.circle(image, ((x1 + x2) // 2, (y1 + y2) // 2), side // 2, colour, -1)
    elif shape == "square":
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, -1)
    elif shape == "triangle":
        points = np.array([[(x1 + x2) // 2, y1], [x1, y2], [x2, y2]], dtype=np.int32)
        cv2.fillPoly(image, [points], colour)
    else:
        bar = max(side // 4, 2)
        cv2.rectangle(image, (x1, (y1 + y2 - bar) // 2), (x2, (y1 + y2 + bar) // 2), colour, -1)
        cv2.rectangle(image, ((x1 + x2 - bar) // 2, y1), ((x1 + x2 + bar) // 2, y2), colour, -1)


def make_image(rng: np.random.Generator, index: int) -> tuple[np.ndarray, list[str]]:
    """A NETxNET BGR image with 1-2 non-overlapping shapes and its YOLO label lines."""
    image = np.full((NET, NET, 3), 200, dtype=np.uint8)
    image += rng.integers(0, 30, size=image.shape, dtype=np.uint8)
    lines: list[str] = []
    taken: list[tuple[int, int, int]] = []
    for count in range(1 + index % 2):
        class_id = (index + 3 * count) % len(CLASSES)
        for _ in range(50):
            side = int(rng.integers(24, 40))
            x1, y1 = (int(v) for v in rng.integers(2, NET - side - 2, size=2))
            if all(x1 + side < a or a + s < x1 or y1 + side < b or b + s < y1 for a, b, s in taken):
                break
        else:
            continue
        taken.append((x1, y1, side))
        _draw(image, class_id, x1, y1, side)
        cx, cy = (x1 + side / 2) / NET, (y1 + side / 2) / NET
        lines.append(f"{class_id} {cx:.6f} {cy:.6f} {side / NET:.6f} {side / NET:.6f}")
    return image, lines


def tiny_cfg(template: str) -> str:
    """The shared fixtures' yolov3-tiny cfg at NETxNET, batch 4, ITERATIONS iterations."""
    settings = {
        "width": NET,
        "height": NET,
        "batch": 4,
        "subdivisions": 1,
        "max_batches": ITERATIONS,
        "burn_in": 0,
        "learning_rate": 0.0001,
    }
    for key, value in settings.items():
        template, count = re.subn(rf"(?m)^{key}\s*=.*$", f"{key}={value}", template)
        assert count == 1, key
    return template


def train_tiny_model(root: Path, darknet_fixtures: Path, debian_darknet: Path) -> TinyModel:
    """Generate the images in ``root`` and train the model there with Debian's darknet."""
    rng = np.random.default_rng(7)
    lists: dict[str, list[Path]] = {"train": [], "valid": []}
    for split, count in (("train", 16), ("valid", 6)):
        folder = root / "data" / split
        folder.mkdir(parents=True)
        for index in range(count):
            image, lines = make_image(rng, index)
            path = folder / f"{split}_{index:03d}.png"
            cv2.imwrite(str(path), image)
            check_label_path(path).write_text("\n".join(lines) + "\n")
            lists[split].append(path)
    for split, paths in lists.items():
        (root / f"{split}.txt").write_text("".join(f"{p}\n" for p in paths))
    names = root / "obj.names"
    names.write_text("\n".join(CLASSES) + "\n")
    (root / "backup").mkdir()
    data = root / "obj.data"
    data.write_text(
        f"classes={len(CLASSES)}\ntrain={root / 'train.txt'}\nvalid={root / 'valid.txt'}\n"
        f"names={names}\nbackup={root / 'backup'}\n"
    )
    cfg = root / "tiny.cfg"
    cfg.write_text(tiny_cfg((darknet_fixtures / "dataset" / "yolov3-tiny-obj.cfg").read_text()))
    start = root / "start.weights"
    write_random_weights(cfg, start, seed=1, calibrate=[cv2.imread(str(p)) for p in lists["train"]])
    log = root / "train.log"
    with log.open("w") as out:
        subprocess.run(
            [str(debian_darknet), "detector", "train", str(data), str(cfg), str(start)],
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=600,
        )
    weights = root / "backup" / "tiny_final.weights"
    assert weights.is_file(), log.read_text()[-2000:]
    assert "nan" not in log.read_text().splitlines()[-1], "training diverged"
    return TinyModel(root, cfg, weights, names, data, lists["train"], lists["valid"])
