"""Darknet ``.cfg`` files: parse, edit (classes, anchors, ``--set``), validate, write.

A cfg is a list of sections (``[net]``, ``[convolutional]``, ``[yolo]``...), each holding
``key=value`` options in file order. The training stage builds its run cfg from these pieces
(``yof_darknet.training.profiles.generate_cfg``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

from yof_darknet.core.errors import DarknetError


@dataclass
class Section:
    """One ``[name]`` block; ``line`` is where it starts in its file (0 when generated)."""

    name: str
    options: dict[str, str] = field(default_factory=dict)
    line: int = 0

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str) -> str: ...
    @overload
    def get(self, key: str, default: str | None) -> str | None: ...
    def get(self, key: str, default: str | None = None) -> str | None:
        return self.options.get(key, default)

    def ints(self, key: str) -> list[int]:
        """A comma-separated integer option (``mask``, ``steps``, ``anchors``...)."""
        value = self.options.get(key, "")
        try:
            return [int(float(part)) for part in value.split(",") if part.strip()]
        except ValueError as exc:
            raise DarknetError(f"[{self.name}] {key}={value!r}: expected numbers") from exc


def parse_cfg(text: str, source: str = "<cfg>") -> list[Section]:
    """Sections of a cfg text; ``#``/``;`` comments and blank lines are dropped."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise DarknetError(f"{source}:{number}: bad section header {raw!r}")
            sections.append(Section(line[1:-1].strip(), {}, number))
            continue
        if "=" not in line:
            raise DarknetError(f"{source}:{number}: expected 'key=value', got {raw!r}")
        if not sections:
            raise DarknetError(f"{source}:{number}: option before the first [section]")
        key, value = (part.strip() for part in line.split("=", 1))
        if key in sections[-1].options:
            raise DarknetError(f"{source}:{number}: {key} set twice in [{sections[-1].name}]")
        sections[-1].options[key] = value
    if not sections or sections[0].name not in ("net", "network"):
        raise DarknetError(f"{source}: the first section must be [net]")
    return sections


def read_cfg_text(path: Path) -> str:
    """The text of a cfg file. Binary data (a ``.weights`` file given as the cfg: ``--cfg`` and
    ``--weights`` swapped?) and UTF-16 text are refused with what they are; CRLF line ends are
    read as line ends (``parse_cfg``), bytes that are not UTF-8 as replacement characters."""
    path = Path(path)
    if not path.is_file():
        raise DarknetError(f"{path}: cfg file not found")
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DarknetError(f"{path}: UTF-16 text; save the cfg as UTF-8 (darknet reads bytes)")
    if b"\0" in data[:4096]:
        raise DarknetError(
            f"{path}: binary data, not a Darknet cfg (the text file that starts with [net]); "
            "is it a .weights file, with --cfg and --weights swapped?"
        )
    text = data.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as open() in text mode reads it


def read_cfg(path: Path) -> list[Section]:
    return parse_cfg(read_cfg_text(path), str(path))


def dump_cfg(sections: Iterable[Section], header: str = "") -> str:
    """The cfg text; ``header`` lines become ``#`` comments at the top."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for section in sections:
        if lines:
            lines.append("")
        lines.append(f"[{section.name}]")
        lines.extend(f"{key}={value}" for key, value in section.options.items())
    return "\n".join(lines) + "\n"


def leading_comments(text: str) -> str:
    """The ``#`` comment lines at the top of a cfg text, without the ``#``."""
    lines = []
    for raw in text.splitlines():
        if not raw.startswith("#"):
            break
        lines.append(raw[1:].strip())
    return "\n".join(lines)


def net(sections: Sequence[Section]) -> Section:
    return sections[0]


def net_int(sections: Sequence[Section], key: str, default: int = 0) -> int:
    value = net(sections).get(key)
    try:
        return default if value is None else int(float(value))
    except ValueError as exc:
        raise DarknetError(f"[net] {key}={value!r} is not a number") from exc


def parse_setting(expression: str) -> tuple[str, str]:
    """A ``--set`` expression split into key and value.

    >>> parse_setting("net.width = 160")
    ('net.width', '160')
    >>> parse_setting("width")
    Traceback (most recent call last):
    yof_darknet.core.errors.DarknetError: --set 'width': expected key=value, e.g. net.width=160
    """
    key, sep, value = expression.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value or " " in key:
        raise DarknetError(f"--set {expression!r}: expected key=value, e.g. net.width=160")
    for part in value.split(","):
        with contextlib.suppress(ValueError):
            if not math.isfinite(float(part)):
                raise DarknetError(f"--set {expression!r}: {part.strip()!r} is not a finite number")
    return key, value


def apply_setting(sections: list[Section], key: str, value: str) -> None:
    r"""Set ``key`` (``width`` = ``net.width``; ``yolo.thresh`` = every ``[yolo]``) to ``value``.

    >>> sections = parse_cfg("[net]\nwidth=416\n[yolo]\nmask=0\n[yolo]\nmask=1\n")
    >>> apply_setting(sections, "width", "160")
    >>> apply_setting(sections, "yolo.random", "0")
    >>> print(dump_cfg(sections), end="")
    [net]
    width=160
    <BLANKLINE>
    [yolo]
    mask=0
    random=0
    <BLANKLINE>
    [yolo]
    mask=1
    random=0
    """
    name, _, option = key.rpartition(".")
    name = name or "net"
    targets = [s for s in sections if s.name == name or (name == "net" and s.name == "network")]
    if not targets:
        raise DarknetError(f"--set {key}={value}: the cfg has no [{name}] section")
    for section in targets:
        section.options[option] = value


