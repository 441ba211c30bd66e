from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.expw import convert_expw
from yof_darknet.datasets.items import Item
from yof_darknet.datasets.split import (
    FALLBACK_TEST_FRACTION,
    VAL_AUTO,
    VAL_OFF,
    Split,
    draw_validation,
    parse_val_size,
    split_items,
)
from yof_darknet.samples.write import write_expw_sample


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
    assert "only 7 images" in split.message and "2500" in split.message
    assert not split.test_capped  # nothing to insist on: --force-test-size changes nothing
    assert split_items(items(7), 2500, seed=0, dataset="expw", force=True) == split


def test_no_test_requested_and_a_single_group():
    assert split_items(items(10), 0, seed=0, dataset="expw").test == []
    one = split_items(items(10, group_size=10), 5, seed=0, dataset="expw")
    assert one.test == [] and len(one.train) == 10 and one.message
    assert split_items([], 5, seed=0, dataset="expw") == split_items([], 5, 0, dataset="expw")


def digest(part: Sequence[Item]) -> str:
    return hashlib.sha256("".join(f"{it.image}\n" for it in part).encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    ("n", "n_test", "expected"),
    [
        (91_793, 2500, "564e2f6f45789b40"),  # the paper: ExpW's 91,793 faces, 2,500 held out
        (85_000, 2500, "b1122d276b6253ab"),
        (1000, 400, "7de6c5710c574a47"),  # the embedded sample's 400 of 1,000 (with force)
    ],
)
def test_the_test_draw_is_the_one_made_before_the_share_limit(n, n_test, expected):
    """Digests of the test lists the split drew before the share limit and validation existed:
    the paper's configuration holds out the same 2,500 images as before."""
    split = split_items(items(n), n_test, seed=0, dataset="expw", force=n_test > 0.3 * n)
    assert len(split.test) == n_test and split.message is None and not split.test_capped
    assert digest(split.test) == expected


def test_a_count_over_the_share_limit_holds_out_a_fifth_and_says_so():
    """The public ExpW subset: --test-per-dataset 2500 of its 3,134 images would be 80 %."""
    split = split_items(items(3134), 2500, seed=0, dataset="expw")
    assert (len(split.test), len(split.train)) == (627, 2507)
    assert split.test_capped
    assert split.message == (
        "expw: --test-per-dataset 2500 would hold out 80% of its 3134 images (more than 30%), "
        "leaving 634 to train; holding out 20% instead (627); --force-test-size holds out 2500"
    )
    forced = split_items(items(3134), 2500, seed=0, dataset="expw", force=True)
    assert (len(forced.test), len(forced.train), forced.message) == (2500, 634, None)
    assert not forced.test_capped


@pytest.mark.parametrize(("n_test", "held_out"), [(300, 300), (301, 200), (999, 200)])
def test_the_share_limit_is_thirty_percent_of_the_images(n_test, held_out):
    split = split_items(items(1000), n_test, seed=0, dataset="expw")
    assert len(split.test) == held_out and split.test_capped == (held_out != n_test)


def test_the_share_limit_counts_frames_and_keeps_videos_whole():
    pool = items(100, "affwild2", group_size=10)  # 10 videos of 10 frames
    split = split_items(pool, 50, seed=0, dataset="affwild2")
    assert len(split.test) == 20 and split.test_capped  # 20 % of 100 frames: two videos
    assert len({it.group for it in split.test}) == 2


@pytest.mark.parametrize(
    ("text", "n_train", "asked"),
    [("auto", 99, 9), ("auto", 100_000, 2500), ("0", 500, 0), ("40", 500, 40),
     ("0.25", 10, 2), ("25%", 10, 2), ("0.999", 1000, 999)],
)  # fmt: skip
def test_val_sizes_parse_and_round_down(text, n_train, asked):
    assert parse_val_size(text).items(n_train) == asked
    assert parse_val_size(text).text == text


@pytest.mark.parametrize("bad", ["1.0", "-3", "abc", "0%", "100%", "1e9", "", "nan", "2.5"])
def test_bad_val_sizes_are_refused_with_the_forms_that_work(bad):
    with pytest.raises(DatasetError, match=r"a count of images .* or 0 for no validation"):
        parse_val_size(bad)


