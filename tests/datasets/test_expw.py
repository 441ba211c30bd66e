from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.support.boxes import parse_line
from tests.support.expw import make_expw, tree_digest, write_jpeg
from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.boxfaces import output_name
from yof_darknet.datasets.build import build_datasets, expw_job
from yof_darknet.datasets.expw import convert_expw, find_layout
from yof_darknet.datasets.stats import KEPT, NO_CLASS
from yof_darknet.formats.labels import check_label_path


@pytest.fixture(scope="module")
def expw_fixture(dataset_fixtures: Path) -> Path:
    return dataset_fixtures / "ExpW"


@pytest.fixture(scope="module")
def truth(dataset_fixtures: Path) -> dict:
    return json.loads((dataset_fixtures / "_synthetic_truth" / "truth.json").read_text())["ExpW"]


def expected_lines(truth: dict, name: str, min_score: float = 50.0) -> list[str]:
    """Label lines computed here from the fixture's documented rows and image sizes."""
    width, height = truth["images"][name]["width"], truth["images"][name]["height"]
    lines = []
    fields = ("face_id", "top", "left", "right", "bottom", "confidence", "label")
    unique = {tuple(r[f] for f in fields) for r in truth["rows"] if r["image_name"] == name}
    for values in unique:
        row = dict(zip(fields, values, strict=True))
        if not float(row["confidence"]) > min_score:
            continue
        x1, x2 = min(max(row["left"], 0), width), min(max(row["right"], 0), width)
        y1, y2 = min(max(row["top"], 0), height), min(max(row["bottom"], 0), height)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        lines.append(
            (
                row["face_id"],
                f"{row['label']} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
                f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}",
            )
        )
    return [line for _, line in sorted(lines)]


def test_fixture_rows_kept_and_dropped_with_reasons(expw_fixture, tmp_path):
    result = convert_expw(expw_fixture, tmp_path / "out" / "expw")
    stats = result.stats
    # README §5: conf > 50 on unique rows keeps 9 rows, 8 with a usable box, over 7 images
    assert stats.read == 14
    assert stats.kept == 8
    assert len(result.items) == 7
    assert stats.skipped() == {"low_score": 4, "degenerate_box": 1, "duplicate": 1}
    # which rows: the low scores are angry_actor (0), happy_family face 2 (6),
    # neutral_student at exactly 50 (6, once after dedup) and laughing_friends face 1 (3)
    assert stats.counts["low_score"] == Counter({6: 2, 0: 1, 3: 1})
    assert stats.counts["duplicate"] == Counter({6: 1})
    assert stats.counts["degenerate_box"] == Counter({4: 1})  # crying_baby face 1, 10-10-10-10
    assert stats.counts[KEPT] == Counter({3: 3, 4: 2, 1: 1, 2: 1, 5: 1})
    names = sorted(item.group for item in result.items)
    assert names == [
        "afraid_child_7.jpg",
        "crying_baby_41.jpg",  # 50.0001 is above 50
        "disgusted_man_31.jpg",
        "happy_family_55.jpg",  # keeps its 2 passing faces despite the low-score third
        "laughing_friends_19.jpg",  # score 103.66 is kept (no range check)
        "sad_woman_12.jpg",
        "surprised_boss_3.jpg",
    ]
    assert "unlabeled_extra_1.jpg" not in names
    assert stats.details["renamed"] == 0 and stats.details["malformed_examples"] == []


def test_fixture_label_lines_are_exact(expw_fixture, truth, tmp_path):
    result = convert_expw(expw_fixture, tmp_path / "expw")
    for item in result.items:
        label = item.image.with_suffix(".txt").read_text()
        assert label.splitlines() == expected_lines(truth, item.group), item.group
        assert label.endswith("\n")
        assert item.classes == tuple(int(line.split()[0]) for line in label.splitlines())
    # spot checks of the arithmetic: the clipped box and the whole-image box
    out = tmp_path / "expw"
    # surprised_boss_3: (150, 20)-(230 -> 220, 110) in 220x180
    assert (out / "surprised_boss_3.txt").read_text() == (
        f"5 {185 / 220:.6f} {65 / 180:.6f} {70 / 220:.6f} {90 / 180:.6f}\n"
    )
    assert (out / "sad_woman_12.txt").read_text() == "4 0.500000 0.500000 1.000000 1.000000\n"


