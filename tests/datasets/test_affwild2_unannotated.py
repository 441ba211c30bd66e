"""--unannotated on Aff-Wild2: faces beyond a video's annotated people are counted, masked or
drop their frame; a face of an annotated person whose label is unusable is not one of them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.affwild2 import TruthDetector, copy_release
from yof_darknet.datasets.affwild2 import AffWild2Options, convert_affwild2
from yof_darknet.datasets.unannotated import MASK_MARGIN
from yof_darknet.tools.faces import Face, crop_box

EXTRA = (4.0, 4.0, 22.0, 24.0)  # a small face in the corner of the one-person video's frames


class WithBystander(TruthDetector):
    """The fixture's truth boxes, plus a small extra face in every frame of video 9001 (160 px
    wide): somebody nobody annotated."""

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        faces = super().detect(image_bgr)
        return [*faces, Face(EXTRA, 0.9)] if image_bgr.shape[1] == 160 else faces


@pytest.fixture(scope="module")
def detector(dataset_fixtures: Path) -> WithBystander:
    return WithBystander(dataset_fixtures)


@pytest.fixture(scope="module")
def raw(dataset_fixtures: Path, tmp_path_factory) -> Path:
    return copy_release(dataset_fixtures, tmp_path_factory.mktemp("raw") / "raw")


def _convert(raw, out, detector, mode):
    options = AffWild2Options(detector="truth", unannotated=mode)
    return convert_affwild2(raw, out, options, detector_factory=lambda: detector)


def _frames_9001(result) -> list:
    return [item for item in result.items if item.image.parent.name == "9001"]


def test_report_counts_the_bystander_frames_only(raw, detector, tmp_path):
    keep = _convert(raw, tmp_path / "keep", detector, "keep")
    report = _convert(raw, tmp_path / "report", detector, "report")
    found = report.stats.details["unannotated"]
    frames = len(_frames_9001(keep))
    # every written frame of 9001 has the extra face; 9002's two people (one of them labelled
    # -1 on some frames, still an annotated person) never count
    assert (found["images_with_unannotated"], found["unannotated_faces"]) == (frames, frames)
    assert found["masked_images"] == found["dropped_images"] == 0
    assert sum(row["images_with_unannotated"] for row in found["classes"].values()) >= frames
    assert [it.image.name for it in report.items] == [it.image.name for it in keep.items]
    assert "unannotated" not in keep.stats.details


def test_mask_fills_the_extra_face_and_keeps_the_person(raw, detector, tmp_path):
    keep = _convert(raw, tmp_path / "keep", detector, "keep")
    masked = _convert(raw, tmp_path / "mask", detector, "mask")
    assert masked.stats.details["unannotated"]["masked_images"] == len(_frames_9001(keep))
    left, top, right, bottom = crop_box(EXTRA, (160, 120), MASK_MARGIN)
    for plain, item in zip(_frames_9001(keep), _frames_9001(masked), strict=True):
        before, after = cv2.imread(str(plain.image)), cv2.imread(str(item.image))
        region = after[top:bottom, left:right].astype(float)
        assert region.std(axis=(0, 1)).max() < 4  # one flat colour (after JPEG)
        assert (
            item.image.with_suffix(".txt").read_text()
            == plain.image.with_suffix(".txt").read_text()
        )
        outside = np.ones(before.shape[:2], dtype=bool)
        outside[max(top - 8, 0) : bottom + 8, max(left - 8, 0) : right + 8] = False
        assert np.abs(after.astype(int) - before.astype(int))[outside].max() <= 2


def test_drop_leaves_the_frames_out_and_counts_their_faces(raw, detector, tmp_path):
    keep = _convert(raw, tmp_path / "keep", detector, "keep")
    dropped = _convert(raw, tmp_path / "drop", detector, "drop")
    frames = len(_frames_9001(keep))
    assert _frames_9001(dropped) == []
    assert dropped.stats.total("unannotated_frame") == frames
    assert dropped.stats.read == keep.stats.read
    assert dropped.stats.details["unannotated"]["dropped_images"] == frames
    assert len(dropped.items) == len(keep.items) - frames


def test_keep_leaves_earlier_manifests_valid():
    assert "unannotated" not in AffWild2Options().settings()
    assert AffWild2Options(unannotated="mask").settings()["unannotated"] == "mask"
