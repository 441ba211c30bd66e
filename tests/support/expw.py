"""Build small ExpW folders with real JPEG files for the ExpW and build tests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np


def write_jpeg(path: Path, width: int, height: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())


def make_expw(
    root: Path, rows: list[str], sizes: dict[str, tuple[int, int]], layout: str = "canonical"
) -> Path:
    """ExpW tree: ``canonical`` = label/label.lst + image/origin/, ``beside`` = label.lst next to
    origin/, ``doubled`` = label.lst next to origin/origin/. Returns ``root``."""
    image_dir = {
        "canonical": root / "image" / "origin",
        "beside": root / "origin",
        "doubled": root / "origin" / "origin",
    }[layout]
    label_file = root / "label" / "label.lst" if layout == "canonical" else root / "label.lst"
    for index, (name, (width, height)) in enumerate(sorted(sizes.items())):
        write_jpeg(image_dir / name, width, height, seed=index)
    label_file.parent.mkdir(parents=True, exist_ok=True)
    label_file.write_text("".join(f"{row}\n" for row in rows))
    return root


def tree_digest(root: Path) -> str:
    """Hash of every path, kind, mode, size and content under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest.update(os.fsencode(f"{path.relative_to(root)}|{info.st_mode}|{info.st_size}|"))
        if path.is_symlink():
            digest.update(os.fsencode(path.readlink()))
        elif path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()
