"""The tiny YOLOv3-tiny model of the infer and export tests, and the images it sees.

The model is recorded (``tests/fixtures/model``: the cfg, the final weights and Debian's training
log beside them), so that every run checks the same numbers: ``record_tiny_model`` (run by
``scripts/record-fixtures.sh``) starts from random weights whose batch-norm statistics are
calibrated on the training images (darknet's own start, rolling variance 0, needs hundreds of
iterations before inference gives finite boxes) and lets Debian's darknet train ITERATIONS
iterations; ``copy_tiny_model`` copies the recording into a test's folder and draws the images
again.

The images are generated at the network size (96x96 PNG, lossless so both programs decode the
same pixels), with 1-2 filled shapes whose class is the shape and colour, like the darknet
fixtures' dataset (``tests/fixtures/darknet/dataset``, drawn by the same ``make_image``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yof_darknet.core.expressions import CLASSES
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


def make_image(
    rng: np.random.Generator,
    index: int,
    size: int = NET,
    sides: tuple[int, int] = (24, 40),
    noise: int = 30,
) -> tuple[np.ndarray, list[str]]:
    """A ``size`` x ``size`` BGR image with 1-2 non-overlapping shapes (sides in ``sides``,
    upper end excluded; the first of class ``index`` mod 7) on grey with uniform noise below
    ``noise``, and its YOLO label lines."""
    image = np.full((size, size, 3), 200, dtype=np.uint8)
    image += rng.integers(0, noise, size=image.shape, dtype=np.uint8)
    lines: list[str] = []
    taken: list[tuple[int, int, int]] = []
    for count in range(1 + index % 2):
        class_id = (index + 3 * count) % len(CLASSES)
        for _ in range(50):
            side = int(rng.integers(*sides))
            x1, y1 = (int(v) for v in rng.integers(2, size - side - 2, size=2))
            if all(x1 + side < a or a + s < x1 or y1 + side < b or b + s < y1 for a, b, s in taken):
                break
        else:
            continue
        taken.append((x1, y1, side))
        _draw(image, class_id, x1, y1, side)
        cx, cy = (x1 + side / 2) / size, (y1 + side / 2) / size
        lines.append(f"{class_id} {cx:.6f} {cy:.6f} {side / size:.6f} {side / size:.6f}")
    return image, lines


def tiny_cfg(template: str) -> str:
    """The darknet fixtures' yolov3-tiny cfg at NETxNET, batch 4, ITERATIONS iterations."""
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


def _write_inputs(root: Path) -> TinyModel:
    """Draw the images (seeded) and write the lists, names and obj.data into ``root``."""
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
    weights = root / "backup" / "tiny_final.weights"
    return TinyModel(root, root / "tiny.cfg", weights, names, data, lists["train"], lists["valid"])


def record_tiny_model(root: Path, template: str, debian_darknet: Path) -> TinyModel:
    """Draw the images in ``root`` and train the model there with Debian's darknet (the cfg:
    ``tiny_cfg(template)``); the log is ``root/train.log``."""
    model = _write_inputs(root)
    model.cfg.write_text(tiny_cfg(template))
    start = root / "start.weights"
    calibrate = [cv2.imread(str(p)) for p in model.train_images]
    write_random_weights(model.cfg, start, seed=1, calibrate=calibrate)
    log = root / "train.log"
    with log.open("w") as out:
        subprocess.run(
            [str(debian_darknet), "detector", "train", str(model.data), str(model.cfg), str(start)],
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=600,
        )
    assert model.weights.is_file(), log.read_text()[-2000:]
    assert "nan" not in log.read_text().splitlines()[-1], "training diverged"
    return model


def copy_tiny_model(root: Path, fixture: Path) -> TinyModel:
    """The recorded model (``fixture``: tiny.cfg, train.log, backup/tiny_final.weights) in
    ``root``, with its images drawn again."""
    model = _write_inputs(root)
    for name in ("tiny.cfg", "train.log", "backup/tiny_final.weights"):
        shutil.copyfile(fixture / name, root / name)
    return model
