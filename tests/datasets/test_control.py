"""The permuted-label control of a converted dataset, on a real split dataset on disk."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from tests.support.classifier import make_split_dataset
from yof_darknet.core.errors import DatasetError
from yof_darknet.core.fileio import sha256_file
from yof_darknet.datasets.control import VAL_FOLDER, write_control
from yof_darknet.formats.objdata import read_obj_data, validation_list


def _dataset(root: Path) -> Path:
    """21 images (14 train, 7 test); every other training image gets a second face, and one
    training image is listed twice (as ``--balance oversample`` lists it)."""
    obj = make_split_dataset(root / "set")
    train = (root / "set" / "train.txt").read_text().splitlines()
    for index, image in enumerate(train[::2]):
        label = Path(image).with_suffix(".txt")
        label.write_text(label.read_text() + f"{(index + 3) % 7} 0.250000 0.250000 0.100000 0.1\n")
    (root / "set" / "train.txt").write_text("".join(f"{p}\n" for p in [*train, train[0]]))
    return obj


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p): sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}


def _labels(image: Path) -> list[list[str]]:
    return [line.split() for line in image.with_suffix(".txt").read_text().splitlines()]


def test_the_control_permutes_the_training_labels_and_keeps_the_true_test_list(tmp_path):
    obj = _dataset(tmp_path)
    before = _hashes(tmp_path / "set")
    summary = write_control(obj, tmp_path / "set-control", seed=3)
    assert _hashes(tmp_path / "set") == before  # the dataset itself is never written

    true, control = read_obj_data(obj), read_obj_data(summary.obj_data)
    assert control.valid == true.valid  # scored on the true test list
    assert control.read_names() == true.read_names()
    listed = true.read_list("train")
    copied = control.read_list("train")
    assert [p.name for p in copied] == [p.name for p in listed]  # repeats kept, in order
    assert len(copied) == 15 and summary.images == 14

    true_faces, control_faces = [], []
    for original, image in zip(listed[:-1], copied[:-1], strict=True):
        assert image.parent == tmp_path / "set-control"
        assert os.path.realpath(image) == os.path.realpath(original)
        before_rows, after_rows = _labels(original), _labels(image)
        assert [r[1:] for r in before_rows] == [r[1:] for r in after_rows]  # same boxes
        true_faces += [r[0] for r in before_rows]
        control_faces += [r[0] for r in after_rows]
    assert summary.faces == len(true_faces) == 21
    assert Counter(control_faces) == Counter(true_faces)  # a permutation: counts per class kept
    moved = sum(a != b for a, b in zip(true_faces, control_faces, strict=True))
    assert moved == summary.moved and moved >= 10

    record = json.loads((tmp_path / "set-control" / "control.json").read_text())
    assert record["seed"] == 3 and record["faces_moved_class"] == moved
    assert sum(record["faces_per_class"].values()) == 21

    labels = {p: p.with_suffix(".txt").read_text() for p in copied}
    write_control(obj, tmp_path / "set-control", seed=3)  # a re-run writes the same
    assert {p: p.with_suffix(".txt").read_text() for p in copied} == labels
    other = write_control(obj, tmp_path / "seed4", seed=4)
    seed4 = [_labels(p)[0][0] for p in read_obj_data(other.obj_data).read_list("train")]
    assert seed4 != [_labels(p)[0][0] for p in copied]


def test_the_control_is_written_outside_the_dataset(tmp_path):
    obj = _dataset(tmp_path)
    with pytest.raises(DatasetError, match="must lie outside the dataset"):
        write_control(obj, tmp_path / "set" / "control")


def test_a_bad_label_line_is_named_with_its_file_and_line(tmp_path):
    obj = _dataset(tmp_path)
    first = Path(read_obj_data(obj).read_list("train")[1]).with_suffix(".txt")
    first.write_text(first.read_text() + "9 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError, match=rf"{first}:2: expected 'class cx cy w h'"):
        write_control(obj, tmp_path / "control")


def test_the_control_has_a_validation_list_of_its_own_labels_permuted(tmp_path):
    """Where the dataset has a validation list (val=), the control gets one too: the same
    images and boxes, labels permuted across the validation faces, so that it chooses its
    weights on labels like the ones it was trained on, never on the true ones."""
    obj = make_split_dataset(tmp_path / "set", count=35)
    train = (tmp_path / "set" / "train.txt").read_text().splitlines()
    val = tmp_path / "set" / "val.txt"  # replaces make_dataset's (which overlaps training)
    val.write_text("".join(f"{p}\n" for p in train[-14:]))
    (tmp_path / "set" / "train.txt").write_text("".join(f"{p}\n" for p in train[:-14]))
    before = _hashes(tmp_path / "set")
    summary = write_control(obj, tmp_path / "control", seed=3)
    assert _hashes(tmp_path / "set") == before

    control = read_obj_data(summary.obj_data)
    assert validation_list(control) == tmp_path / "control" / "val.txt"
    copied = [Path(p) for p in (tmp_path / "control" / "val.txt").read_text().splitlines()]
    assert [p.name for p in copied] == [Path(p).name for p in train[-14:]]
    true_faces, control_faces = [], []
    for original, image in zip(map(Path, train[-14:]), copied, strict=True):
        assert image.parent == tmp_path / "control" / VAL_FOLDER
        assert os.path.realpath(image) == os.path.realpath(original)
        before_rows, after_rows = _labels(original), _labels(image)
        assert [r[1:] for r in before_rows] == [r[1:] for r in after_rows]  # same boxes
        true_faces += [r[0] for r in before_rows]
        control_faces += [r[0] for r in after_rows]
    assert Counter(control_faces) == Counter(true_faces)
    assert control_faces != true_faces
    assert summary.images == 14  # the training images only
    record = json.loads((tmp_path / "control" / "control.json").read_text())
    assert record["validation_list"] == str(val)
    # the test list is still the true one, and no training image is in the validation list
    assert control.valid == read_obj_data(obj).valid
    assert not set(copied) & set(control.read_list("train"))
