"""The unit every dataset converter produces and the split and statistics consume."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Item:
    """One image of the converted dataset.

    ``image`` is its absolute path in the Darknet layout (the label sits beside it as ``.txt``);
    ``dataset`` is the converter's name (``"expw"``, ``"affwild2"``, ``"affectnet"``...);
    ``group`` is the unit a split may not cut (the image for ExpW, the video for Aff-Wild2 with
    ``--split-by videos``, else the frame);
    ``classes`` holds the class id of each line of its label file (for per-class split counts);
    ``held_out``: the dataset's own test set holds it (AffectNet's validation.csv, RAF-DB's
    ``test_`` images), so the split puts it in the test list.
    """

    image: Path
    dataset: str
    group: str
    classes: tuple[int, ...] = ()
    held_out: bool = False
