"""Fixtures of the evaluator tests: the detections `detector map` scored, and their labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.darknet import NAMES
from yof_darknet.evaluate.ap import Detections, GroundTruth
from yof_darknet.evaluate.inputs import load_ground_truth


def read_dets_dump(path: Path) -> Detections:
    """`map_dets_dump.stdout.txt`: `image_index path class prob cx cy w h`, darknet's order."""
    rows = [line.split() for line in path.read_text().splitlines() if line[:1].isdigit()]
    return Detections.from_arrays(
        [int(r[0]) for r in rows],
        [int(r[2]) for r in rows],
        [float(r[3]) for r in rows],
        [[float(v) for v in r[4:8]] for r in rows],
    )


@pytest.fixture(scope="session")
def valid_images(darknet_fixtures: Path) -> list[Path]:
    dataset = darknet_fixtures / "dataset"
    return [dataset / line for line in (dataset / "valid.txt").read_text().split()]


@pytest.fixture(scope="session")
def dump(darknet_fixtures: Path) -> Detections:
    return read_dets_dump(darknet_fixtures / "alexeyab" / "map_dets_dump.stdout.txt")


@pytest.fixture(scope="session")
def truth(valid_images: list[Path]) -> GroundTruth:
    return load_ground_truth(valid_images, len(NAMES))
