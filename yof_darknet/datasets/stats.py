"""What a converter counted, in faces (one label line each), and the result it hands to build.

Every converter returns a ``ConversionResult``: the items it placed (images with labels beside
them) and a ``ConversionStats`` in which each face read ends up either kept or under exactly one
skip reason, so ``read == kept + sum(skipped)`` per dataset and per class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from yof_darknet.core.expressions import CLASSES
from yof_darknet.datasets.items import Item

KEPT = "kept"
NO_CLASS = -1  # faces that have no class of ours (malformed row, Aff-Wild2 -1/Other)


@dataclass
class ConversionStats:
    """Per-outcome, per-class face counts of one dataset's conversion.

    ``counts[outcome][class_id]``: ``outcome`` is ``KEPT`` or a skip reason (``low_score``,
    ``duplicate``, ``degenerate_box``, ``missing_image``, ...); ``class_id`` indexes
    ``classes`` (our 7 expressions, or a user's own list) or is ``NO_CLASS``. ``details`` holds
    dataset-specific notes for stats.json (malformed-row examples, renamed images, frame-count
    differences...).
    """

    dataset: str
    source: str
    counts: dict[str, Counter[int]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    classes: tuple[str, ...] = CLASSES

    def add(self, outcome: str, class_ids: Iterable[int]) -> None:
        """Count one face per entry of ``class_ids`` (``NO_CLASS`` for faces without a class)."""
        counter = self.counts.setdefault(outcome, Counter())
        counter.update(int(c) for c in class_ids)
        if not counter:
            del self.counts[outcome]

    def total(self, outcome: str) -> int:
        return sum(self.counts.get(outcome, Counter()).values())

    @property
    def read(self) -> int:
        return sum(sum(counter.values()) for counter in self.counts.values())

    @property
    def kept(self) -> int:
        return self.total(KEPT)

    def skipped(self) -> dict[str, int]:
        """Skip reason → faces, largest first."""
        reasons = {
            reason: sum(counter.values())
            for reason, counter in self.counts.items()
            if reason != KEPT
        }
        return dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))

    def per_class(self) -> dict[str, dict[str, Any]]:
        """Class name → ``{"read", "kept", "skipped": {reason: n}}`` (faces with a class only)."""
        table: dict[str, dict[str, Any]] = {}
        for class_id, name in enumerate(self.classes):
            skipped = {
                reason: counter[class_id]
                for reason, counter in sorted(self.counts.items())
                if reason != KEPT and counter[class_id]
            }
            kept = self.counts.get(KEPT, Counter())[class_id]
            table[name] = {"read": kept + sum(skipped.values()), "kept": kept, "skipped": skipped}
        return table


@dataclass
class ConversionResult:
    """What every converter returns to ``build``: its placed items and its counts."""

    items: list[Item]
    stats: ConversionStats
