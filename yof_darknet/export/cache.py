"""The fp32 model ``detect`` runs when given only a cfg and weights: exported once into a cache
folder beside the weights (``.yof-onnx/``), or the user cache (``$XDG_CACHE_HOME/yof-darknet/onnx``)
when that folder cannot be written.

The file name carries the hashes of the cfg text and the weights, the network size and the
batch-norm flavor, so a cached model is never stale and never stands for other inputs; it is
written atomically (a half-written model never appears under its final name) and no input file
is ever touched.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from yof_darknet.core.fileio import sha256_file
from yof_darknet.export.run import ExportOptions, detect_bn_flavor, export_model

CACHE_FOLDER = ".yof-onnx"


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "yof-darknet" / "onnx"


def cached_model(
    cfg: Path,
    weights: Path,
    size: tuple[int, int],
    names: Sequence[str],
    bn_flavor: str = "auto",
) -> Path:
    """The path of the fp32 ONNX export of ``cfg`` + ``weights`` at ``size``, made if missing
    (``names`` go into its metadata; the detector that asked uses its own)."""
    flavor = detect_bn_flavor(weights) if bn_flavor == "auto" else bn_flavor
    key = hashlib.sha256(
        f"{sha256_file(cfg)} {sha256_file(weights)} {size[0]}x{size[1]} {flavor}".encode()
    ).hexdigest()[:20]
    name = f"{weights.stem}.{size[0]}x{size[1]}.{key}.onnx"
    folders = (weights.parent / CACHE_FOLDER, _user_cache())
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    for folder in folders:
        path = folder / name
        try:
            export_model(
                ExportOptions(cfg, weights, path, names=names, size=size, bn_flavor=flavor)
            )
            return path
        except OSError:  # a read-only run folder (or a file in the way): the user cache then
            if folder == folders[-1]:
                raise
    raise AssertionError("unreachable")
