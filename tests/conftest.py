"""Shared test fixtures: the project's recorded Darknet fixtures (tests/fixtures), the generated
dataset look-alikes, and the skip summary (tests/support/skips.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import FIXTURES
from tests.support.classifier import RecordedClassifier, copy_tiny_classifier, train_tiny_classifier
from tests.support.darknet import make_dataset
from tests.support.lookalikes import write_lookalikes
from tests.support.model import TinyModel, copy_tiny_model
from tests.support.skips import NO_DEBIAN_DARKNET
from tests.support.skips import debian_darknet as find_debian_darknet

pytest_plugins = ["tests.support.skips"]


@pytest.fixture(scope="session")
def darknet_fixtures() -> Path:
    """Real Darknet output recorded by scripts/record-fixtures.sh (tests/fixtures/darknet)."""
    return FIXTURES / "darknet"


@pytest.fixture(scope="session")
def dataset_fixtures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Format-exact ExpW / Aff-Wild2 look-alikes and their truth (tests/support/lookalikes.py)."""
    return write_lookalikes(tmp_path_factory.mktemp("lookalikes") / "datasets")


@pytest.fixture(scope="session")
def debian_darknet() -> Path:
    """Debian's pjreddie `darknet` binary (installed by .ci/run)."""
    path = find_debian_darknet()
    if path is None:
        pytest.skip(NO_DEBIAN_DARKNET)
    return path


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a fixed folder name: pjreddie rewrites 'images'/'raw' anywhere in a path (test names vary)
    return make_dataset(tmp_path_factory.mktemp("dn") / "set")


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory, debian_darknet: Path):
    """The cascade's classifier, trained for a few iterations by Debian's darknet."""
    return train_tiny_classifier(tmp_path_factory.mktemp("cls"), debian_darknet)


@pytest.fixture(scope="session")
def recorded_classifier(tmp_path_factory: pytest.TempPathFactory) -> RecordedClassifier:
    """The recorded classifier of the engine-parity tests (tests/fixtures/classifier) and its
    crops."""
    return copy_tiny_classifier(tmp_path_factory.mktemp("rcls"), FIXTURES / "classifier")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """The recorded model of the infer and export tests (tests/fixtures/model) and its images."""
    return copy_tiny_model(tmp_path_factory.mktemp("tinymodel"), FIXTURES / "model")


@pytest.fixture(scope="session")
def checkpoint_run(tmp_path_factory: pytest.TempPathFactory, debian_darknet: Path):
    """A run Debian's darknet trained from iteration 97 to 101 on a dataset with a validation
    list: real `_100.weights`, `.backup` and `_final.weights`, scored in the background as
    they were saved. Tests copy it before changing anything."""
    from tests.support.validation import train_checkpoints

    return train_checkpoints(tmp_path_factory.mktemp("ckpt"), debian_darknet)