def test_pictures_are_symlinks_by_default_and_copies_with_copy(expw_fixture, tmp_path):
    linked = convert_expw(expw_fixture, tmp_path / "a")
    copied = convert_expw(expw_fixture, tmp_path / "b", copy=True)
    for link, copy in zip(linked.items, copied.items, strict=True):
        source = expw_fixture / "image" / "origin" / link.group
        assert link.image.is_symlink() and link.image.resolve() == source.resolve()
        assert not copy.image.is_symlink() and copy.image.read_bytes() == source.read_bytes()


def test_source_folder_unchanged_by_conversion_and_reruns(expw_fixture, tmp_path):
    before = tree_digest(expw_fixture)
    for copy in (False, True, False):
        convert_expw(expw_fixture, tmp_path / "expw", copy=copy)
    assert tree_digest(expw_fixture) == before


def test_rerun_rewrites_nothing_that_is_up_to_date(expw_fixture, tmp_path):
    first = convert_expw(expw_fixture, tmp_path / "expw")
    times = {p: p.lstat().st_mtime_ns for p in (tmp_path / "expw").iterdir()}
    second = convert_expw(expw_fixture, tmp_path / "expw")
    assert first.items == second.items
    assert {p: p.lstat().st_mtime_ns for p in (tmp_path / "expw").iterdir()} == times


def test_drop_mixed_pictures(expw_fixture, tmp_path):
    result = convert_expw(expw_fixture, tmp_path / "expw", drop_mixed_images=True)
    # happy_family_55 (2 passing faces) and laughing_friends_19 (1) also had a low-score face
    assert result.stats.counts["mixed_image"] == Counter({3: 3})
    assert result.stats.kept == 5
    assert result.stats.read == 14
    assert sorted(item.group for item in result.items) == [
        "afraid_child_7.jpg",
        "crying_baby_41.jpg",
        "disgusted_man_31.jpg",
        "sad_woman_12.jpg",
        "surprised_boss_3.jpg",
    ]


def test_score_threshold_is_strict(expw_fixture, truth, tmp_path):
    result = convert_expw(expw_fixture, tmp_path / "expw", min_face_score=49.9999)
    assert result.stats.kept == 9  # neutral_student_88 at exactly 50.0000 now passes, once
    assert result.stats.counts["duplicate"] == Counter({6: 1})
    label = (tmp_path / "expw" / "neutral_student_88.txt").read_text().splitlines()
    assert label == expected_lines(truth, "neutral_student_88.jpg", min_score=49.9999)
    assert len(label) == 1


@pytest.mark.parametrize("layout", ["beside", "doubled"])
def test_label_lst_beside_origin_layouts(expw_fixture, tmp_path, layout):
    root = tmp_path / "ExpW"
    image_dir = root / "origin" / "origin" if layout == "doubled" else root / "origin"
    shutil.copytree(expw_fixture / "image" / "origin", image_dir)
    shutil.copy(expw_fixture / "label" / "label.lst", root / "label.lst")
    assert find_layout(root).image_dir == image_dir
    result = convert_expw(root, tmp_path / "out")
    assert result.stats.kept == 8 and len(result.items) == 7


def test_doubled_origin_in_canonical_layout(expw_fixture, tmp_path):
    root = tmp_path / "ExpW"
    shutil.copytree(expw_fixture / "image" / "origin", root / "image" / "origin" / "origin")
    shutil.copytree(expw_fixture / "label", root / "label")
    assert find_layout(root).image_dir == root / "image" / "origin" / "origin"
    assert convert_expw(root, tmp_path / "out").stats.kept == 8


def test_missing_label_lst_is_one_clear_error(tmp_path):
    (tmp_path / "ExpW" / "image" / "origin").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"no ExpW label\.lst") as error:
        convert_expw(tmp_path / "ExpW", tmp_path / "out")
    assert "label/label.lst" in str(error.value)
    assert not (tmp_path / "out").exists()


