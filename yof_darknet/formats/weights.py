"""Darknet ``.weights`` files: the header, the byte size of each layer, and ``partial``.

Layout (both forks): int32 major, minor, revision; then ``seen`` (images trained on) as
uint64 when ``major*10 + minor >= 2`` else uint32; then float32 parameters layer by layer. A
``[convolutional]`` layer stores biases[n], with batch norm also scales[n], rolling_mean[n],
rolling_variance[n], then weights[n * c/groups * size * size].
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yof_darknet.core.errors import DarknetError
from yof_darknet.core.fileio import atomic_write_bytes
from yof_darknet.formats.cfg import Section, net_int, read_cfg

FLOAT_BYTES = 4
_NO_WEIGHTS = (
    "maxpool",
    "upsample",
    "yolo",
    "region",
    "shortcut",
    "route",
    "dropout",
    "avgpool",
    "softmax",
    "cost",
)


@dataclass(frozen=True)
class WeightsHeader:
    major: int
    minor: int
    revision: int
    seen: int
    size: int  # header bytes: 20 (64-bit seen) or 16

    def iterations(self, batch: int) -> int:
        """Training iterations done, as darknet counts them (``seen / batch``)."""
        return self.seen // max(batch, 1)


def read_header(path: Path) -> WeightsHeader:
    path = Path(path)
    if not path.is_file():
        raise DarknetError(f"{path}: weights file not found")
    with path.open("rb") as handle:
        head = handle.read(256)
    return header_of(head, str(path))


def header_of(head: bytes, path: str) -> WeightsHeader:
    """The header at the start of ``head`` (a weights file's first 20 bytes or more), read
    from ``path``."""
    start = head[:256]
    if start.lstrip()[:1] in (b"[", b"#") and b"\0" not in start:
        raise DarknetError(
            f"{path}: a text file (a cfg?), not darknet weights; are --cfg and --weights swapped?"
        )
    head = head[:20]
    if len(head) < 16:
        raise DarknetError(f"{path}: {len(head)} bytes is too short for a darknet weights file")
    major, minor, revision = struct.unpack("<3i", head[:12])
    if (major * 10 + minor) >= 2 and major < 1000 and minor < 1000:
        if len(head) < 20:
            raise DarknetError(f"{path}: truncated weights header")
        (seen,) = struct.unpack("<Q", head[12:20])
        return WeightsHeader(major, minor, revision, seen, 20)
    (seen,) = struct.unpack("<I", head[12:16])
    return WeightsHeader(major, minor, revision, seen, 16)


def pack_header(seen: int = 0) -> bytes:
    """The header both forks write today: version 0.2.0 and a 64-bit ``seen``."""
    return struct.pack("<3iQ", 0, 2, 0, seen)


def layer_param_counts(sections: Sequence[Section]) -> list[int]:
    """Float parameters each layer stores in a weights file (0 for layers without weights)."""
    channels = net_int(sections, "channels", 3)
    outputs: list[int] = []
    counts: list[int] = []
    for index, section in enumerate(sections[1:]):
        kind = section.name
        if kind == "convolutional":
            n = int(section.get("filters", "1") or 1)
            size = int(section.get("size", "1") or 1)
            groups = int(section.get("groups", "1") or 1)
            norm = int(section.get("batch_normalize", "0") or 0)
            counts.append(n * (1 + 3 * norm) + n * (channels // groups) * size * size)
            channels = n
        elif kind == "route":
            parts = section.ints("layers")
            total = sum(outputs[p if p >= 0 else index + p] for p in parts)
            channels = total // int(section.get("groups", "1") or 1)
            counts.append(0)
        elif kind in _NO_WEIGHTS:
            counts.append(0)
        else:
            raise DarknetError(f"[{kind}] at line {section.line}: layer type not supported here")
        outputs.append(channels)
    return counts


def network_bflops(sections: Sequence[Section]) -> float:
    r"""Billions of floating-point operations of one forward pass at the cfg's width x height,
    counted as AlexeyAB's darknet prints them (``Total BFLOPS``): 2 x weights x output cells of
    every convolution, size² x channels x output cells of every max-pool, nothing else.

    >>> from yof_darknet.formats.cfg import parse_cfg
    >>> conv = "[net]\nwidth=32\nheight=32\n[convolutional]\nfilters=8\nsize=3\npad=1\n"
    >>> round(network_bflops(parse_cfg(conv)) * 1e9)  # 2 x (8 x 3 x 3 x 3) x 32 x 32
    442368
    """
    channels = net_int(sections, "channels", 3)
    height, width = net_int(sections, "height"), net_int(sections, "width")
    shapes: list[tuple[int, int, int]] = []  # (channels, height, width) of each layer's output
    total = 0.0
    for index, section in enumerate(sections[1:]):
        kind = section.name
        if kind in ("convolutional", "conv"):
            n = int(section.get("filters", "1") or 1)
            size = int(section.get("size", "1") or 1)
            stride = int(section.get("stride", "1") or 1)
            groups = int(section.get("groups", "1") or 1)
            pad = (
                size // 2
                if int(section.get("pad", "0") or 0)
                else int(section.get("padding", "0") or 0)
            )
            height = (height + 2 * pad - size) // stride + 1
            width = (width + 2 * pad - size) // stride + 1
            total += 2.0 * n * (channels // groups) * size * size * height * width
            channels = n
        elif kind in ("maxpool", "max"):
            size = int(section.get("size", "1") or 1)
            stride = int(section.get("stride", str(size)) or size)
            padding = int(section.get("padding", str(size - 1)) or 0)
            height = (height + padding - size) // stride + 1
            width = (width + padding - size) // stride + 1
            total += size * size * channels * height * width  # darknet counts its compares
        elif kind == "route":
            parts = [shapes[p if p >= 0 else index + p] for p in section.ints("layers")]
            channels = sum(c for c, _, _ in parts) // int(section.get("groups", "1") or 1)
            height, width = parts[0][1], parts[0][2]
        elif kind == "upsample":
            stride = int(section.get("stride", "2") or 2)
            height, width = height * stride, width * stride
        elif kind not in _NO_WEIGHTS:
            raise DarknetError(f"[{kind}] at line {section.line}: layer type not supported here")
        shapes.append((channels, height, width))
    return total / 1e9


def weights_bytes(sections: Sequence[Section], layers: int | None = None) -> int:
    """Bytes of parameters (header excluded) for the first ``layers`` layers (all if None)."""
    counts = layer_param_counts(sections)
    return FLOAT_BYTES * sum(counts[:layers])


def check_fits(weights: Path, cfg: Path) -> None:
    """Raise unless ``weights`` holds whole layers of ``cfg`` (all, or the first n like conv.15).

    Darknet reads parameters in order without checking, so e.g. the 80-class
    yolov3-tiny.weights with a 7-class cfg would silently load shifted, meaningless values.
    """
    header = read_header(weights)
    body = Path(weights).stat().st_size - header.size
    boundaries = set(np.cumsum([0, *layer_param_counts(read_cfg(cfg))]) * FLOAT_BYTES)
    if body not in boundaries:
        raise DarknetError(
            f"{weights}: {body} parameter bytes are not whole layers of {cfg} (full network: "
            f"{max(boundaries)} bytes); for another class count start from yolov3-tiny.conv.15 "
            "(`yof-darknet weights`)"
        )
    check_finite(weights, read_cfg(cfg), cfg)


def check_complete(weights: Path, sections: Sequence[Section], cfg: Path | str) -> None:
    """Raise unless ``weights`` holds exactly the parameters of every layer of ``cfg``.

    What ``map`` and ``detect`` need: darknet and OpenCV read a short file's missing floats as
    zeros or garbage, and another architecture's or class count's file as shifted values,
    without a word. A cfg with a layer type not sized here is not checked.
    """
    try:
        needed: int | None = sum(layer_param_counts(sections))
    except DarknetError:
        needed = None
    header = read_header(weights)
    have = (Path(weights).stat().st_size - header.size) / FLOAT_BYTES
    if needed is not None and have != needed:
        raise DarknetError(
            f"{weights}: holds {have:.0f} weights but {cfg} needs {needed}; these weights "
            "belong to another cfg (another network or class count) or the file is cut short"
        )
    check_finite(weights, sections if needed is not None else None, cfg)


def check_finite(
    weights: Path, sections: Sequence[Section] | None = None, cfg: Path | str | None = None
) -> None:
    """Raise unless every parameter of ``weights`` is a finite number.

    A diverged training saves NaN or infinite parameters in a file of the right size; darknet
    and both engines read it without a word and find nothing (mAP 0, exit 0). With the cfg's
    ``sections``, the message names the first layer holding one.
    """
    header = read_header(weights)
    if Path(weights).stat().st_size < header.size + FLOAT_BYTES:
        return
    floats = np.memmap(weights, dtype="<f4", mode="r", offset=header.size)
    bad = 0
    first = -1
    step = 1 << 22
    for start in range(0, floats.size, step):
        chunk = ~np.isfinite(floats[start : start + step])
        count = int(np.count_nonzero(chunk))
        if count and first < 0:
            first = start + int(np.argmax(chunk))
        bad += count
    del floats
    if not bad:
        return
    where = ""
    if sections is not None:
        ends = np.cumsum(layer_param_counts(sections))
        layer = int(np.searchsorted(ends, first, side="right"))
        if layer < len(ends):
            section = sections[layer + 1]
            where = (
                f"; the first is in layer {layer} ([{section.name}] at line {section.line} "
                f"of {cfg})"
            )
    raise DarknetError(
        f"{weights}: {bad} of its parameters are not finite numbers (NaN or infinite){where}: "
        "the training that saved it diverged. Use weights saved before it diverged (see "
        "results.csv; weights/*_N.weights), or train again with a lower learning_rate or a "
        "longer burn_in"
    )


def partial(cfg: Path, weights: Path, out: Path, layers: int = 15) -> Path:
    """``darknet partial cfg weights out layers``: the first ``layers`` layers, ``seen`` reset."""
    sections = read_cfg(cfg)
    header = read_header(weights)
    needed = weights_bytes(sections, layers)
    with Path(weights).open("rb") as handle:
        handle.seek(header.size)
        body = handle.read(needed)
    if len(body) < needed:
        raise DarknetError(
            f"{weights}: has {len(body)} parameter bytes, the first {layers} layers of {cfg} "
            f"need {needed}; the file is truncated or belongs to another network"
        )
    atomic_write_bytes(Path(out), pack_header(0) + body)
    return Path(out)


def finished_message(weights: Path, cfg: Path) -> str | None:
    """A warning when ``weights`` already reached ``max_batches`` of ``cfg``, else None.

    Darknet continues from the weights' ``seen`` counter (``seen / batch`` iterations), so such a
    run would stop at once: a known trap with fully trained weights such as yolov3-tiny.weights.
    """
    sections = read_cfg(cfg)
    batch, max_batches = net_int(sections, "batch", 1), net_int(sections, "max_batches")
    done = read_header(weights).iterations(batch)
    if max_batches and done >= max_batches:
        return (
            f"{weights}: already trained {done} iterations (seen / batch) >= max_batches="
            f"{max_batches} of {cfg}, so darknet would stop at once; raise max_batches "
            "(--max-batches), start from yolov3-tiny.conv.15, or reset the counter with --clear"
        )
    return None
