"""RAF-DB → Darknet on the format-exact look-alike: every reason, the class map, box files with a
trailing space or x2 < x1, the compound folder, --unannotated, the raw folder untouched."""

from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from tests.support.boxes import parse_line
from tests.support.expw import tree_digest
from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.rafdb import convert_rafdb, read_box
from yof_darknet.datasets.stats import KEPT, NO_CLASS
from yof_darknet.datasets.unannotated import DetectorSettings, UnannotatedOptions
from yof_darknet.samples.rafdb import write_rafdb_sample

# RAF-DB's README: 1 Surprise, 2 Fear, 3 Disgust, 4 Happiness, 5 Sadness, 6 Anger, 7 Neutral
CODES = {1: "surprise", 2: "fear", 3: "disgust", 4: "happiness", 5: "sadness", 6: "anger",
         7: "neutral"}  # fmt: skip
OURS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("rafdb") / "RAF-DB"
    return write_rafdb_sample(root), root


def test_every_reason_is_counted_once(sample, tmp_path):
    info, root = sample
    before = tree_digest(root)
    result = convert_rafdb(root, tmp_path / "out" / "rafdb")
    stats = result.stats
    assert tree_digest(root) == before
    assert stats.skipped() == dict(info.reasons)
    assert stats.kept == info.kept == len(result.items)
    compound = stats.counts["compound_expression"]
    assert (
        stats.read == info.lines + compound[NO_CLASS] == stats.kept + sum(stats.skipped().values())
    )
    assert Counter(dict(stats.counts[KEPT])) == info.kept_classes
    assert sum(item.held_out for item in result.items) == info.held_out > 0
    assert all(item.held_out == item.group.startswith("test_") for item in result.items)
    boxes = stats.details["box_file_examples"]
    assert any("train_" in e and "_boundingbox.txt:1: inverted_box" in e for e in boxes)


def test_labels_follow_the_code_and_the_box_file(sample, tmp_path):
    info, root = sample
    result = convert_rafdb(root, tmp_path / "out")
    codes = dict(
        line.split() for line in (root / "basic" / "EmoLabel" / "list_patition_label.txt")
        .read_text().splitlines() if len(line.split()) == 2
    )  # fmt: skip
    for item in result.items:
        text = info.box_files[item.group]
        assert text.endswith(" ") or text[-1].isdigit()
        x1, y1, x2, y2 = (float(v) for v in text.split())
        with Image.open(item.image) as image:
            size = image.size
        (line,) = item.image.with_suffix(".txt").read_text().splitlines()
        class_id, got = parse_line(line, size)
        assert OURS[class_id] == CODES[int(codes[item.group])]
        want = (max(x1, 0), max(y1, 0), min(x2, size[0]), min(y2, size[1]))
        assert np.allclose(got, want, atol=0.002 * max(size))


def test_a_box_file_with_x2_below_x1_is_counted_never_guessed(tmp_path):
    box = tmp_path / "train_00001_boundingbox.txt"
    box.write_text("120.5 30.0 20.25 140.0 ")
    assert read_box(box)[0] == "inverted_box"
    box.write_text("20.5 30.0 120.25 140.0 \r\n")
    assert read_box(box) == (None, (20.5, 30.0, 120.25, 140.0), "")


def test_a_copy_whose_box_files_are_mostly_inverted_is_refused(sample, tmp_path):
    _, source = sample
    root = tmp_path / "RAF-DB"
    shutil.copytree(source, root)
    for index in range(25):  # x y w h, as one public reader has it: most boxes now inverted
        name = f"train_{90000 + index}"
        shutil.copy(root / "basic" / "Image" / "original" / "train_00002.jpg",
                    root / "basic" / "Image" / "original" / f"{name}.jpg")  # fmt: skip
        (root / "basic" / "Annotation" / "boundingbox" / f"{name}_boundingbox.txt").write_text(
            "100 90 40 40"
        )
        with (root / "basic" / "EmoLabel" / "list_patition_label.txt").open("a") as labels:
            labels.write(f"{name}.jpg 3\n")
    with pytest.raises(DatasetError, match=r"box files hold x2 < x1 .* another format"):
        convert_rafdb(root, tmp_path / "out")


def test_basic_given_directly_counts_no_compound(sample, tmp_path):
    info, root = sample
    result = convert_rafdb(root / "basic", tmp_path / "out")
    assert "compound_expression" not in result.stats.counts
    assert result.stats.kept == info.kept


def test_held_out_pooled_marks_no_image(sample, tmp_path):
    _, root = sample
    result = convert_rafdb(root, tmp_path / "out", held_out="drawn")
    assert not any(item.held_out for item in result.items)


def test_missing_original_folder_names_the_aligned_crops(sample, tmp_path):
    _, source = sample
    root = tmp_path / "RAF-DB"
    shutil.copytree(source / "basic" / "EmoLabel", root / "basic" / "EmoLabel")
    shutil.copytree(source / "basic" / "Image" / "aligned", root / "basic" / "Image" / "aligned")
    with pytest.raises(DatasetError, match=r"original: not found \(Image/aligned/ holds 100x100"):
        convert_rafdb(root, tmp_path / "out")


def test_unannotated_drop_leaves_out_the_picture_with_a_bystander(sample, tmp_path):
    """RAF-DB annotates one face a picture: RetinaFace finds the pasted portrait beside it."""
    info, root = sample
    options = UnannotatedOptions("drop", DetectorSettings(threshold=0.8, max_side=640))
    result = convert_rafdb(root, tmp_path / "out", unannotated=options)
    assert result.stats.counts["unannotated_image"] == Counter({3: 1})  # happiness (code 4)
    assert info.bystander not in {item.group for item in result.items}
    assert result.stats.kept == info.kept - 1
    assert result.stats.details["unannotated"]["unannotated_faces"] >= 1
    assert (tmp_path / "out" / "face_cache").is_dir()


def test_look_alike_is_the_same_for_the_same_seed(tmp_path):
    write_rafdb_sample(tmp_path / "a", faces=3, compound=False)
    write_rafdb_sample(tmp_path / "b", faces=3, compound=False)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert not (tmp_path / "a" / "compound").exists()
