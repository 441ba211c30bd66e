"""Deterministic hold-out of test, then validation, items per dataset, never cutting a group.

A group (``Item.group``: the image for ExpW, the frame or the video for Aff-Wild2) is the unit
a draw takes whole. ``split_items`` draws the test set from all of a dataset's items;
``draw_validation`` then draws the validation set from what the test draw left for training,
with a random stream of its own, so the test set is the same with and without validation.

Held-out shares. ``--test-per-dataset`` is a count (the paper's 2,500 per dataset: 2.7 % of
ExpW's images), which on a smaller dataset can mean most of it (the 3,134 images of the public
ExpW subset: 80 %). A count above ``MAX_HELD_OUT_SHARE`` of a dataset is taken as sized for
other data, not as a wish for that share, and ``FALLBACK_TEST_FRACTION`` is held out instead,
with a note; ``force`` (``--force-test-size``) holds out the count anyway.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.items import Item

# 70/30 is the largest split common practice uses (80/20 and 90/10 the usual ones): a held-out
# count above 30 % of a dataset's images leaves its model trained on clearly less than it could.
# How Aff-Wild2 is held out (--split-by): whole frames, or whole videos.
SPLIT_BY = ("frames", "videos")
MAX_HELD_OUT_SHARE = 0.3
# What replaces such a count (and a count of at least the whole dataset): the usual 80/20 split.
FALLBACK_TEST_FRACTION = 0.2
# ``--val-per-dataset auto``: 10 % of a dataset's training images, at most 2,500 (the paper's
# test size, whose mAP Table II trusts: more only takes images from training and slows the
# scoring of every checkpoint). Rounded down, so validation never takes more than 10 %.
VAL_AUTO_FRACTION = 0.1
VAL_AUTO_MAX = 2500
AUTO = "auto"
_VAL_STREAM = 1  # the validation draw's random stream, apart from the test draw's


@dataclass(frozen=True)
class ValSize:
    """``--val-per-dataset``: ``count`` items, or ``fraction`` of the training items (rounded
    down, at most ``limit``); ``text`` is how it was given. ``count == 0``: no validation.

    >>> parse_val_size("auto").items(30_000), parse_val_size("10%").items(37)
    (2500, 3)
    """

    text: str
    count: int | None = None
    fraction: float | None = None
    limit: int | None = None

    @property
    def off(self) -> bool:
        return self.count == 0

    def items(self, n_train: int) -> int:
        """Validation items asked of a dataset with ``n_train`` training items."""
        if self.count is not None:
            return self.count
        assert self.fraction is not None
        wanted = math.floor(n_train * self.fraction)
        return wanted if self.limit is None else min(wanted, self.limit)


VAL_OFF = ValSize("0", count=0)
VAL_AUTO = ValSize(AUTO, fraction=VAL_AUTO_FRACTION, limit=VAL_AUTO_MAX)


def parse_val_size(text: str) -> ValSize:
    """``auto``; ``0`` (none); ``N`` items; a fraction of the training items: ``0.1`` or ``10%``.

    >>> parse_val_size("300").count, parse_val_size("0.05").fraction, parse_val_size("0").off
    (300, 0.05, True)
    """
    text = str(text).strip()
    if text == AUTO:
        return VAL_AUTO
    if text.isdigit():
        return ValSize(text, count=int(text))
    try:
        fraction = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        fraction = math.nan
    if 0 < fraction < 1:
        return ValSize(text, fraction=fraction)
    raise DatasetError(
        f"--val-per-dataset {text!r}: give a count of images (300), a fraction of the training "
        "images (0.1 or 10%, above 0 and below 1), auto, or 0 for no validation"
    )


@dataclass(frozen=True)
class Split:
    """``train``, ``test`` and ``val`` items (disjoint, groups whole, each sorted by image path).

    ``message`` says why the test set differs from the requested size (``test_capped``: because
    the request passed ``MAX_HELD_OUT_SHARE``), ``val_message`` why the validation set differs
    from its request; else they are ``None``.
    """

    train: list[Item]
    test: list[Item]
    message: str | None = None
    test_capped: bool = False
    val: list[Item] = field(default_factory=list)
    val_message: str | None = None


def _groups(items: Sequence[Item]) -> dict[str, list[Item]]:
    groups: dict[str, list[Item]] = {}
    for item in sorted(items, key=lambda it: str(it.image)):
        groups.setdefault(item.group, []).append(item)
    return groups


def _draw(groups: dict[str, list[Item]], target: int, rng: np.random.Generator) -> set[str]:
    """Groups in a random order, each taken while the total stays within ``target`` items."""
    order = sorted(groups)
    taken: set[str] = set()
    count = 0
    for index in rng.permutation(len(order)):
        if count >= target:
            break
        size = len(groups[order[index]])
        if count + size <= target:
            taken.add(order[index])
            count += size
    return taken


def _sorted(items: list[Item]) -> list[Item]:
    return sorted(items, key=lambda it: str(it.image))


def _test_target(
    total: int, n_groups: int, n_test: int, force: bool, dataset: str
) -> tuple[int, str | None]:
    """How many items the test draw aims at, and the note when that is not ``n_test``."""
    fallback = max(1, round(total * FALLBACK_TEST_FRACTION)) if n_groups > 1 else 0
    if n_test > 0 and total <= n_test:
        return fallback, (
            f"{dataset}: only {total} images, not more than --test-per-dataset {n_test}; "
            f"holding out {FALLBACK_TEST_FRACTION:.0%} ({fallback}) for test instead"
        )
    if n_test > MAX_HELD_OUT_SHARE * total and not force:
        return fallback, (
            f"{dataset}: --test-per-dataset {n_test} would hold out {n_test / total:.0%} of its "
            f"{total} images (more than {MAX_HELD_OUT_SHARE:.0%}), leaving {total - n_test} to "
            f"train; holding out {FALLBACK_TEST_FRACTION:.0%} instead"
        )
    return n_test, None


def split_items(
    items: Sequence[Item], n_test: int, seed: int, *, dataset: str, force: bool = False
) -> Split:
    """Hold out ``n_test`` items of one dataset at random, choosing whole ``Item.group``s.

    The draw depends only on ``seed``, ``dataset`` and the set of items (not on their order or on
    the other datasets). When every group is one item the test set has exactly ``n_test`` items;
    with larger groups it gets as close as the group sizes allow without going over. A dataset
    with no more than ``n_test`` items, or (unless ``force``) of which ``n_test`` is more than
    ``MAX_HELD_OUT_SHARE``, holds out ``FALLBACK_TEST_FRACTION`` of them instead, and
    ``message`` says so.

    >>> from pathlib import Path
    >>> items = [Item(Path(f"/d/{i}.jpg"), "expw", str(i)) for i in range(10)]
    >>> len(split_items(items, 3, seed=0, dataset="expw").test)
    3
    >>> len(split_items(items, 4, seed=0, dataset="expw").test)  # 40 %: 20 % instead
    2
    """
    if not items:
        return Split([], [])
    groups = _groups(items)
    total = len(items)
    target, message = _test_target(total, len(groups), n_test, force, dataset)
    capped = message is not None and total > n_test
    rng = np.random.default_rng([seed, zlib.crc32(dataset.encode())])
    test_groups = _draw(groups, target, rng)
    taken = sum(len(groups[g]) for g in test_groups)
    if capped:
        message = f"{message} ({taken}); --force-test-size holds out {n_test}"
    elif message is None and taken != target:
        message = (
            f"{dataset}: held out {taken} items instead of {target}: whole groups "
            "(videos or images) do not add up to the requested size"
        )
    train = [item for group in sorted(groups) if group not in test_groups for item in groups[group]]
    test = [item for group in sorted(groups) if group in test_groups for item in groups[group]]
    return Split(_sorted(train), _sorted(test), message, capped)


def held_out_split(items: Sequence[Item], *, dataset: str, title: str) -> Split:
    """The dataset's own split: ``Item.held_out`` items are the test set, the others train
    (``title`` names the held-out set in the note, ``--test-per-dataset`` does not apply).

    >>> from pathlib import Path
    >>> items = [Item(Path(f"/d/{i}.jpg"), "rafdb", str(i), held_out=i < 2) for i in range(5)]
    >>> split = held_out_split(items, dataset="rafdb", title="test_ images")
    >>> len(split.train), len(split.test)
    (3, 2)
    """
    train = [item for item in items if not item.held_out]
    test = [item for item in items if item.held_out]
    message = (
        f"{dataset}: its own held-out set ({title}, {len(test)} images) is the test list; "
        "--test-per-dataset does not apply (--held-out drawn draws it instead)"
    )
    return Split(_sorted(train), _sorted(test), message)


def _val_target(n_train: int, request: ValSize, dataset: str) -> tuple[int, str | None]:
    """How many items the validation draw aims at, and the note when that is not the request."""
    asked = request.items(n_train)
    if request.off or n_train == 0:
        return 0, None
    if request.count is not None and asked > MAX_HELD_OUT_SHARE * n_train:
        auto = VAL_AUTO.items(n_train)
        return auto, (
            f"{dataset}: --val-per-dataset {asked} would take {asked / n_train:.0%} of its "
            f"{n_train} training images (more than {MAX_HELD_OUT_SHARE:.0%}); taking {auto} "
            f"({VAL_AUTO_FRACTION:.0%}, auto) instead; give a fraction (0.4) to take a larger share"
        )
    if asked == 0:
        return 0, (
            f"{dataset}: --val-per-dataset {request.text} of {n_train} training images rounds "
            "down to none: no validation images"
        )
    return asked, None


def draw_validation(split: Split, request: ValSize, seed: int, *, dataset: str) -> Split:
    """``split`` with validation items drawn from its ``train`` (whole groups, as the test draw):
    ``request.items(len(train))`` of them, as close as the groups allow without going over.
    ``test`` is untouched: validation only ever shrinks training."""
    target, message = _val_target(len(split.train), request, dataset)
    if target == 0:
        return replace(split, val_message=message)
    groups = _groups(split.train)
    rng = np.random.default_rng([seed, zlib.crc32(dataset.encode()), _VAL_STREAM])
    val_groups = _draw(groups, target, rng)  # target < len(train): some training is left
    taken = sum(len(groups[g]) for g in val_groups)
    if message is None and taken != target:
        message = (
            f"{dataset}: took {taken} validation images instead of {target}: whole groups "
            "(videos or images) do not add up to the requested size"
        )
    train = [it for g in sorted(groups) if g not in val_groups for it in groups[g]]
    val = [it for g in sorted(groups) if g in val_groups for it in groups[g]]
    return replace(split, train=_sorted(train), val=_sorted(val), val_message=message)
