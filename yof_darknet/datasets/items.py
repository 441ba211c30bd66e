"""The unit every dataset converter produces and the split and statistics consume."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Item:
    """One image of the converted dataset.

    ``image`` is its absolute path in the Darknet layout (the label sits beside it as ``.txt``);
    ``dataset`` is ``"expw"`` or ``"affwild2"``; ``group`` is the unit a split may not cut
    (the image for ExpW, the video for Aff-Wild2 with ``--split-by videos``, else the frame);
    ``classes`` holds the class id of each line of its label file (for per-class split counts).
    """

    image: Path
    dataset: str
    group: str
    classes: tuple[int, ...] = ()
