from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from yof_darknet.datasets.items import Item
from yof_darknet.datasets.split import FALLBACK_TEST_FRACTION, split_items


def items(n: int, dataset: str = "expw", group_size: int = 1) -> list[Item]:
    return [
        Item(Path(f"/out/{dataset}/{i:05d}.jpg"), dataset, f"g{i // group_size}") for i in range(n)
    ]


def test_disjoint_complete_and_exact_size():
    pool = items(1000)
    split = split_items(pool, 250, seed=0, dataset="expw")
    assert len(split.test) == 250 and len(split.train) == 750
    assert not set(split.train) & set(split.test)
    assert set(split.train) | set(split.test) == set(pool)
    assert split.message is None
    assert split.train == sorted(split.train, key=lambda it: str(it.image))


def test_deterministic_per_seed_and_independent_of_order_and_other_datasets():
    pool = items(500)
    first = split_items(pool, 50, seed=3, dataset="expw")
    again = split_items(list(reversed(pool)), 50, seed=3, dataset="expw")
    assert first == again
    assert split_items(pool, 50, seed=4, dataset="expw").test != first.test
    # the draw of one dataset does not depend on which other datasets exist
    other = split_items(items(500, "affwild2"), 50, seed=3, dataset="affwild2")
    assert [it.image.name for it in other.test] != [it.image.name for it in first.test]


def test_test_set_is_roughly_uniform_over_items():
    hits = np.zeros(100)
    for seed in range(300):
        for item in split_items(items(100), 10, seed=seed, dataset="expw").test:
            hits[int(item.image.stem)] += 1
    # each item is drawn with p = 0.1: expected 30 of 300, far from 0 or 300
    assert hits.min() > 10 and hits.max() < 60


@pytest.mark.parametrize("group_size", [2, 5, 12])
def test_groups_are_never_cut(group_size):
    pool = items(600, "affwild2", group_size)
    split = split_items(pool, 100, seed=0, dataset="affwild2")
    train_groups = {it.group for it in split.train}
    test_groups = {it.group for it in split.test}
    assert not train_groups & test_groups
    assert len(split.test) <= 100
    if 100 % group_size == 0:
        assert len(split.test) == 100 and split.message is None
    else:
        assert len(split.test) > 100 - group_size
        assert "whole groups" in split.message


def test_uneven_groups_still_reach_the_exact_size_when_possible():
    pool = [Item(Path(f"/o/{i}.jpg"), "affwild2", "big" if i < 90 else f"s{i}") for i in range(100)]
    split = split_items(pool, 5, seed=0, dataset="affwild2")
    assert len(split.test) == 5 and split.message is None
    assert all(it.group != "big" for it in split.test)


def test_fewer_items_than_requested_holds_out_a_fraction_and_says_so():
    split = split_items(items(7), 2500, seed=0, dataset="expw")
    expected = round(7 * FALLBACK_TEST_FRACTION)
    assert len(split.test) == expected and len(split.train) == 7 - expected
    assert "only 7 items" in split.message and "2500" in split.message


def test_no_test_requested_and_a_single_group():
    assert split_items(items(10), 0, seed=0, dataset="expw").test == []
    one = split_items(items(10, group_size=10), 5, seed=0, dataset="expw")
    assert one.test == [] and len(one.train) == 10 and one.message
    assert split_items([], 5, seed=0, dataset="expw") == split_items([], 5, 0, dataset="expw")