def test_validation_exact_counts_and_notes():
    split = split_items(items(3134), 2500, seed=0, dataset="expw")  # 627 test, 2507 train
    auto = draw_validation(split, VAL_AUTO, seed=0, dataset="expw")
    assert (len(auto.train), len(auto.val), len(auto.test)) == (2257, 250, 627)
    assert auto.val_message is None and auto.test == split.test
    counted = draw_validation(split, parse_val_size("300"), seed=0, dataset="expw")
    assert (len(counted.train), len(counted.val)) == (2207, 300)
    over = draw_validation(split, parse_val_size("1000"), seed=0, dataset="expw")
    assert len(over.val) == 250 and over.val_message == (
        "expw: --val-per-dataset 1000 would take 40% of its 2507 training images (more than "
        "30%); taking 250 (10%, auto) instead; give a fraction (0.4) to take a larger share"
    )
    share = draw_validation(split, parse_val_size("0.4"), seed=0, dataset="expw")
    assert len(share.val) == 1002 and share.val_message is None
    off = draw_validation(split, VAL_OFF, seed=0, dataset="expw")
    assert off == split and off.val == [] and off.val_message is None
    tiny = draw_validation(
        split_items(items(10), 2, 0, dataset="expw"), VAL_AUTO, 0, dataset="expw"
    )
    assert tiny.val == [] and "rounds down to none" in tiny.val_message


def test_validation_keeps_groups_whole_and_says_when_they_do_not_add_up():
    pool = items(200, "affwild2", group_size=8)  # 25 videos of 8 frames
    split = split_items(pool, 40, seed=1, dataset="affwild2")
    drawn = draw_validation(split, parse_val_size("20"), seed=1, dataset="affwild2")
    assert len(drawn.val) == 16 and "took 16 validation images instead of 20" in drawn.val_message
    assert not {it.group for it in drawn.val} & {it.group for it in drawn.train}


def check_split(pool: Sequence[Item], plain: Split, drawn: Split) -> None:
    """Train/val/test disjoint and complete, groups whole, the test draw untouched."""
    parts = [set(drawn.train), set(drawn.val), set(drawn.test)]
    assert sum(map(len, parts)) == len(pool) and set().union(*parts) == set(pool)
    groups = [{it.group for it in part} for part in parts]
    assert not groups[0] & groups[1] and not groups[0] & groups[2] and not groups[1] & groups[2]
    assert drawn.test == plain.test and drawn.message == plain.message
    assert set(drawn.val) <= set(plain.train)
    for part in (drawn.train, drawn.val, drawn.test):
        assert part == sorted(part, key=lambda it: str(it.image))


@pytest.fixture(scope="module")
def sample_items(tmp_path_factory) -> dict[str, list[Item]]:
    """The embedded sample's ExpW images (120 drawn), and the same frames in videos of 1 to 9."""
    root = tmp_path_factory.mktemp("sample") / "ExpW"
    write_expw_sample(root, seed=0, images=120)
    expw = convert_expw(root, tmp_path_factory.mktemp("darknet") / "expw").items
    sizes = np.random.default_rng(0).integers(1, 10, size=len(expw))
    videos = np.repeat(np.arange(len(expw)), sizes)[: len(expw)]
    grouped = [
        Item(it.image, "affwild2", f"v{video}", it.classes)
        for it, video in zip(expw, videos, strict=True)
    ]
    return {"expw": expw, "affwild2": grouped}


@pytest.mark.parametrize("dataset", ["expw", "affwild2"])
def test_train_val_test_disjoint_and_stable_on_the_embedded_sample(sample_items, dataset):
    """Exhaustive over seeds, test sizes (one past the share limit, one forced) and validation
    sizes: disjoint, groups whole, the same test set as without validation, the same draw for
    the same seed whatever the items' order."""
    pool = sample_items[dataset]
    assert len(pool) >= 100
    requests = [VAL_AUTO, parse_val_size("7"), parse_val_size("0.2"), parse_val_size("90")]
    for seed in range(40):
        for n_test, force in ((10, False), (60, False), (60, True)):
            plain = split_items(pool, n_test, seed, dataset=dataset, force=force)
            assert plain == split_items(pool[::-1], n_test, seed, dataset=dataset, force=force)
            for request in requests:
                drawn = draw_validation(plain, request, seed, dataset=dataset)
                check_split(pool, plain, drawn)
                again = split_items(pool[::-1], n_test, seed, dataset=dataset, force=force)
                assert draw_validation(again, request, seed, dataset=dataset) == drawn
                assert len(drawn.val) <= request.items(len(plain.train)) or drawn.val_message
    other = draw_validation(split_items(pool, 10, 0, dataset=dataset), VAL_AUTO, 1, dataset=dataset)
    assert (
        other.val
        != draw_validation(
            split_items(pool, 10, 0, dataset=dataset), VAL_AUTO, 0, dataset=dataset
        ).val
    )
