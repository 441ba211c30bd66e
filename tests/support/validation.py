"""A dataset with disjoint train, validation and test lists, and real darknet checkpoints.

Debian's darknet saves ``<cfg>_N.weights`` and ``<cfg>.backup`` when the iteration reaches a
multiple of 100 (below 1000), and ``_final`` at ``max_batches``. A run that starts from weights
whose header says 97 iterations were done therefore saves real checkpoints after 3 iterations:
that is how these tests get several checkpoints from a few dozen iterations.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tests.support.model import make_image
from yof_darknet.core.expressions import CLASSES
from yof_darknet.formats.labels import check_label_path
from yof_darknet.infer.weightsfile import write_random_weights
from yof_darknet.training.profiles import generate_cfg

TINY = ["width=64", "height=64", "batch=2", "subdivisions=1", "burn_in=1"]
BATCH = 2
SPLITS = {"train": 12, "val": 6, "test": 6}


def make_split_dataset(root: Path) -> Path:
    """Images with shapes (class = shape and colour) in ``root/<split>/``, lists train.txt,
    val.txt and test.txt, and an obj.data with ``val=`` (what `datasets` writes); returns it."""
    rng = np.random.default_rng(11)
    root.mkdir(parents=True)
    for split, count in SPLITS.items():
        folder = root / split
        folder.mkdir()
        paths = []
        for index in range(count):
            image, lines = make_image(rng, index)
            path = folder / f"{split}_{index:03d}.png"
            cv2.imwrite(str(path), image)
            check_label_path(path).write_text("\n".join(lines) + "\n")
            paths.append(path)
        (root / f"{split}.txt").write_text("".join(f"{p}\n" for p in paths))
    (root / "obj.names").write_text("\n".join(CLASSES) + "\n")
    data = root / "obj.data"
    data.write_text(
        f"classes = {len(CLASSES)}\ntrain = {root / 'train.txt'}\nvalid = {root / 'test.txt'}\n"
        f"names = {root / 'obj.names'}\nbackup = {root / 'backup'}\nval = {root / 'val.txt'}\n"
    )
    return data


def start_weights(root: Path, data: Path, iterations: int, seed: int = 1) -> Path:
    """Random weights for the sample profile's cfg at TINY sizes, batch norm calibrated on the
    training images, whose header says ``iterations`` were done."""
    cfg = root / "start.cfg"
    cfg.write_text(generate_cfg(len(CLASSES), "sample", TINY))
    train = [Path(p) for p in (data.parent / "train.txt").read_text().split()]
    out = root / f"start_{iterations}.weights"
    write_random_weights(cfg, out, seed=seed, calibrate=[cv2.imread(str(p)) for p in train])
    set_iterations(out, iterations)
    return out


def set_iterations(weights: Path, iterations: int) -> None:
    """Rewrite the ``seen`` counter of a weights file (version 0.2: 64-bit) in place."""
    with weights.open("r+b") as handle:
        assert struct.unpack("<3i", handle.read(12))[:2] == (0, 2)
        handle.write(struct.pack("<Q", iterations * BATCH))


@dataclass(frozen=True)
class CheckpointRun:
    data: Path  # the dataset's obj.data (valid= test.txt, val= val.txt)
    run: Path  # runs/tiny
    start: Path  # the start weights (97 iterations)


def train_checkpoints(root: Path, debian_darknet: Path) -> CheckpointRun:
    """Train iterations 98-101 with the real `train` (checkpoints scored as they are saved)."""
    from yof_darknet.tools.darknet import probe
    from yof_darknet.training.options import TrainOptions
    from yof_darknet.training.train import train

    data = make_split_dataset(root / "set")
    start = start_weights(root, data, 97)
    options = TrainOptions(profile="sample", name="tiny", max_batches=101, overrides=TINY,
                           runs=root / "runs", weights=start)  # fmt: skip
    train(data, options, darknet=probe(debian_darknet), progress=False, echo=lambda _: None)
    return CheckpointRun(data, root / "runs" / "tiny", start)
