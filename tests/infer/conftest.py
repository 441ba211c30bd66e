"""The inference tests' model: trained once per session (see ``tests.support.model``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.model import TinyModel, train_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, darknet_fixtures: Path, debian_darknet: Path) -> TinyModel:
    return train_tiny_model(tmp_path_factory.mktemp("tinymodel"), darknet_fixtures, debian_darknet)
