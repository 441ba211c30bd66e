"""Whatever links or files the output folder holds, the raw data and its files stay untouched.

Each case builds a real raw tree, plants links or files in OUT, runs the real stage and compares
the raw tree's hash before and after.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.affwild2 import TruthDetector, copy_release
from tests.support.expw import make_expw, tree_digest
from yof_darknet.cli import main
from yof_darknet.core.errors import DatasetError, YofError
from yof_darknet.core.fileio import OutputError
from yof_darknet.core.owned import LEDGER
from yof_darknet.datasets.affwild2 import AffWild2Options, convert_affwild2
from yof_darknet.datasets.build import DatasetJob, build_datasets, expw_job

ROWS = [f"p{i}.jpg 0 5 5 50 50 {60 + i}.0 {i % 7}" for i in range(6)]


@pytest.fixture
def expw(tmp_path: Path) -> Path:
    return make_expw(tmp_path / "ExpW", ROWS, {f"p{i}.jpg": (64, 64) for i in range(6)})


@pytest.fixture
def affwild2(dataset_fixtures: Path, tmp_path: Path) -> Path:
    return copy_release(dataset_fixtures, tmp_path / "AffWild2")


def affwild2_job(root: Path, fixtures: Path) -> DatasetJob:
    convert = partial(
        convert_affwild2,
        root,
        options=AffWild2Options(detector="truth"),
        detector_factory=lambda: TruthDetector(fixtures),
    )
    return DatasetJob("affwild2", root, convert)


@pytest.mark.parametrize("target", ["image/origin", ".", "label"])
def test_out_expw_linked_into_the_raw_data_is_refused(expw, tmp_path, target):
    out = tmp_path / "out"
    out.mkdir()
    (out / "expw").symlink_to(expw / target)
    before = tree_digest(expw)
    with pytest.raises(DatasetError, match=r"out/expw \(a link to .*\): output folder is inside"):
        build_datasets([expw_job(expw)], out, test_per_dataset=2)
    assert tree_digest(expw) == before
    assert not (out / "obj.data").exists()


@pytest.mark.parametrize("target", [".", "annotations", "videos/batch1"])
def test_out_affwild2_linked_into_the_raw_data_is_refused(
    affwild2, dataset_fixtures, tmp_path, target
):
    assert (affwild2 / target).is_dir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "affwild2").symlink_to(affwild2 / target)
    before = tree_digest(affwild2)
    with pytest.raises(DatasetError, match="output folder is inside the raw data"):
        build_datasets([affwild2_job(affwild2, dataset_fixtures)], out, test_per_dataset=2)
    assert tree_digest(affwild2) == before
    assert not any(affwild2.rglob("manifest.json"))


def test_out_itself_a_link_into_the_raw_data_is_refused(expw, tmp_path):
    (tmp_path / "out").symlink_to(expw / "image")
    before = tree_digest(expw)
    with pytest.raises(DatasetError, match="inside the raw data"):
        build_datasets([expw_job(expw)], tmp_path / "out", test_per_dataset=2)
    assert tree_digest(expw) == before


def test_a_video_folder_linked_into_the_raw_data_is_refused(affwild2, dataset_fixtures, tmp_path):
    out = tmp_path / "out"
    (out / "affwild2").mkdir(parents=True)
    (out / "affwild2" / "9001").symlink_to(affwild2 / "videos" / "batch1")
    before = tree_digest(affwild2)
    with pytest.raises(OutputError, match=r"9001: is a link .* outputs are never written through"):
        build_datasets([affwild2_job(affwild2, dataset_fixtures)], out, test_per_dataset=2)
    assert tree_digest(affwild2) == before


def test_links_and_user_files_inside_out_never_reach_the_raw_data(expw, tmp_path):
    out = tmp_path / "out"
    build_datasets([expw_job(expw)], out, test_per_dataset=2)
    folder = out / "expw"
    raw_image = expw / "image" / "origin" / "p0.jpg"
    label_lst = expw / "label" / "label.lst"
    # a label this run rewrites, now a link to label.lst; a hard link to a raw image where an
    # output image goes; a stale name linking to a raw image; the user's own files
    (folder / "p1.txt").unlink()
    (folder / "p1.txt").symlink_to(label_lst)
    (folder / "p2.jpg").unlink()
    os.link(expw / "image" / "origin" / "p2.jpg", folder / "p2.jpg")
    (folder / "stale.jpg").symlink_to(raw_image)
    (folder / "notes.txt").write_text("mine")
    (folder / "mine.jpg").write_bytes(b"my own picture")
    (out / "train.txt").unlink()
    (out / "train.txt").symlink_to(label_lst)
    before = tree_digest(expw)

    build_datasets([expw_job(expw, min_face_score=62)], out, test_per_dataset=2)  # keeps p3..p5
    assert tree_digest(expw) == before
    assert not (folder / "p1.txt").exists()  # ours and stale now: pruned (the link, not its target)
    assert not (folder / "p2.jpg").exists()
    assert (folder / "stale.jpg").is_symlink()  # not ours: left alone
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "mine.jpg").read_bytes() == b"my own picture"
    assert [Path(p).name for p in (out / "train.txt").read_text().split()] != []
    assert label_lst.read_text().startswith("p0.jpg")


def test_an_owned_name_turned_into_a_link_is_pruned_as_a_link(expw, tmp_path):
    out = tmp_path / "out"
    build_datasets([expw_job(expw, copy=True)], out, test_per_dataset=2)
    raw_image = expw / "image" / "origin" / "p0.jpg"
    (out / "expw" / "p0.jpg").unlink()
    (out / "expw" / "p0.jpg").symlink_to(raw_image)
    before = tree_digest(expw)
    summary = build_datasets([expw_job(expw, min_face_score=61)], out, test_per_dataset=2)
    assert summary.stats["datasets"]["expw"]["details"]["stale_files_removed"] == 4
    assert not (out / "expw" / "p0.jpg").exists()
    assert raw_image.is_file() and tree_digest(expw) == before


def test_a_planted_ledger_owns_nothing(expw, tmp_path):
    out = tmp_path / "out"
    (out / "expw").mkdir(parents=True)
    victim = tmp_path / "elsewhere" / "keep.jpg"
    victim.parent.mkdir()
    victim.write_bytes(b"precious")
    # a ledger naming paths that lead out of the folder, and one that is a link
    (out / "expw" / LEDGER).write_text(f"../../elsewhere/keep.jpg\n{victim}\n..\n")
    build_datasets([expw_job(expw)], out, test_per_dataset=2)
    assert victim.read_bytes() == b"precious"
    (out / "expw" / LEDGER).unlink()
    (out / "expw" / LEDGER).symlink_to(expw / "label" / "label.lst")
    before = tree_digest(expw)
    with pytest.raises(OutputError, match="is a link"):
        build_datasets([expw_job(expw)], out, test_per_dataset=2)
    assert tree_digest(expw) == before


def test_affwild2_outputs_prune_only_owned_frames(affwild2, dataset_fixtures, tmp_path):
    out = tmp_path / "out"
    job = affwild2_job(affwild2, dataset_fixtures)
    build_datasets([job], out, test_per_dataset=2)
    video = out / "affwild2" / "9001"
    (video / "99999.jpg").write_bytes(b"user frame")
    (video / "99999.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (video / "00001.txt").unlink()
    (video / "00001.txt").symlink_to(affwild2 / "videos" / "batch1" / "9001.mp4")
    before = tree_digest(affwild2)
    # the manifest no longer matches (a label is gone): the video is converted again
    build_datasets([job], out, test_per_dataset=2)
    assert tree_digest(affwild2) == before
    assert (video / "99999.jpg").read_bytes() == b"user frame"
    assert (video / "00001.txt").is_file() and not (video / "00001.txt").is_symlink()


def test_cli_says_why_in_one_line(expw, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "expw").symlink_to(expw / "image" / "origin")
    before = tree_digest(expw)
    result = CliRunner().invoke(main, ["datasets", "--expw", str(expw), "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "inside the raw data" in result.output
    assert "Traceback" not in result.output
    assert tree_digest(expw) == before


def test_spaces_in_the_output_path_are_refused_before_anything_is_written(expw, tmp_path):
    out = tmp_path / "my data" / "darknet"
    with pytest.raises(YofError, match=r"whitespace .*deletes every space"):
        build_datasets([expw_job(expw)], out)
    assert not out.exists()


def test_the_sample_is_never_written_through_a_link_into_real_data(expw, tmp_path):
    out = tmp_path / "sample"
    out.mkdir()
    (out / "ExpW").symlink_to(expw)  # `yof-darknet sample` pointed where the real ExpW lives
    before = tree_digest(expw)
    result = CliRunner().invoke(main, ["sample", str(out), "--images", "4"])
    assert result.exit_code == 1 and "ExpW: is a link" in result.output
    assert tree_digest(expw) == before
    (out / "ExpW").unlink()
    (out / "ExpW" / "label").mkdir(parents=True)
    (out / "ExpW" / "image").symlink_to(expw / "image")
    result = CliRunner().invoke(main, ["sample", str(out), "--images", "4"])
    assert result.exit_code == 1 and "image: is a link" in result.output
    assert tree_digest(expw) == before


def test_cfg_out_never_replaces_its_obj_data(expw, tmp_path):
    out = tmp_path / "out"
    build_datasets([expw_job(expw)], out, test_per_dataset=2)
    obj = out / "obj.data"
    before = obj.read_bytes()
    for target in (obj, out / ".yof-lists" / "obj.data"):  # the link, and where it leads
        result = CliRunner().invoke(main, ["cfg", "--data", str(obj), "--out-file", str(target)])
        assert result.exit_code == 1 and "refusing to replace the input" in result.output
        assert obj.is_symlink() and obj.read_bytes() == before


def test_out_linked_to_where_a_link_in_the_raw_folder_leads_is_refused(tmp_path):
    images = tmp_path / "disk2" / "origin"  # the raw images live elsewhere, linked from ExpW
    expw = make_expw(tmp_path / "ExpW", ROWS, {f"p{i}.jpg": (64, 64) for i in range(6)})
    images.parent.mkdir()
    (expw / "image" / "origin").rename(images)
    (expw / "image" / "origin").symlink_to(images)
    out = tmp_path / "out"
    out.mkdir()
    (out / "expw").symlink_to(images)
    before = tree_digest(images)
    with pytest.raises(DatasetError, match=r"overlap; choose another --out"):
        build_datasets([expw_job(expw)], out, test_per_dataset=2)
    assert tree_digest(images) == before


def test_out_linked_to_where_a_linked_video_lives_is_refused(affwild2, dataset_fixtures, tmp_path):
    batch = tmp_path / "disk2" / "batch1"
    batch.mkdir(parents=True)
    for video in (affwild2 / "videos" / "batch1").iterdir():
        video.rename(batch / video.name)
        video.symlink_to(batch / video.name)
    out = tmp_path / "out"
    out.mkdir()
    (out / "affwild2").symlink_to(batch)
    before = tree_digest(batch)
    with pytest.raises(OutputError, match="refusing to write there"):
        build_datasets([affwild2_job(affwild2, dataset_fixtures)], out, test_per_dataset=2)
    assert tree_digest(batch) == before


@pytest.mark.parametrize("name", ["affectnet", "rafdb"])
def test_out_of_a_still_image_dataset_linked_into_its_raw_data_is_refused(tmp_path, name):
    from yof_darknet.datasets.jobs import affectnet_job, rafdb_job
    from yof_darknet.samples.affectnet import write_affectnet_sample
    from yof_darknet.samples.rafdb import write_rafdb_sample

    raw = tmp_path / name
    (write_affectnet_sample if name == "affectnet" else write_rafdb_sample)(raw)
    job = (affectnet_job if name == "affectnet" else rafdb_job)(raw)
    out = tmp_path / "out"
    out.mkdir()
    inner = next(path for path in sorted(raw.rglob("*")) if path.is_dir())
    (out / name).symlink_to(inner)
    before = tree_digest(raw)
    with pytest.raises(DatasetError, match="output folder is inside the raw data"):
        build_datasets([job], out, test_per_dataset=2)
    assert tree_digest(raw) == before
    assert not (out / "obj.data").exists()
