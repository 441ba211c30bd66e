"""DatasetsOptions: the caller's defaults for the held-out sizes, and what stats.json records."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.expw import make_expw
from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.options import DatasetsOptions


@pytest.fixture(scope="module")
def expw60(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("expw60") / "ExpW"
    sizes = {f"p{i:02d}.jpg": (64, 64) for i in range(60)}
    return make_expw(root, [f"p{i:02d}.jpg 0 5 5 50 50 80.0 {i % 7}" for i in range(60)], sizes)


def images(stats: dict) -> dict[str, int]:
    return stats["totals"]["images"]


def test_a_default_sized_on_purpose_is_held_out_past_the_share_limit(expw60, tmp_path):
    """reproduce on the embedded sample: its 400 test images are 40 % on purpose."""
    built = DatasetsOptions().build(
        expw60, None, tmp_path / "a", test_default=30, force_test_default=True, progress=False
    )
    assert images(built.stats) == {"train": 27, "val": 3, "test": 30}
    assert built.stats["options"]["force_test_size"] is True and not built.messages


def test_a_size_the_user_gives_is_limited_unless_forced(expw60, tmp_path):
    given = DatasetsOptions(test_per_dataset=30)
    built = given.build(expw60, None, tmp_path / "a", force_test_default=True, progress=False)
    assert images(built.stats) == {"train": 44, "val": 4, "test": 12}
    assert built.stats["options"]["force_test_size"] is False
    assert "--force-test-size holds out 30" in built.messages[0]
    forced = DatasetsOptions(test_per_dataset=30, force_test_size=True)
    built = forced.build(expw60, None, tmp_path / "b", progress=False)
    assert images(built.stats) == {"train": 27, "val": 3, "test": 30}


def test_validation_default_and_record(expw60, tmp_path):
    off = DatasetsOptions(test_per_dataset=10).build(
        expw60, None, tmp_path / "a", val_default="0", progress=False
    )
    assert images(off.stats) == {"train": 50, "val": 0, "test": 10}
    assert off.stats["options"]["val_per_dataset"] == "0"
    assert off.stats["validation"]["mode"] == "off"
    given = DatasetsOptions(test_per_dataset=10, val_per_dataset="8")
    built = given.build(expw60, None, tmp_path / "b", val_default="0", progress=False)
    assert images(built.stats) == {"train": 42, "val": 8, "test": 10}
    assert built.stats["options"]["val_per_dataset"] == "8"
    assert built.stats["validation"]["list"] == str((tmp_path / "b").resolve() / "val.txt")


def test_a_bad_validation_size_stops_before_anything_runs():
    with pytest.raises(DatasetError, match="--val-per-dataset '-1'"):
        DatasetsOptions(val_per_dataset="-1")
