"""Deterministic hold-out of test items per dataset, never cutting a group (image, frame, video)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from yof_darknet.datasets.items import Item

FALLBACK_TEST_FRACTION = 0.2  # used when a dataset has no more items than the requested test size


@dataclass(frozen=True)
class Split:
    """``train`` and ``test`` items (disjoint, groups whole, sorted by image path).

    ``message`` says why the test set differs from the requested size, else it is ``None``.
    """

    train: list[Item]
    test: list[Item]
    message: str | None = None


def split_items(items: Sequence[Item], n_test: int, seed: int, *, dataset: str) -> Split:
    """Hold out ``n_test`` items of one dataset at random, choosing whole ``Item.group``s.

    The draw depends only on ``seed``, ``dataset`` and the set of items (not on their order or on
    the other datasets). When every group is one item the test set has exactly ``n_test`` items;
    with larger groups it gets as close as the group sizes allow without going over. A dataset
    with no more than ``n_test`` items holds out ``FALLBACK_TEST_FRACTION`` of them instead, and
    ``message`` says so.

    >>> from pathlib import Path
    >>> items = [Item(Path(f"/d/{i}.jpg"), "expw", str(i)) for i in range(10)]
    >>> len(split_items(items, 3, seed=0, dataset="expw").test)
    3
    """
    if not items:
        return Split([], [])
    groups: dict[str, list[Item]] = {}
    for item in sorted(items, key=lambda it: str(it.image)):
        groups.setdefault(item.group, []).append(item)
    total = len(items)
    message = None
    target = n_test
    if n_test > 0 and total <= n_test:
        target = max(1, round(total * FALLBACK_TEST_FRACTION)) if len(groups) > 1 else 0
        message = (
            f"{dataset}: only {total} items, not more than --test-per-dataset {n_test}; "
            f"holding out {FALLBACK_TEST_FRACTION:.0%} ({target}) for test instead"
        )
    rng = np.random.default_rng([seed, zlib.crc32(dataset.encode())])
    order = sorted(groups)
    test_groups: set[str] = set()
    taken = 0
    for index in rng.permutation(len(order)):
        if taken >= target:
            break
        size = len(groups[order[index]])
        if taken + size <= target:
            test_groups.add(order[index])
            taken += size
    if message is None and taken != target:
        message = (
            f"{dataset}: held out {taken} items instead of {target}: whole groups "
            "(videos or images) do not add up to the requested size"
        )
    train = [item for group in order if group not in test_groups for item in groups[group]]
    test = [item for group in order if group in test_groups for item in groups[group]]
    return Split(
        sorted(train, key=lambda it: str(it.image)),
        sorted(test, key=lambda it: str(it.image)),
        message,
    )
