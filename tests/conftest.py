"""Shared test fixtures: the project's root and the real Darknet/dataset fixtures in ../shared."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import FIXTURES
from tests.support.classifier import train_tiny_classifier
from tests.support.darknet import make_dataset
from tests.support.model import TinyModel, train_tiny_model


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """`../shared/fixtures` (real Darknet runs and format-exact dataset samples)."""
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES} (set YOF_SHARED)")
    return FIXTURES


@pytest.fixture(scope="session")
def darknet_fixtures(fixtures_dir: Path) -> Path:
    return fixtures_dir / "darknet"


@pytest.fixture(scope="session")
def dataset_fixtures(fixtures_dir: Path) -> Path:
    return fixtures_dir / "datasets"


@pytest.fixture(scope="session")
def debian_darknet() -> Path:
    """Debian's pjreddie `darknet` binary (installed by .ci/run)."""
    path = shutil.which("darknet")
    if path is None:
        pytest.skip("Debian's darknet is not installed (apt-get install darknet)")
    return Path(path)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a fixed folder name: pjreddie rewrites 'images'/'raw' anywhere in a path (test names vary)
    return make_dataset(tmp_path_factory.mktemp("dn") / "set")


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory, debian_darknet: Path):
    """The cascade's classifier, trained for a few iterations by Debian's darknet."""
    return train_tiny_classifier(tmp_path_factory.mktemp("cls"), debian_darknet)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, darknet_fixtures: Path, debian_darknet: Path) -> TinyModel:
    """The model Debian's darknet trains once per session, for the infer and export tests."""
    return train_tiny_model(tmp_path_factory.mktemp("tinymodel"), darknet_fixtures, debian_darknet)


@pytest.fixture(scope="session")
def checkpoint_run(tmp_path_factory: pytest.TempPathFactory, debian_darknet: Path):
    """A run Debian's darknet trained from iteration 97 to 101 on a dataset with a validation
    list: real `_100.weights`, `.backup` and `_final.weights`, scored in the background as
    they were saved. Tests copy it before changing anything."""
    from tests.support.validation import train_checkpoints

    return train_checkpoints(tmp_path_factory.mktemp("ckpt"), debian_darknet)
