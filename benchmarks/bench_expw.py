"""ExpW conversion throughput on a generated 50,000-row label.lst with real small JPEG files."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from yof_darknet.datasets.expw import convert_expw

ROWS = 50_000
IMAGES = 35_000  # several faces per image, as in ExpW


def make_expw(root: Path, rng: np.random.Generator) -> None:
    """``root/label/label.lst``: ``ROWS`` rows over ``IMAGES`` JPEGs in ``root/image/origin``."""
    sizes = [(int(w), int(h)) for w, h in rng.integers(64, 200, size=(16, 2))]
    encoded = []
    for width, height in sizes:
        image = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
        encoded.append(cv2.imencode(".jpg", image)[1].tobytes())
    origin = root / "image" / "origin"
    origin.mkdir(parents=True)
    kinds = rng.integers(0, len(sizes), size=IMAGES)
    for index, kind in enumerate(kinds):
        (origin / f"happy_person_{index}.jpg").write_bytes(encoded[kind])
    image = np.sort(np.r_[np.arange(IMAGES), rng.integers(0, IMAGES, size=ROWS - IMAGES)])
    lines = []
    face_id = 0
    for row, index in enumerate(image):
        face_id = face_id + 1 if row and image[row - 1] == index else 0
        width, height = sizes[kinds[index]]
        left, top = int(rng.integers(-5, width // 2)), int(rng.integers(-5, height // 2))
        right, bottom = left + int(rng.integers(8, width)), top + int(rng.integers(8, height))
        score, label = rng.uniform(30, 100), int(rng.integers(0, 7))
        box = f"{top} {left} {right} {bottom}"
        lines.append(f"happy_person_{index}.jpg {face_id} {box} {score:.4f} {label}\n")
    (root / "label").mkdir()
    (root / "label" / "label.lst").write_text("".join(lines))


def main() -> None:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="yof-bench-expw-") as tmp:
        root = Path(tmp) / "ExpW"
        make_expw(root, rng)
        for run in ("first run", "re-run"):
            start, cpu = time.perf_counter(), time.process_time()
            result = convert_expw(root, Path(tmp) / "out" / "expw")
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            stats = result.stats
            print(
                f"expw {run}: {stats.read} faces read, {stats.kept} kept in "
                f"{len(result.items)} images, {seconds:.2f} s: "
                f"{stats.read / seconds:,.0f} faces/s read, {stats.kept / seconds:,.0f} kept/s "
                f"(CPU {cpu:.2f} s; load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores)"
            )
