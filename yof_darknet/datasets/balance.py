"""``--balance oversample[:CAP]``: repeat training images of rare classes in ``train.txt``.

The classes are very uneven (ExpW: 10,272 neutral faces against 508 anger). Darknet draws its
training images from ``train.txt`` line by line, so an image listed ``r`` times is seen ``r``
times as often. Each training image gets ``r = min(CAP, max(1, round(F_max / F_c)))`` lines,
where ``c`` is the rarest class among its faces (``F_c``: training faces of class ``c``,
``F_max``: those of the most common class): images of the most common class stay once, an image
with a face of a class 1/3 as common is listed 3 times, never more than ``CAP``. Each class's
share of training faces moves toward uniform (faces of common classes that share an image with
a rare one are repeated too, which is why the result is not exactly uniform). Test lists are
never touched.

>>> parse_balance("none"), parse_balance("oversample"), parse_balance("oversample:8")
(None, 4, 8)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.expressions import CLASSES
from yof_darknet.datasets.items import Item

DEFAULT_CAP = 4


def parse_balance(text: str) -> int | None:
    """``none`` → None; ``oversample`` → ``DEFAULT_CAP``; ``oversample:CAP`` → CAP (>= 1)."""
    if text == "none":
        return None
    mode, _, cap = text.partition(":")
    if mode == "oversample":
        if not cap:
            return DEFAULT_CAP
        if cap.isdigit() and int(cap) >= 1:
            return int(cap)
    raise DatasetError(f"--balance {text!r}: use none, oversample or oversample:CAP (CAP >= 1)")


def class_faces(items: Sequence[Item], classes: Sequence[str] = CLASSES) -> list[int]:
    """Faces per class (in ``classes`` order) over ``items``, each listed item counted once."""
    counts = Counter(c for item in items for c in item.classes)
    return [counts[c] for c in range(len(classes))]


def repetitions(items: Sequence[Item], cap: int, classes: Sequence[str] = CLASSES) -> list[int]:
    """How many times each item goes into ``train.txt`` (see the module's rule).

    >>> items = [Item("a", "x", "a", (6,)), Item("b", "x", "b", (6,)), Item("c", "x", "c", (0,))]
    >>> repetitions(items, 4)
    [1, 1, 2]
    """
    faces = class_faces(items, classes)
    most = max(faces, default=0)
    result = []
    for item in items:
        present = [faces[c] for c in set(item.classes)]
        factor = most / min(present) if present else 1
        result.append(min(cap, max(1, round(factor))))
    return result


def oversample(
    items: Sequence[Item], cap: int, classes: Sequence[str] = CLASSES
) -> tuple[list[Item], dict[str, Any]]:
    """The training list with repeats (each item's copies together) and stats.json's ``balance``
    block: faces per class before and after, their shares, images and lines."""
    counts = repetitions(items, cap, classes)
    listed = [item for item, count in zip(items, counts, strict=True) for _ in range(count)]
    before, after = class_faces(items, classes), class_faces(listed, classes)

    def shares(faces: list[int]) -> dict[str, float]:
        total = sum(faces) or 1
        return {name: round(n / total, 4) for name, n in zip(classes, faces, strict=True)}

    return listed, {
        "mode": "oversample",
        "cap": cap,
        "train_images": len(items),
        "train_lines": len(listed),
        "repeated_images": sum(count > 1 for count in counts),
        "faces_before": dict(zip(classes, before, strict=True)),
        "faces_after": dict(zip(classes, after, strict=True)),
        "share_before": shares(before),
        "share_after": shares(after),
    }
