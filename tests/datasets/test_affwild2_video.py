"""Aff-Wild2 videos: odd names get safe folders (recorded), a video that cannot be read skips
that video only, --max-side shrinks the written frames."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import pytest

from tests.support.affwild2 import TruthDetector, copy_release
from tests.support.expw import tree_digest
from yof_darknet.datasets.affwild2 import AffWild2Options, convert_affwild2
from yof_darknet.formats.imagefiles import read_list
from yof_darknet.formats.safenames import list_line_problem, name_problem

ODD_NAMES = ["v$(touch${IFS}Z)", os.fsdecode(b"caf\xe9"), "-rf", "raw images", "x" * 200]


@pytest.fixture(scope="module")
def truth_detector(dataset_fixtures: Path) -> TruthDetector:
    return TruthDetector(dataset_fixtures)


def convert(root, out, detector, **options):
    settings = AffWild2Options(**{"detector": "truth", **options})
    return convert_affwild2(root, out, settings, detector_factory=lambda: detector)


def _copy_as(raw: Path, stem: str) -> None:
    """Video 9001 and its annotation again, under the name ``stem``."""
    shutil.copy(raw / "videos" / "batch1" / "9001.avi", raw / "videos" / "batch1" / f"{stem}.avi")
    validation = raw / "annotations" / "EXPR_Set" / "Validation_Set"
    shutil.copy(validation / "9001.txt", validation / f"{stem}.txt")


def test_odd_video_names_are_converted_into_safe_folders(dataset_fixtures, truth_detector,
                                                         tmp_path):  # fmt: skip
    """Shell syntax, bytes that are not UTF-8 (OpenCV crashed on them), a leading '-', words
    either fork rewrites, 200 characters: each video is converted like 9001, into a folder
    whose name follows the policy, recorded in renamed.tsv."""
    raw = copy_release(dataset_fixtures, tmp_path / "raw")
    for stem in ODD_NAMES:
        _copy_as(raw, stem)
    before = tree_digest(raw)
    out = tmp_path / "out" / "affwild2"
    result = convert(raw, out, truth_detector)
    plain = [it for it in result.items if it.image.parent.name == "9001"]
    for stem in ODD_NAMES:
        rows = (out / "renamed.tsv").read_bytes().split(b"\n")[1:]
        row = next(r for r in rows if r.startswith(os.fsencode(stem) + b"\t"))
        folder = row.split(b"\t")[1].decode()
        assert name_problem(folder) is None
        frames = sorted((it for it in result.items if it.image.parent.name == folder),
                        key=lambda it: it.image.name)  # fmt: skip
        assert [it.image.name for it in frames] == [it.image.name for it in plain]
        for it in frames:
            assert list_line_problem(str(it.image)) is None
            twin = out / "9001" / it.image.name
            assert it.image.with_suffix(".txt").read_text() == twin.with_suffix(".txt").read_text()
    assert result.stats.details["renamed"] == len(ODD_NAMES)
    assert tree_digest(raw) == before
    assert not list(tmp_path.rglob("Z"))


def test_a_video_that_cannot_be_read_skips_that_video_only(dataset_fixtures, truth_detector,
                                                           tmp_path):  # fmt: skip
    raw = copy_release(dataset_fixtures, tmp_path / "raw")
    validation = raw / "annotations" / "EXPR_Set" / "Validation_Set"
    shutil.copy(validation / "9001.txt", validation / "pipe.txt")
    os.mkfifo(raw / "videos" / "batch1" / "pipe.avi")  # OpenCV would wait on it forever
    shutil.copy(validation / "9001.txt", validation / "locked.txt")
    locked = raw / "videos" / "batch1" / "locked.avi"
    shutil.copy(raw / "videos" / "batch1" / "9001.avi", locked)
    locked.chmod(0)
    shutil.copy(validation / "9001.txt", validation / "gone.txt")
    (raw / "videos" / "batch1" / "gone.avi").symlink_to(tmp_path / "nowhere.avi")
    result = convert(raw, tmp_path / "out", truth_detector)
    problems = "\n".join(result.stats.details["problems"])
    assert f"{raw / 'videos' / 'batch1' / 'pipe.avi'}: not a regular file" in problems
    gone = raw / "videos" / "batch1" / "gone.avi"
    assert f"{gone}: cannot open it (No such file or directory)" in problems
    folders = {it.image.parent.name for it in result.items}
    assert {"9001", "9002-25-320x180"} <= folders and "pipe" not in folders
    lines = 20  # 9001.txt's frame lines, each counted once
    assert result.stats.total("unreadable_video") + result.stats.total("label_ignore") >= lines
    if os.geteuid() != 0:  # root opens a chmod-000 file
        assert f"{locked}: cannot open it (Permission denied)" in problems
        assert "locked" not in folders
    locked.chmod(0o644)


def test_max_side_shrinks_the_written_frames(dataset_fixtures, truth_detector, tmp_path):
    raw = copy_release(dataset_fixtures, tmp_path / "raw")
    full = convert(raw, tmp_path / "full", truth_detector)
    small = convert(raw, tmp_path / "small", truth_detector, max_side=160)
    assert [it.image.name for it in small.items] == [it.image.name for it in full.items]
    for big, shrunk in zip(full.items, small.items, strict=True):
        height, width = cv2.imread(str(big.image)).shape[:2]
        got = cv2.imread(str(shrunk.image)).shape[:2]
        assert max(got) == min(160, max(height, width))
        assert (
            shrunk.image.with_suffix(".txt").read_text()
            == big.image.with_suffix(".txt").read_text()
        )  # labels are normalised
    assert AffWild2Options(max_side=160).settings()["max_side"] == 160
    assert "max_side" not in AffWild2Options().settings()  # earlier manifests stay valid


def test_lists_of_a_build_with_odd_videos_are_safe(dataset_fixtures, truth_detector, tmp_path):
    from yof_darknet.datasets.build import DatasetJob, build_datasets

    raw = copy_release(dataset_fixtures, tmp_path / "raw")
    _copy_as(raw, ODD_NAMES[0])

    def job(out_dir, progress=False):
        return convert(raw, out_dir, truth_detector)

    out = tmp_path / "out"
    build_datasets([DatasetJob("affwild2", raw, job)], out, test_per_dataset=5)
    for name in ("train.txt", "test.txt", "test_affwild2.txt"):
        for line in read_list(out / name):
            assert list_line_problem(line) is None, line