def yolo_heads(sections: Sequence[Section]) -> list[int]:
    """Indices (into ``sections``) of the ``[yolo]`` sections."""
    return [i for i, section in enumerate(sections) if section.name == "yolo"]


def set_anchors(sections: list[Section], anchors_wh: Sequence[tuple[int, int]]) -> None:
    """Write ``anchors``/``num``/``mask`` into every head, the smallest anchors to the finest.

    Which head is finest is read from the masks the cfg has (the head whose mask starts lowest:
    the last head of yolov3-tiny, the first of yolov7-tiny); without masks, the coarse heads
    come first (yolov3's order). Each head gets a consecutive share of the anchors.
    """
    heads = yolo_heads(sections)
    if not heads or len(anchors_wh) % len(heads):
        raise DarknetError(
            f"{len(anchors_wh)} anchors cannot be split evenly over {len(heads)} [yolo] layers"
        )
    per_head = len(anchors_wh) // len(heads)
    ordered = sorted(anchors_wh, key=lambda wh: wh[0] * wh[1])
    text = ",  ".join(f"{w},{h}" for w, h in ordered)
    masks = [sections[index].ints("mask") for index in heads]
    if all(masks):
        finest_first = sorted(range(len(heads)), key=lambda n: (min(masks[n]), n))
    else:
        finest_first = list(reversed(range(len(heads))))
    for rank, index in enumerate(heads):
        first = finest_first.index(rank) * per_head
        options = sections[index].options
        options["mask"] = ",".join(str(i) for i in range(first, first + per_head))
        options["anchors"] = text
        options["num"] = str(len(ordered))


def set_classes(sections: list[Section], classes: int) -> None:
    """``classes=N`` in every head and ``filters=(N+5)*len(mask)`` in the layer before it."""
    if classes < 1:
        raise DarknetError(f"classes must be at least 1, got {classes}")
    for index in yolo_heads(sections):
        head = sections[index]
        head.options["classes"] = str(classes)
        before = sections[index - 1]
        if before.name != "convolutional":
            raise DarknetError(f"[yolo] at line {head.line} does not follow a [convolutional]")
        before.options["filters"] = str((classes + 5) * len(head.ints("mask")))


def validate_cfg(sections: list[Section], source: str = "<cfg>") -> None:
    """Raise ``DarknetError`` naming the problem if darknet would reject or mis-train it."""
    reread = parse_cfg(dump_cfg(sections), source)
    if [(s.name, s.options) for s in reread] != [(s.name, s.options) for s in sections]:
        raise DarknetError(f"{source}: the cfg does not survive writing and reading back")
    width, height = net_int(sections, "width"), net_int(sections, "height")
    if width <= 0 or height <= 0 or width % 32 or height % 32:
        raise DarknetError(f"{source}: width and height must be multiples of 32: {width}x{height}")
    batch, subdivisions = net_int(sections, "batch", 1), net_int(sections, "subdivisions", 1)
    if subdivisions < 1 or batch % subdivisions:
        raise DarknetError(f"{source}: batch={batch} is no multiple of subdivisions={subdivisions}")
    _validate_steps(sections, source)
    heads = yolo_heads(sections)
    if not heads:
        raise DarknetError(f"{source}: no [yolo] layer")
    for index in heads:
        _validate_head(sections, index, source)


def _validate_steps(sections: list[Section], source: str) -> None:
    max_batches = net_int(sections, "max_batches")
    if max_batches < 1:
        raise DarknetError(f"{source}: max_batches must be set (>= 1)")
    if net(sections).get("policy", "steps") != "steps":
        return
    steps = net(sections).ints("steps")
    scales = [float(x) for x in net(sections).get("scales", "").split(",") if x.strip()]
    if len(steps) != len(scales):
        raise DarknetError(f"{source}: {len(steps)} steps but {len(scales)} scales")
    if steps != sorted(steps) or (steps and steps[-1] >= max_batches):
        raise DarknetError(
            f"{source}: steps={steps} must increase and stay below max_batches={max_batches}"
        )


def check_heads(sections: list[Section], classes: int, source: str, data: Path | str) -> None:
    """Raise unless every ``[yolo]`` head is well-formed and has ``classes`` (from ``data``)."""
    heads = yolo_heads(sections)
    if not heads:
        raise DarknetError(f"{source}: no [yolo] layer")
    for index in heads:
        _validate_head(sections, index, source)
    found = sorted({int(sections[i].get("classes", "0") or 0) for i in heads})
    if found != [classes]:
        raise DarknetError(
            f"{source}: [yolo] classes={','.join(map(str, found))} but {data} has "
            f"classes={classes}; these do not belong together (generate the cfg with "
            f"`yof-darknet cfg --data {data}`)"
        )


def _validate_head(sections: list[Section], index: int, source: str) -> None:
    head = sections[index]
    where = f"{source}: [yolo] #{yolo_heads(sections).index(index) + 1}"
    classes = int(head.get("classes", "0") or 0)
    mask, anchors = head.ints("mask"), head.ints("anchors")
    num = int(head.get("num", "0") or 0)
    if classes < 1:
        raise DarknetError(f"{where}: classes must be >= 1")
    if len(anchors) != 2 * num:
        raise DarknetError(f"{where}: num={num} needs {2 * num} anchor numbers, has {len(anchors)}")
    if not mask or max(mask) >= num or min(mask) < 0:
        raise DarknetError(f"{where}: mask={mask} must index the {num} anchors")
    filters = int(sections[index - 1].get("filters", "0") or 0)
    if filters != (classes + 5) * len(mask):
        raise DarknetError(
            f"{where}: the layer before has filters={filters}, but classes={classes} with "
            f"{len(mask)} masks needs (classes+5)*{len(mask)} = {(classes + 5) * len(mask)}"
        )
