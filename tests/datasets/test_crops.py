from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from tests.support.classifier import make_split_dataset
from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.crops import matching_labels, write_crops
from yof_darknet.formats.labels import label_path, read_labels


@pytest.fixture
def split_data(tmp_path: Path) -> Path:
    return make_split_dataset(tmp_path / "fear-study" / "set")  # a class name in the folder


def test_every_face_becomes_one_crop_in_its_class_folder_with_the_detectors_split(
    split_data, tmp_path
):
    out = tmp_path / "fear-study" / "crops"
    summary = write_crops(split_data, out, margin=0.25, size=48, progress=False)
    labels = (out / "labels.txt").read_text().splitlines()
    record = json.loads((out / "crops.json").read_text())
    assert summary.crops == {"train": 14, "test": 7}
    for split, listed_file in (("train", "train.txt"), ("test", "test.txt")):
        listed = (out / f"{split}.list").read_text().splitlines()
        sources = (split_data.parent / listed_file).read_text().splitlines()
        assert [o["image"] for o in record[split]] == sources  # one face per image here
        for path, origin in zip(listed, record[split], strict=True):
            (truth,) = read_labels(label_path(Path(origin["image"])))
            # what darknet's fill_truth sees: the relative path, exactly one class name in it
            assert matching_labels(path, labels) == [labels[truth.class_id]]
            assert cv2.imread(str(out / path)).shape == (48, 48, 3)
    train_images = {o["image"] for o in record["train"]}
    assert not train_images & {o["image"] for o in record["test"]}


def test_a_test_image_in_the_training_list_is_refused(tiny_data, tmp_path):
    # tiny_data's test images are also in its train list
    with pytest.raises(DatasetError, match="in both the train and the test list"):
        write_crops(tiny_data, tmp_path / "crops", progress=False)
    assert not (tmp_path / "crops").exists()


def test_class_names_that_contain_each_other_are_refused(split_data, tmp_path):
    names = split_data.parent / "obj.names"
    names.write_text(names.read_text().replace("anger", "fearful"))  # contains "fear"
    with pytest.raises(DatasetError, match="'fearful' contains 'fear'"):
        write_crops(split_data, tmp_path / "crops", progress=False)


def test_class_names_a_shell_would_interpret_are_refused(split_data, tmp_path):
    """A class name is a folder in every path of the classifier's lists, which darknet hands to
    its shell for an image it cannot load."""
    names = split_data.parent / "obj.names"
    names.write_text(names.read_text().replace("anger", "$(id)"))
    with pytest.raises(DatasetError, match=r"class name '\$\(id\)' holds '\$', '\(', '\)'"):
        write_crops(split_data, tmp_path / "crops", progress=False)
    assert not (tmp_path / "crops").exists()
