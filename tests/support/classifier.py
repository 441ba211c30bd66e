"""A split dataset, its face crops and a classifier trained on them by Debian's darknet (a few
iterations: enough for a real weights file, not for accuracy)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.support.darknet import make_dataset
from yof_darknet.datasets.crops import write_crops
from yof_darknet.tools.darknet import probe
from yof_darknet.training.classifier import train_classifier

ITERATIONS = 3


def make_split_dataset(root: Path, count: int = 21, test: int = 7) -> Path:
    """``make_dataset``'s images with disjoint lists: the last ``test`` images are the test set."""
    obj = make_dataset(root, count)
    images = (root / "train.txt").read_text().splitlines()
    (root / "train.txt").write_text("".join(f"{p}\n" for p in images[:-test]))
    (root / "test.txt").write_text("".join(f"{p}\n" for p in images[-test:]))
    return obj


@dataclass(frozen=True)
class TinyClassifier:
    data: Path
    crops: Path
    run_dir: Path
    cfg: Path
    weights: Path


def train_tiny_classifier(root: Path, darknet: Path) -> TinyClassifier:
    data = make_split_dataset(root / "set")
    crops = root / "crops"
    write_crops(data, crops, size=32, progress=False)
    run = train_classifier(
        crops,
        profile="sample",
        overrides=[f"max_batches={ITERATIONS}", "batch=4"],
        darknet=probe(darknet),
        runs_dir=root / "runs",
        progress=False,
    )
    assert run.weights is not None
    return TinyClassifier(data, crops, run.run_dir, run.cfg, run.weights)
