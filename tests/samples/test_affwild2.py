"""The embedded Aff-Wild2 sample, converted with the real RetinaFace."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from tests.support.boxes import iou_xyxy
from yof_darknet.core.expressions import AFFWILD2_TO_CLASS
from yof_darknet.datasets.affwild2 import AffWild2Options, convert_affwild2
from yof_darknet.samples.affwild2 import ASSETS, HEADER, VIDEOS, sample_truth
from yof_darknet.samples.affwild2 import write_affwild2_sample as write_sample

STEMS = ("101-30-240x180", "102-25-320x180")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "AffWild2"
    write_sample(out)
    return out


@pytest.fixture(scope="module")
def converted(sample: Path, tmp_path_factory):
    out = tmp_path_factory.mktemp("darknet") / "affwild2"
    return out, convert_affwild2(sample, out, AffWild2Options())


def test_sample_has_the_abaw2020_layout(sample):
    files = sorted(p.relative_to(sample).as_posix() for p in sample.rglob("*") if p.is_file())
    assert files == [
        "SOURCES.md",
        "annotations/EXPR_Set/Training_Set/101-30-240x180.txt",
        "annotations/EXPR_Set/Validation_Set/102-25-320x180_left.txt",
        "annotations/EXPR_Set/Validation_Set/102-25-320x180_right.txt",
        "videos/batch1/101-30-240x180.avi",
        "videos/batch2/102-25-320x180.mp4",
    ]
    for path in (sample / "annotations").rglob("*.txt"):
        lines = path.read_text().splitlines()
        assert lines[0] == HEADER
        assert "-1" in lines[1:]
    for video in VIDEOS:
        path = sample / "videos" / video.batch / f"{video.stem}{video.suffix}"
        capture = cv2.VideoCapture(str(path))
        frames = 0
        while capture.read()[0]:
            frames += 1
        assert frames == video.frames
        width, height = video.size
        assert video.stem.endswith(f"-{video.fps}-{width}x{height}")
        assert capture.get(cv2.CAP_PROP_FRAME_WIDTH) == width
    right = sample / "annotations/EXPR_Set/Validation_Set/102-25-320x180_right.txt"
    assert len(right.read_text().splitlines()) - 1 == 20 + 1  # the off-by-one of the real data
    assert "public domain" in (sample / "SOURCES.md").read_text()


def test_sample_is_deterministic(sample, tmp_path):
    write_sample(tmp_path / "again")
    for path in sample.rglob("*"):
        if path.is_file():
            assert (tmp_path / "again" / path.relative_to(sample)).read_bytes() == path.read_bytes()


def test_shipped_photos_are_small_and_documented():
    for name in ("eileen_collins.jpg", "grace_hopper.jpg"):
        assert (ASSETS / name).stat().st_size < 60_000
        assert name in (ASSETS / "SOURCES.md").read_text()


def test_retinaface_finds_every_labelled_face_where_the_photo_was_placed(converted):
    _, result = converted
    truth = sample_truth()
    written = {(item.image.parent.name, item.image.name): item for item in result.items}
    expected_frames = 0
    for video in VIDEOS:
        width, height = video.size
        for frame in range(video.frames):
            people = [
                (person.side, AFFWILD2_TO_CLASS[person.labels[frame]])
                for person in video.persons
                if person.labels[frame] != -1
            ]
            key = (video.stem, f"{frame + 1:05d}.jpg")
            if not people:
                assert key not in written
                continue
            expected_frames += 1
            item = written[key]
            lines = item.image.with_suffix(".txt").read_text().splitlines()
            assert len(lines) == len(people), key
            for (side, class_id), line in zip(people, lines, strict=True):
                fields = line.split()
                assert int(fields[0]) == class_id, (key, side)
                cx, cy, w, h = (float(v) for v in fields[1:])
                box = ((cx - w / 2) * width, (cy - h / 2) * height,
                       (cx + w / 2) * width, (cy + h / 2) * height)  # fmt: skip
                assert iou_xyxy(box, truth[video.stem][side][frame]) >= 0.7, (key, side)
            assert list(item.classes) == [class_id for _, class_id in people]
    assert len(result.items) == expected_frames
    assert result.stats.skipped() == {"label_ignore": 4 + 3 + 7, "no_frame": 1}
    assert result.stats.details["frame_count_differences"] == {"102-25-320x180_right.txt": 1}


def test_left_and_right_are_the_right_people(converted):
    out, _ = converted
    video = out / "102-25-320x180"
    # Frames 4-6: Collins (left, happiness) and Hopper (right, neutral) are both labelled.
    for frame in (4, 5, 6):
        lines = (video / f"{frame:05d}.txt").read_text().splitlines()
        classes = [int(line.split()[0]) for line in lines]
        centres = [float(line.split()[1]) for line in lines]
        assert classes == [AFFWILD2_TO_CLASS[4], AFFWILD2_TO_CLASS[0]]
        assert centres[0] < 0.5 < centres[1]
    # Frames 17-20: Hopper has left; Collins alone keeps the left label.
    for frame in (17, 18, 19, 20):
        (line,) = (video / f"{frame:05d}.txt").read_text().splitlines()
        assert line.startswith(f"{AFFWILD2_TO_CLASS[4]} ")


def test_datasets_command_converts_shards_and_merges(sample, tmp_path):
    from click.testing import CliRunner

    from yof_darknet.cli import main

    def run(out: Path, *extra: str, code: int = 0, env: dict[str, str] | None = None) -> str:
        args = ["datasets", "--affwild2", str(sample), "--out", str(out), *extra]
        result = CliRunner().invoke(main, [*args, "--test-per-dataset", "6"], env=env)
        assert result.exit_code == code, result.output
        return result.output

    plain = tmp_path / "plain"
    output = run(plain)
    assert "affwild2: 65 faces read, 50 kept in 40 images" in output
    assert len((plain / "test_affwild2.txt").read_text().splitlines()) == 6
    stats = json.loads((plain / "stats.json").read_text())["datasets"]["affwild2"]
    assert stats["details"]["frames_labelled"] == 40
    assert stats["details"]["faces_per_frame"] == {"1": 24, "2": 16}
    assert stats["faces"]["skipped"] == {"label_ignore": 14, "no_frame": 1}

    sharded = tmp_path / "sharded"
    assert "command with --merge instead of --shard" in run(sharded, "--shard", "0/2")
    assert not (sharded / "train.txt").exists()
    assert "shard 1/2: no record" in run(sharded, "--merge", code=1)
    assert not (sharded / "train.txt").exists()
    array_task = {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "0",
                  "SLURM_ARRAY_TASK_MAX": "1", "SLURM_CPUS_PER_TASK": "1"}  # fmt: skip
    assert "--shard auto: shard 1/2" in run(sharded, "--shard", "auto", env=array_task)
    output = run(sharded, "--merge")
    assert "2/2 shards finished: 2 videos, 40 frames labelled" in output
    assert "2 videos (2 resumed)" in output
    assert len((plain / "val_affwild2.txt").read_text().splitlines()) == 3  # 10 % of 34 frames
    for name in ("train.txt", "test.txt", "test_affwild2.txt", "val.txt", "val_affwild2.txt"):
        lists = [
            (folder / name).read_text().replace(str(folder), "OUT") for folder in (plain, sharded)
        ]
        assert lists[0] == lists[1]
    datas = [
        (folder / "obj.data").read_text().replace(str(folder), "OUT") for folder in (plain, sharded)
    ]
    assert datas[0] == datas[1] and "val = OUT/val.txt" in datas[0]


def test_merge_converts_the_missing_shards_only_when_asked(sample, tmp_path):
    from click.testing import CliRunner

    from yof_darknet.cli import main

    out = tmp_path / "out"
    args = ["datasets", "--affwild2", str(sample), "--out", str(out), "--test-per-dataset", "2"]
    quick = ["--max-frames-per-video", "4"]
    assert CliRunner().invoke(main, [*args, *quick, "--shard", "1/2"]).exit_code == 0
    refused = CliRunner().invoke(main, [*args, *quick, "--merge"])
    assert refused.exit_code == 1 and "1 of 2 shards" in refused.output
    result = CliRunner().invoke(main, [*args, *quick, "--merge", "--convert-missing"])
    assert result.exit_code == 0, result.output
    assert "--convert-missing: converting shard(s) [0] in this job" in result.output
    assert "2 videos (1 resumed)" in result.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["options"]["shards"] == {"count": 2, "finished": 1, "converted_here": [0]}
    assert stats["datasets"]["affwild2"]["details"]["frames_labelled"] == 8
