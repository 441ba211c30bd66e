"""What several test modules share: generated data and independent reference helpers.

Imported by test modules and conftest.py files; test modules never import each other.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import cv2
import numpy as np

from yof_darknet.core.expressions import CLASSES
from yof_darknet.formats.cfg import read_cfg
from yof_darknet.formats.objdata import ObjData, write_obj_data
from yof_darknet.formats.weights import weights_bytes

SIZE = 64
# The class names of the darknet fixtures' dataset (tests/fixtures/darknet/dataset).
NAMES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
REPLAY = """#!{python}
import json, sys
answers = json.load(open({table!r}))
out, err = answers.get(" ".join(sys.argv[1:]), ["", ""])
sys.stdout.write(out)
sys.stderr.write(err)
"""


def make_dataset(root: Path, count: int = 8) -> Path:
    """``count`` images with one filled square each, listed for training (all), test (the first
    two) and validation (the next two: obj.data's ``val``); returns the obj.data path."""
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
    (root / "val.txt").write_text("".join(f"{p}\n" for p in images[2:4]))
    (root / "obj.names").write_text("\n".join(CLASSES) + "\n")
    obj = root / "obj.data"
    lists = (root / "train.txt", root / "test.txt", root / "obj.names", root)
    write_obj_data(obj, ObjData(len(CLASSES), *lists, {"val": str(root / "val.txt")}))
    return obj


def replay_binary(folder: Path, answers: dict[str, tuple[str, str]]) -> Path:
    """An executable that prints recorded (stdout, stderr) for each argument string."""
    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "answers.json"
    table.write_text(json.dumps(answers))
    path = folder / "darknet"
    path.write_text(REPLAY.format(python=sys.executable, table=str(table)))
    path.chmod(0o755)
    return path


def write_weights(path, cfg, seen: int, *, legacy: bool = False, seed: int = 0) -> bytes:
    """A weights file of the right size for ``cfg`` with random parameters; returns the body."""
    count = weights_bytes(read_cfg(cfg)) // 4
    body = np.random.default_rng(seed).standard_normal(count).astype("<f4").tobytes()
    header = struct.pack("<3iI", 0, 1, 0, seen) if legacy else struct.pack("<3iQ", 0, 2, 5, seen)
    path.write_bytes(header + body)
    return body
