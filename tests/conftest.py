"""Shared test fixtures: the project's root and the real Darknet/dataset fixtures in ../shared."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# the Darknet-trained tiny model, shared by the infer and export tests (one training per session).
from tests.tinymodel import tiny_model  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOF_SHARED", ROOT.parent / "shared")).resolve()
FIXTURES = SHARED / "fixtures"


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
