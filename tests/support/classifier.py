"""The cascade's classifiers: one trained live by Debian's darknet (a few iterations through
``train_classifier``: a real run folder for the training tests, not a model whose numbers are
stable), and the recorded one the engine-parity tests compare numbers on.

The live one starts from darknet's own initialisation (rolling variance 0): after 3 iterations
its rolling variances are ~3 % of the true ones, so every batch-norm layer multiplies its input
~6 times and the logits reach tens of thousands. Its softmax is then one-hot, and a crop whose
top two logits come within a few units flips between engines on float rounding alone (and on
OpenCV's batch-norm epsilon: ``sqrt(var + 1e-6)`` against pjreddie's ``sqrt(var) + 1e-6``).

The recorded one (``tests/fixtures/classifier``: cfg, weights, Debian's training log, record.json;
``record_tiny_classifier``, run by ``scripts/record-fixtures.sh classifier``) starts from seeded
random weights whose batch-norm statistics are calibrated on its training crops (as the
detector's parity model does), so its probabilities are finite, spread and the same every run.
Its crops are drawn faces of the embedded sample (``yof_darknet.samples.faces``), drawn again by
``copy_tiny_classifier``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tests.support.darknet import make_dataset
from yof_darknet.core.expressions import CLASSES
from yof_darknet.datasets.crops import write_crops
from yof_darknet.formats.cfg import dump_cfg, parse_cfg
from yof_darknet.infer.weightsfile import write_random_weights
from yof_darknet.samples.faces import background, draw_face, face_colour
from yof_darknet.tools.darknet import probe
from yof_darknet.training.classifier import classifier_cfg, train_classifier

ITERATIONS = 3
# the recorded classifier: crop side, crops per class and split, iterations, widest convolution
RECORDED_SIZE = 32
RECORDED_CROPS = {"train": 8, "test": 2}
RECORDED_ITERATIONS = 30
RECORDED_FILTERS = 32
RECORDED_CFG = "classifier.cfg"
RECORDED_WEIGHTS = "weights/classifier.weights"


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


@dataclass(frozen=True)
class RecordedClassifier:
    root: Path
    crops: Path  # train/<class>/NNNNNN.png, test/..., train.list, test.list, labels.txt
    cfg: Path
    weights: Path


def draw_crops(crops: Path, size: int = RECORDED_SIZE, seed: int = 11) -> None:
    """Face crops of the embedded sample's drawn faces (``size`` px PNG, lossless so every
    program decodes the same pixels) in ``yof-darknet crops``' layout."""
    rng = np.random.default_rng(seed)
    (crops / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    number = 0
    for split, count in RECORDED_CROPS.items():
        listed = []
        for _ in range(count):
            for label, name in enumerate(CLASSES):
                number += 1
                image = background(rng, size)
                pad = [int(v) for v in rng.integers(1, size // 8, size=4)]
                box = (pad[0], pad[1], size - pad[2], size - pad[3])
                draw_face(image, box, label, face_colour(rng))
                path = Path(split) / name / f"{number:06d}.png"
                (crops / path).parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(crops / path), image)
                listed.append(f"{path}\n")
        (crops / f"{split}.list").write_text("".join(listed))


def recorded_cfg() -> str:
    """The ``sample`` profile's classifier at RECORDED_SIZE, every convolution at most
    RECORDED_FILTERS wide (a few hundred KB of weights), RECORDED_ITERATIONS iterations."""
    size = RECORDED_SIZE
    text = classifier_cfg(
        len(CLASSES),
        "sample",
        [f"width={size}", f"height={size}", f"min_crop={size}", f"max_crop={size + size // 8}",
         f"max_batches={RECORDED_ITERATIONS}", "batch=8"],
    )  # fmt: skip
    sections = parse_cfg(text)
    for section in sections:
        filters = int(section.options.get("filters", "0"))
        if section.name == "convolutional" and filters > RECORDED_FILTERS:
            section.options["filters"] = str(RECORDED_FILTERS)
    return dump_cfg(sections, "the recorded engine-parity classifier (tests/support/classifier.py)")


def _write_inputs(root: Path) -> RecordedClassifier:
    crops = root / "crops"
    crops.mkdir(parents=True)
    draw_crops(crops)
    (root / "weights").mkdir()
    return RecordedClassifier(root, crops, root / RECORDED_CFG, root / RECORDED_WEIGHTS)


def record_tiny_classifier(root: Path, debian_darknet: Path) -> RecordedClassifier:
    """Draw the crops in ``root`` and train the classifier there with Debian's darknet from
    calibrated random weights; the log is ``root/train.log``."""
    model = _write_inputs(root)
    model.cfg.write_text(recorded_cfg())
    data = root / "classifier.data"
    data.write_text(
        f"classes={len(CLASSES)}\ntrain={model.crops / 'train.list'}\n"
        f"valid={model.crops / 'test.list'}\nlabels={model.crops / 'labels.txt'}\n"
        f"backup={model.weights.parent}\ntop=2\n"
    )
    start = root / "start.weights"
    train = (model.crops / "train.list").read_text().split()
    calibrate = [cv2.imread(str(model.crops / p)) for p in train]
    write_random_weights(model.cfg, start, seed=1, calibrate=calibrate)
    log = root / "train.log"
    with log.open("w") as out:
        subprocess.run(
            [str(debian_darknet), "classifier", "train", str(data), str(model.cfg), str(start)],
            cwd=model.crops,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=600,
        )
    # pjreddie writes <cfg stem>.weights at the end
    final = model.weights.parent / f"{model.cfg.stem}.weights"
    assert final == model.weights and final.is_file(), log.read_text()[-2000:]
    assert "nan" not in log.read_text().splitlines()[-2], "training diverged"
    return model


def copy_tiny_classifier(root: Path, fixture: Path) -> RecordedClassifier:
    """The recorded classifier (``fixture``: its cfg, weights and train.log, which tells the
    export that pjreddie trained it) in ``root``, with its crops drawn again."""
    model = _write_inputs(root)
    for name in (RECORDED_CFG, RECORDED_WEIGHTS, "train.log"):
        shutil.copyfile(fixture / name, root / name)
    return model