def test_missing_image_folder_is_a_clear_error(tmp_path):
    (tmp_path / "ExpW" / "label").mkdir(parents=True)
    (tmp_path / "ExpW" / "label" / "label.lst").write_text("a.jpg 0 1 1 9 9 80 3\n")
    with pytest.raises(DatasetError, match="no ExpW image folder"):
        convert_expw(tmp_path / "ExpW", tmp_path / "out")


def test_bad_rows_each_give_their_counted_reason(tmp_path):
    rows = [
        "good.jpg 0 10 10 50 50 90.0 3",  # 1 kept
        "good.jpg 1 10 60 90 50 90.0",  # 2 wrong field count
        "good.jpg 2 10 60 90 50 90.0 3 extra",  # 3 wrong field count
        "good.jpg 3 ten 60 90 50 90.0 3",  # 4 non numeric
        "good.jpg 4 10 60 90 50 nan 3",  # 5 non numeric
        "good.jpg 5 10 60 90 50 90.0 7",  # 6 label outside 0..6
        "good.jpg 6 10 60 90 50 90.0 -1",  # 7 label outside 0..6
        "good.jpg 7 10 60 90 50 90.0 2.5",  # 8 label outside 0..6
        "good.jpg -1 10 60 90 50 90.0 2",  # 9 bad face id
        "../good.jpg 0 10 10 50 50 90.0 3",  # 10 name with a path
        "",  # 11 blank: ignored
        "gone.jpg 0 10 10 50 50 90.0 4",  # 12 missing image
        "broken.jpg 0 10 10 50 50 90.0 5",  # 13 unreadable image
        "empty.jpg 0 10 10 50 50 90.0 5",  # 14 unreadable image (0 bytes)
        "good.jpg 8 50 40 40 60 90.0 1",  # 15 degenerate: right < left
        "good.jpg 9 100 10 50 120 90.0 1",  # 16 degenerate: top beyond the 100 px height
        "good.jpg 10 10 10 50 55 10.0 6",  # 17 low score
        "good.jpg 0 10 10 50 50 90.0 3",  # 18 duplicate of line 1
    ]
    root = make_expw(tmp_path / "ExpW", rows, {"good.jpg": (120, 100)})
    (root / "image" / "origin" / "broken.jpg").write_text("not a jpeg at all")
    (root / "image" / "origin" / "empty.jpg").write_bytes(b"")
    result = convert_expw(root, tmp_path / "out")
    counts = {reason: counter for reason, counter in result.stats.counts.items()}
    assert result.stats.skipped() == {
        "label_out_of_range": 3,
        "wrong_field_count": 2,
        "non_numeric": 2,
        "degenerate_box": 2,
        "unreadable_image": 2,
        "bad_face_id": 1,
        "bad_image_name": 1,
        "duplicate": 1,
        "low_score": 1,
        "missing_image": 1,
    }
    assert result.stats.read == 17  # every non-blank line, once
    for reason in ("wrong_field_count", "non_numeric", "label_out_of_range", "bad_image_name"):
        assert set(counts[reason]) == {NO_CLASS}
    assert counts["missing_image"] == Counter({4: 1})
    assert counts["degenerate_box"] == Counter({1: 2})
    examples = result.stats.details["malformed_examples"]
    label_file = root / "label" / "label.lst"
    assert examples[0] == f"{label_file}:2: 7 fields instead of 8: 'good.jpg 1 10 60 90 50 90.0'"
    assert [e.split(": ")[0] for e in examples] == [f"{label_file}:{n}" for n in (2, 3, 4, 5, 6)]
    assert result.stats.details["missing_image_examples"] == ["gone.jpg: no such file"]
    assert [e.split(": ")[0] for e in result.stats.details["unreadable_image_examples"]] == [
        "broken.jpg",
        "empty.jpg",
    ]
    assert [item.group for item in result.items] == ["good.jpg"]
    assert (tmp_path / "out" / "good.txt").read_text() == (
        f"3 {30 / 120:.6f} {30 / 100:.6f} {40 / 120:.6f} {40 / 100:.6f}\n"
    )


