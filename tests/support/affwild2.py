"""Stand-in detectors and raw-tree builders for the Aff-Wild2 tests.

The look-alikes' faces are drawn ellipses, which RetinaFace cannot see; ``TruthDetector``
returns the boxes recorded in ``_synthetic_truth/truth.json`` instead, recognising each frame by
the hash of its decoded pixels (decoding is deterministic, so a copy of a video gives the same).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from yof_darknet.core.owned import LEDGER
from yof_darknet.datasets.stats import ConversionResult
from yof_darknet.tools.faces import Face

FIXTURE_VIDEOS = {
    "9001": "videos/batch1/9001.avi",
    "9002-25-320x180": "videos/batch2/9002-25-320x180.mp4",
}


def _frame_key(image: np.ndarray) -> str:
    return hashlib.sha1(image.tobytes()).hexdigest()


def truth_boxes(fixtures: Path) -> dict[str, list[dict[str, tuple[int, int, int, int]]]]:
    """Video stem → per decoded frame, {who: (x1, y1, x2, y2)} from truth.json."""
    truth = json.loads((fixtures / "_synthetic_truth" / "truth.json").read_text())["Aff-Wild2"]
    return {
        stem: [
            {b["who"]: (b["left"], b["top"], b["right"], b["bottom"]) for b in frame}
            for frame in video["boxes_per_frame"]
        ]
        for stem, video in truth.items()
    }


class TruthDetector:
    """Returns truth.json's drawn-face boxes for any frame of the fixture videos."""

    name = "truth"

    def __init__(self, fixtures: Path) -> None:
        self._faces: dict[str, list[Face]] = {}
        for stem, frames in truth_boxes(fixtures).items():
            capture = cv2.VideoCapture(str(fixtures / "Aff-Wild2" / FIXTURE_VIDEOS[stem]))
            for boxes in frames:
                ok, image = capture.read()
                assert ok, stem
                faces = [Face(tuple(float(v) for v in box), 0.99) for box in boxes.values()]
                self._faces[_frame_key(image)] = faces
            capture.release()
        self.calls = 0

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        self.calls += 1
        return list(self._faces[_frame_key(image_bgr)])


class Interrupted(RuntimeError):
    """Raised by ``InterruptingDetector`` to simulate a run killed midway."""


class InterruptingDetector:
    """Wraps a detector and raises after ``after`` detections (a conversion killed midway)."""

    name = "truth"

    def __init__(self, inner: TruthDetector, after: int) -> None:
        self.inner, self.after = inner, after

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        if self.inner.calls >= self.after:
            raise Interrupted(f"interrupted after {self.after} frames")
        return self.inner.detect(image_bgr)


def copy_release(fixtures: Path, root: Path, release: str = "Aff-Wild2") -> Path:
    """A writable copy of a fixture release with the 2020 videos (the ABAW3+ fixture has none)."""
    shutil.copytree(fixtures / release / "annotations", root / "annotations")
    shutil.copytree(fixtures / "Aff-Wild2" / "videos", root / "videos")
    return root


def tree_files(folder: Path) -> dict[str, bytes]:
    """Relative path → bytes of every file below ``folder`` (to compare two outputs). The lists
    are read through their stable links; the generation folders behind them have per-run names."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and path.name != LEDGER  # its order is the order work finished in
        and not path.relative_to(folder).parts[0].startswith(".yof-lists")
    }


def assert_same_conversion(
    result: ConversionResult, out: Path, plain: ConversionResult, plain_out: Path
) -> None:
    """``result`` (written to ``out``) equals a plain run's: items, counts and every byte."""
    assert [i.image.relative_to(out) for i in result.items] == [
        i.image.relative_to(plain_out) for i in plain.items
    ]
    assert result.stats.counts == plain.stats.counts
    assert tree_files(out) == tree_files(plain_out)
