"""``DatasetJob``: one dataset to convert, its raw folder bound to its converter and options.

``expw_job``, ``affwild2_job``, ``affectnet_job``, ``rafdb_job`` and ``own_job`` make one each
(the converters are imported when they run, so binding a job costs nothing); ``build`` runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from yof_darknet.core.expressions import CLASSES
from yof_darknet.datasets.stats import ConversionResult

if TYPE_CHECKING:
    from yof_darknet.datasets.affwild2 import AffWild2Options
    from yof_darknet.datasets.unannotated import UnannotatedOptions


@dataclass(frozen=True)
class DatasetJob:
    """One dataset to convert: its name (``OUT/<name>/``), raw folder, bound converter and the
    classes its labels use."""

    name: str
    raw: Path
    convert: Callable[..., ConversionResult]
    prune: bool = True
    classes: tuple[str, ...] = CLASSES


def expw_job(
    root: Path,
    *,
    min_face_score: float = 50.0,
    drop_mixed_images: bool = False,
    copy: bool = False,
    unannotated: UnannotatedOptions | None = None,
    max_side: int = 0,
) -> DatasetJob:
    """The ExpW conversion of ``root`` with the ``datasets`` command's options."""
    from yof_darknet.datasets.expw import convert_expw

    convert = partial(
        convert_expw,
        root,
        min_face_score=min_face_score,
        drop_mixed_images=drop_mixed_images,
        copy=copy,
        unannotated=unannotated,
        max_side=max_side,
    )
    return DatasetJob("expw", root, convert)


def affwild2_job(root: Path, options: AffWild2Options | None = None) -> DatasetJob:
    """The Aff-Wild2 conversion of ``root`` (default options: the command's defaults)."""
    from yof_darknet.datasets.affwild2 import AffWild2Options, convert_affwild2

    convert = partial(convert_affwild2, root, options=options or AffWild2Options())
    return DatasetJob("affwild2", root, convert)


def affectnet_job(
    root: Path,
    *,
    held_out: str = "official",
    copy: bool = False,
    unannotated: UnannotatedOptions | None = None,
    max_side: int = 0,
) -> DatasetJob:
    """The AffectNet conversion of ``root`` (``held_out``: ``official`` = validation.csv is the
    test list, ``drawn`` = drawn as ExpW's)."""
    from yof_darknet.datasets.affectnet import convert_affectnet

    convert = partial(
        convert_affectnet,
        root,
        held_out=held_out,
        copy=copy,
        unannotated=unannotated,
        max_side=max_side,
    )
    return DatasetJob("affectnet", root, convert)


def rafdb_job(
    root: Path,
    *,
    held_out: str = "official",
    copy: bool = False,
    unannotated: UnannotatedOptions | None = None,
    max_side: int = 0,
) -> DatasetJob:
    """The RAF-DB conversion of ``root`` (``held_out``: ``official`` = the ``test_`` images are
    the test list, ``drawn`` = drawn as ExpW's)."""
    from yof_darknet.datasets.rafdb import convert_rafdb

    convert = partial(
        convert_rafdb,
        root,
        held_out=held_out,
        copy=copy,
        unannotated=unannotated,
        max_side=max_side,
    )
    return DatasetJob("rafdb", root, convert)


def own_job(
    images: Path,
    labels: Path,
    *,
    classes: tuple[str, ...] = CLASSES,
    copy: bool = False,
    unannotated: UnannotatedOptions | None = None,
    max_side: int = 0,
) -> DatasetJob:
    """The conversion of a user's photos under ``images`` labelled by ``labels`` (a CSV or a
    YOLO names file) into ``classes``."""
    from yof_darknet.datasets.own import convert_own

    convert = partial(
        convert_own,
        images,
        labels,
        classes=classes,
        copy=copy,
        unannotated=unannotated,
        max_side=max_side,
    )
    return DatasetJob("own", images, convert, classes=tuple(classes))