def test_names_darknet_would_misread_are_renamed_not_dropped(tmp_path):
    sizes = {
        "drawing_man_1.jpg": (64, 48),
        "street_images_2.jpg": (64, 48),
        "odd.jpg_3.jpg": (64, 48),
        "upper_4.JPG": (64, 48),
        "plain_5.jpg": (64, 48),
    }
    rows = [f"{name} 0 5 5 40 40 80.0 3" for name in sizes]
    root = make_expw(tmp_path / "ExpW", rows, sizes)
    out = tmp_path / "out"
    result = convert_expw(root, out)
    assert len(result.items) == 5 and result.stats.kept == 5
    assert result.stats.details["renamed"] == 4
    table = (out / "renamed.tsv").read_text().splitlines()
    assert table[0] == "original\toutput"
    mapping = dict(line.split("\t") for line in table[1:])
    assert set(mapping) == set(sizes) - {"plain_5.jpg"}
    assert mapping["upper_4.JPG"] == "upper_4.jpg"
    assert mapping["drawing_man_1.jpg"].startswith("dr_awing_man_1_")
    for item in result.items:
        check_label_path(item.image)  # both forks find the label beside the image
        assert item.image.resolve().name == item.group
        assert item.image.with_suffix(".txt").read_text().startswith("3 ")
    # a rerun without renames removes the stale mapping
    only_plain = make_expw(tmp_path / "ExpW2", rows[-1:], {"plain_5.jpg": (64, 48)})
    assert convert_expw(only_plain, out).stats.details["renamed"] == 0
    assert not (out / "renamed.tsv").exists()


def test_output_name_never_collides():
    assert output_name("angry_actor_104.jpg") == "angry_actor_104.jpg"
    assert output_name("a.png") == "a.png"
    assert output_name("a.jpeg") == "a.jpg"
    assert output_name("a.jpeg", hashed=True) != output_name("a.jpg", hashed=True)
    assert output_name("raw_1.jpg") != output_name("r_aw_1.jpg")


def test_output_folder_darknet_would_misread_is_refused(expw_fixture, tmp_path):
    for bad in ("raw", "images", "JPEGImages"):
        with pytest.raises(DatasetError, match="rewrites"):
            convert_expw(expw_fixture, tmp_path / bad / "expw")
        assert not (tmp_path / bad).exists()


def test_random_valid_rows_round_trip_through_the_converter(tmp_path):
    rng = np.random.default_rng(7)
    sizes, rows, truth = {}, [], {}
    for index in range(40):
        name = f"face_{index}.jpg"
        width, height = (int(v) for v in rng.integers(16, 160, size=2))
        sizes[name] = (width, height)
        for face in range(int(rng.integers(1, 4))):
            left, right = sorted(int(v) for v in rng.integers(-20, width + 20, size=2))
            top, bottom = sorted(int(v) for v in rng.integers(-20, height + 20, size=2))
            cls = int(rng.integers(0, 7))
            score = rng.uniform(51, 99)
            rows.append(f"{name} {face} {top} {left} {right} {bottom} {score:.4f} {cls}")
            clipped = (
                min(max(left, 0), width),
                min(max(top, 0), height),
                min(max(right, 0), width),
                min(max(bottom, 0), height),
            )
            if clipped[2] - clipped[0] >= 1 and clipped[3] - clipped[1] >= 1:
                truth.setdefault(name, []).append((cls, clipped))
    root = make_expw(tmp_path / "ExpW", rows, sizes)
    result = convert_expw(root, tmp_path / "out")
    assert {item.group for item in result.items} == set(truth)
    for item in result.items:
        lines = item.image.with_suffix(".txt").read_text().splitlines()
        got = [parse_line(line, sizes[item.group]) for line in lines]
        assert [cls for cls, _ in got] == [cls for cls, _ in truth[item.group]]
        for (_, box), (_, want) in zip(got, truth[item.group], strict=True):
            assert np.allclose(box, want, atol=1.0), (item.group, box, want)


def test_image_sizes_come_from_headers(tmp_path):
    write_jpeg(tmp_path / "ExpW" / "image" / "origin" / "wide.jpg", 300, 20)
    (tmp_path / "ExpW" / "label").mkdir(parents=True)
    (tmp_path / "ExpW" / "label" / "label.lst").write_text("wide.jpg 0 0 0 300 20 60.0 6\n")
    result = convert_expw(tmp_path / "ExpW", tmp_path / "out")
    assert (tmp_path / "out" / "wide.txt").read_text() == "6 0.500000 0.500000 1.000000 1.000000\n"
    assert result.items[0].classes == (6,)


