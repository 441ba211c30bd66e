"""--balance oversample[:CAP]: rare classes repeated in train.txt only, counts that add up."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.expressions import CLASSES
from yof_darknet.datasets.balance import parse_balance
from yof_darknet.datasets.build import build_datasets, expw_job
from yof_darknet.samples.write import write_expw_sample


@pytest.fixture(scope="module")
def skewed(tmp_path_factory) -> Path:
    """The sample's ExpW part with most labels turned neutral (anger, disgust stay rare)."""
    root = tmp_path_factory.mktemp("skewed") / "ExpW"
    write_expw_sample(root, seed=0, images=150)
    rng = np.random.default_rng(5)
    label_file = root / "label" / "label.lst"
    lines = []
    for line in label_file.read_text().splitlines():
        fields = line.split()
        if fields[7] not in ("0", "1") and rng.random() < 0.7:
            fields[7] = "6"
        lines.append(" ".join(fields))
    label_file.write_text("".join(f"{line}\n" for line in lines))
    return root


def _names(path: Path) -> list[str]:
    return [Path(line).name for line in path.read_text().splitlines()]


def _faces(path: Path) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for image in path.read_text().splitlines():
        for line in Path(image).with_suffix(".txt").read_text().splitlines():
            counts[CLASSES[int(line.split()[0])]] += 1
    return {name: counts[name] for name in CLASSES}


@pytest.fixture(scope="module")
def builds(skewed, tmp_path_factory):
    out = tmp_path_factory.mktemp("builds")
    plain = build_datasets([expw_job(skewed)], out / "plain", test_per_dataset=30)
    balanced = build_datasets(
        [expw_job(skewed)], out / "balanced", test_per_dataset=30, balance_cap=3
    )
    return plain, balanced


def test_test_and_validation_lists_are_never_touched(builds):
    plain, balanced = builds
    for key in ("test", "test_expw", "val", "val_expw"):
        assert _names(balanced.lists[key]) == _names(plain.lists[key])
    val = set(_names(plain.lists["val"]))
    images = plain.stats["datasets"]["expw"]["images"]
    assert images == {"kept": 149, "train": 108, "val": 11, "test": 30}  # val: 10 % of 119
    assert not val & set(_names(balanced.lists["train"]))  # repeats are of training images only
    assert set(_names(balanced.lists["train"])) == set(_names(plain.lists["train"]))
    assert set(_names(balanced.lists["train"])).isdisjoint(_names(balanced.lists["test"]))


def test_train_repeats_within_the_cap_and_the_counts_add_up(builds):
    plain, balanced = builds
    block = balanced.stats["balance"]
    listed = _names(balanced.lists["train"])
    repeats = Counter(listed)
    assert set(repeats) == set(_names(plain.lists["train"]))
    assert max(repeats.values()) == 3 and min(repeats.values()) == 1
    assert block["train_lines"] == len(listed)
    assert block["train_images"] == len(repeats) == plain.stats["totals"]["images"]["train"]
    assert block["repeated_images"] == sum(n > 1 for n in repeats.values())
    assert block["faces_before"] == plain.stats["balance"]["faces"] == _faces(plain.lists["train"])
    assert block["faces_after"] == _faces(balanced.lists["train"])
    assert sum(block["share_after"].values()) == pytest.approx(1, abs=1e-3)


def test_shares_move_toward_uniform(builds):
    _, balanced = builds
    before = np.array(list(balanced.stats["balance"]["faces_before"].values()), dtype=float)
    after = np.array(list(balanced.stats["balance"]["faces_after"].values()), dtype=float)
    assert before.max() / before.min() > 4  # the fixture is skewed
    assert after.max() / after.min() < before.max() / before.min()
    uniform = np.full(len(CLASSES), 1 / len(CLASSES))
    assert (
        np.abs(after / after.sum() - uniform).sum() < np.abs(before / before.sum() - uniform).sum()
    )
    assert (after >= before).all()


@pytest.mark.parametrize("text", ["oversample:0", "oversample:x", "undersample", ""])
def test_bad_balance_is_refused(text):
    with pytest.raises(DatasetError, match="--balance"):
        parse_balance(text)
