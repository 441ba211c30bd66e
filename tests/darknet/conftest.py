"""A tiny generated Darknet dataset (8 images, 64x64, labels beside them) for real runs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from yof_darknet.darknet.objdata import ObjData, write_obj_data
from yof_darknet.expressions import CLASSES

SIZE = 64


def make_dataset(root: Path, count: int = 8) -> Path:
    """``count`` images with one filled square each; returns the obj.data path."""
    rng = np.random.default_rng(7)
    root.mkdir(parents=True, exist_ok=True)
    images = []
    for index in range(count):
        image = np.full((SIZE, SIZE, 3), 200, np.uint8)
        side = int(rng.integers(16, 40))
        x1, y1 = (int(v) for v in rng.integers(0, SIZE - side, size=2))
        class_id = index % len(CLASSES)
        color = tuple(int(c) for c in rng.integers(0, 160, size=3))
        cv2.rectangle(image, (x1, y1), (x1 + side - 1, y1 + side - 1), color, thickness=-1)
        path = root / f"img{index:02d}.jpg"
        cv2.imwrite(str(path), image)
        cx, cy, w = (x1 + side / 2) / SIZE, (y1 + side / 2) / SIZE, side / SIZE
        path.with_suffix(".txt").write_text(f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {w:.6f}\n")
        images.append(path)
    (root / "train.txt").write_text("".join(f"{p}\n" for p in images))
    (root / "test.txt").write_text("".join(f"{p}\n" for p in images[:2]))
    (root / "obj.names").write_text("\n".join(CLASSES) + "\n")
    obj = root / "obj.data"
    write_obj_data(
        obj,
        ObjData(len(CLASSES), root / "train.txt", root / "test.txt", root / "obj.names", root),
    )
    return obj


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a fixed folder name: pjreddie rewrites 'images'/'raw' anywhere in a path (test names vary)
    return make_dataset(tmp_path_factory.mktemp("dn") / "set")