def test_layout_prefers_the_folder_that_holds_the_listed_files(expw_fixture, tmp_path):
    root = tmp_path / "ExpW"
    shutil.copytree(expw_fixture / "image" / "origin", root / "origin")
    (root / "image" / "origin").mkdir(parents=True)  # an empty leftover of another layout
    shutil.copy(expw_fixture / "label" / "label.lst", root / "label.lst")
    assert find_layout(root).image_dir == root / "origin"


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xef\xbb\xbf\n"])
def test_empty_label_lst_is_one_error_and_writes_nothing(tmp_path, content):
    root = make_expw(tmp_path / "ExpW", [], {"a.jpg": (20, 20)})
    (root / "label" / "label.lst").write_bytes(content)
    with pytest.raises(DatasetError, match=r"label\.lst: label\.lst is empty; nothing was written"):
        build_datasets([expw_job(root)], tmp_path / "out")
    assert not (tmp_path / "out" / "obj.data").exists()
    assert not list((tmp_path / "out").glob("*.txt"))


def test_conflicting_rows_for_one_face_drop_that_face(tmp_path):
    rows = [
        "a.jpg 0 10 10 50 50 90.0 3",  # same face as the next row, other label
        "a.jpg 1 10 10 50 50 90.0 4",
        "a.jpg 2 10 10 50 50 80.0 4",  # same face again, other score
        "a.jpg 3 10 60 90 50 90.0 0",  # another face: kept
        "b.jpg 0 10 10 50 50 95.0 5",  # same box in another image: kept
        "b.jpg 1 10 10 50 50 95.0 5",  # a repeat (face id aside): the face is kept once
    ]
    root = make_expw(tmp_path / "ExpW", rows, {"a.jpg": (100, 100), "b.jpg": (100, 100)})
    result = convert_expw(root, tmp_path / "out")
    skipped = result.stats.skipped()
    assert skipped == {"conflicting_labels": 3, "duplicate": 1}
    assert result.stats.kept == 2
    labels = (tmp_path / "out" / "a.txt").read_text().splitlines()
    assert len(labels) == 1 and labels[0].startswith("0 ")
    assert len((tmp_path / "out" / "b.txt").read_text().splitlines()) == 1
    examples = result.stats.details["conflicting_labels_examples"]
    assert examples[0] == "line 1: a.jpg box 10,10,50,50 label 3 score 90"


def test_bom_and_non_utf8_names_are_read_as_the_file_system_names_them_and_renamed(tmp_path):
    latin1 = os.fsdecode(b"caf\xe9.jpg")  # a Latin-1 name: not UTF-8
    utf8 = "na\u00efve.jpg"
    root = make_expw(tmp_path / "ExpW", [], {"first.jpg": (64, 64), latin1: (64, 64),
                                             utf8: (64, 64)})  # fmt: skip
    rows = [b"first.jpg 0 5 5 50 50 90.0 3", b"caf\xe9.jpg 0 5 5 50 50 90.0 4",
            "na\u00efve.jpg 0 5 5 50 50 90.0 5".encode()]  # fmt: skip
    (root / "label" / "label.lst").write_bytes(b"\xef\xbb\xbf" + b"\n".join(rows) + b"\n")
    out = tmp_path / "out"
    summary = build_datasets([expw_job(root)], out, test_per_dataset=0)
    expw = summary.stats["datasets"]["expw"]
    assert expw["faces"]["kept"] == 3 and expw["faces"]["skipped"] == {}
    listed = (out / "train.txt").read_text(encoding="ascii").splitlines()  # every line ASCII
    assert str(out / "expw" / "first.jpg") in listed  # the BOM is not part of a name
    renamed = dict(
        line.split("\t") for line in os.fsdecode((out / "expw" / "renamed.tsv").read_bytes())
        .splitlines()[1:]
    )  # fmt: skip
    assert set(renamed) == {latin1, utf8}  # the original names, as their bytes on disk
    for original, output in renamed.items():
        assert str(out / "expw" / output) in listed
        assert (out / "expw" / output).resolve() == (root / "image" / "origin" / original).resolve()
