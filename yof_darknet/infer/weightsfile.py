"""Weights files seen from the detector: does the file fit the cfg, and random weights that do.

Neither darknet nor OpenCV complains about a weights file that is too short (the missing floats
are read as zeros or garbage), so :func:`check_weights_size` compares the file with the cfg first.
Random weights (:func:`write_random_weights`) serve the speed benchmark and give tests a starting
point. The layout itself lives in :mod:`yof_darknet.formats.weights`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from yof_darknet.core.errors import DarknetError, InferenceError
from yof_darknet.core.fileio import atomic_write_bytes
from yof_darknet.formats.cfg import Section, net_int, parse_cfg, read_cfg_text
from yof_darknet.formats.network import check_network
from yof_darknet.formats.weights import check_complete, layer_param_counts, pack_header

_OBJECTNESS_LOGIT = -4.0


def cfg_text(cfg: Path) -> str:
    """The cfg's text (``formats.cfg.read_cfg_text``: a swapped ``--weights`` is named)."""
    try:
        return read_cfg_text(cfg)
    except DarknetError as exc:
        raise InferenceError(str(exc)) from None


def check_weights_size(cfg: Path, text: str, weights: Path) -> list[str]:
    """Raise if ``weights`` does not hold exactly the finite floats the cfg ``text`` needs
    (``formats.weights.check_complete``), or belongs to a run trained with other anchors or
    classes (``formats.network.check_network``); return that check's notes."""
    try:
        sections = parse_cfg(text, str(cfg))
        check_complete(weights, sections, cfg)
        return check_network(cfg, sections, weights)
    except DarknetError as exc:
        raise InferenceError(str(exc)) from None


def write_random_weights(
    cfg: Path, out: Path, seed: int = 0, calibrate: Sequence[np.ndarray] = ()
) -> int:
    """Write random darknet weights for ``cfg`` to ``out``; returns the number of floats.

    Filters are He-normal (darknet's own initialisation), batch norm starts at mean 0, variance
    1, and the objectness bias of each [yolo] head is -4 so that, as in a trained model, only a
    few anchors pass a 0.25 threshold. With ``calibrate`` (8-bit BGR images), each batch-norm
    layer's rolling mean and variance are then set, layer after layer, to its input's statistics
    on those images (via OpenCV), so the untrained network's activations keep a sane scale.
    (Darknet's own start, variance 0, needs hundreds of training iterations before inference
    gives finite boxes.)
    """
    text = Path(cfg).read_text()
    sections = parse_cfg(text, str(cfg))
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    stats: dict[int, tuple[int, int]] = {}
    offset = 0
    for layer, (section, count) in enumerate(
        zip(sections[1:], layer_param_counts(sections), strict=True)
    ):
        if section.name != "convolutional":
            continue
        filters = int(section.get("filters", "1") or 1)
        norm = section.get("batch_normalize", "0") == "1"
        weights = count - filters * (4 if norm else 1)
        fan_in = weights // filters
        biases = np.zeros(filters)
        head = sections[layer + 2] if layer + 2 < len(sections) else None
        if head is not None and head.name == "yolo":
            biases[4 :: int(head.get("classes", "1") or 1) + 5] = _OBJECTNESS_LOGIT
        parts.append(biases)
        if norm:
            stats[layer] = (offset + 2 * filters, filters)
            parts += [np.ones(filters), np.zeros(filters), np.ones(filters)]
        parts.append(rng.standard_normal(weights) * np.sqrt(2.0 / fan_in))
        offset += count
    floats = np.concatenate(parts).astype(np.float32)
    if calibrate:
        _calibrate(text, sections, floats, stats, calibrate)
    atomic_write_bytes(Path(out), pack_header(0) + floats.tobytes())
    return int(floats.size)


def _calibrate(
    text: str,
    sections: list[Section],
    floats: np.ndarray,
    stats: dict[int, tuple[int, int]],
    images: Sequence[np.ndarray],
) -> None:
    size = (net_int(sections, "width"), net_int(sections, "height"))
    blob = cv2.dnn.blobFromImages(list(images), 1 / 255, size, swapRB=True)
    for layer, (mean_at, filters) in stats.items():
        net = cv2.dnn.readNetFromDarknet(
            np.frombuffer(text.encode(), np.uint8),
            np.frombuffer(pack_header(0) + floats.tobytes(), np.uint8),
        )
        net.setInput(blob)
        # this layer's statistics are still mean 0 / variance 1, so its output is the conv's;
        # asking for bn_ too keeps OpenCV from fusing it into the convolution.
        conv = net.forward([f"conv_{layer}", f"bn_{layer}"])[0]
        floats[mean_at : mean_at + filters] = conv.mean(axis=(0, 2, 3))
        floats[mean_at + filters : mean_at + 2 * filters] = conv.var(axis=(0, 2, 3)) + 1e-3
