"""Reading the test list's labels and `detector valid` results; refusing what Darknet misreads."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.support.darknet import NAMES
from yof_darknet.core.errors import EvaluationError
from yof_darknet.evaluate.inputs import check_test_images, load_ground_truth, read_valid_results
from yof_darknet.formats.labels import label_path


def test_ground_truth_of_the_fixture(valid_images: list[Path]) -> None:
    truth = load_ground_truth(valid_images, 7)
    assert len(truth) == 30 and truth.num_images == 20
    assert list(np.bincount(truth.class_id)) == [4, 5, 4, 4, 5, 4, 4]  # the labels' first fields
    assert truth.box.dtype == np.float32
    assert np.all(np.diff(truth.image) >= 0)


def _copy_dataset(darknet_fixtures: Path, tmp_path: Path) -> tuple[list[Path], Path]:
    dataset = tmp_path / "dataset"
    shutil.copytree(darknet_fixtures / "dataset" / "JPEGImages", dataset / "JPEGImages")
    shutil.copytree(darknet_fixtures / "dataset" / "labels" / "valid", dataset / "labels" / "valid")
    listing = dataset / "valid.txt"
    shutil.copy(darknet_fixtures / "dataset" / "valid.txt", listing)
    return [dataset / line for line in listing.read_text().split()], listing


def test_missing_image_and_label_are_refused_with_the_list(
    darknet_fixtures: Path, tmp_path: Path
) -> None:
    images, listing = _copy_dataset(darknet_fixtures, tmp_path)
    check_test_images(images, listing)
    images[3].unlink()
    label_path(images[7]).unlink()
    with pytest.raises(EvaluationError) as caught:
        check_test_images([*images, images[0].with_name("does_not_exist.jpg")], listing)
    message = str(caught.value)
    assert "3 of 21 test images" in message and "black" in message
    assert f"{listing}:4: image not found: {images[3]}" in message
    assert f"{listing}:8: label not found: {label_path(images[7])}" in message
    assert f"{listing}:21: image not found" in message
    with pytest.raises(EvaluationError, match="empty"):
        check_test_images([], listing)


def test_bad_label_line_names_file_and_line(darknet_fixtures: Path, tmp_path: Path) -> None:
    images, _ = _copy_dataset(darknet_fixtures, tmp_path)
    label = label_path(images[2])
    label.write_text(label.read_text() + "3 0.5 0.5\n")
    with pytest.raises(EvaluationError, match=rf"{label}:\d+: expected 'class cx cy w h'"):
        load_ground_truth(images, 7)
    label.write_text("9 0.5 0.5 0.1 0.1\n")
    with pytest.raises(EvaluationError, match=rf"{label}:1: class 9 is outside 0..6"):
        load_ground_truth(images, 7)


def test_valid_results_boxes_are_converted_back(
    darknet_fixtures: Path, valid_images: list[Path]
) -> None:
    dets = read_valid_results(darknet_fixtures / "debian" / "results_voc", NAMES, valid_images)
    assert len(dets) == 382  # the lines of the 7 files
    assert np.all(np.diff(dets.image) >= 0)
    # first line of comp4_det_test_anger.txt: valid_000 0.017801 70.348801 50.210411 145.239731
    # 94.920418 (1-based pixels of a 160x160 image)
    first = np.nonzero((dets.image == 0) & (dets.class_id == 0))[0][0]
    assert dets.score[first] == np.float32(0.017801)
    x1, x2 = 70.348801 - 1, 145.239731 - 1
    assert dets.box[first, 0] == pytest.approx((x1 + x2) / 2 / 160, abs=1e-6)
    assert dets.box[first, 2] == pytest.approx((x2 - x1) / 160, abs=1e-6)


def test_bad_valid_results_are_refused(
    darknet_fixtures: Path, valid_images: list[Path], tmp_path: Path
) -> None:
    folder = tmp_path / "results"
    shutil.copytree(darknet_fixtures / "debian" / "results_voc", folder)
    (folder / "comp4_det_test_fear.txt").unlink()
    with pytest.raises(EvaluationError, match=r"comp4_det_test_fear\.txt: result file not found"):
        read_valid_results(folder, NAMES, valid_images)
    shutil.copy(darknet_fixtures / "debian" / "results_voc" / "comp4_det_test_fear.txt", folder)
    with (folder / "comp4_det_test_anger.txt").open("a") as handle:
        handle.write("other_image 0.5 1 1 10 10\n")
    with pytest.raises(EvaluationError, match=r"comp4_det_test_anger.txt:53: not in the test list"):
        read_valid_results(folder, NAMES, valid_images)
