from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import pytest

from tests.support.affwild2 import (
    Interrupted,
    InterruptingDetector,
    TruthDetector,
    assert_same_conversion,
    copy_release,
    truth_boxes,
)
from yof_darknet.core.errors import DatasetError
from yof_darknet.core.expressions import AFFWILD2_TO_CLASS
from yof_darknet.core.owned import LEDGER
from yof_darknet.datasets.affwild2 import AffWild2Options, convert_affwild2, parse_shard
from yof_darknet.datasets.affwild2_files import (
    Annotation,
    collect_jobs,
    parse_annotation,
    read_videos_list,
)
from yof_darknet.datasets.affwild2_video import MANIFEST, assign_faces, folder_name
from yof_darknet.datasets.stats import KEPT, NO_CLASS
from yof_darknet.formats.labels import check_label_path, label_line
from yof_darknet.tools.faces import Face

HEADER = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise"
LABELS_9001 = [0, 0, 0, 4, 4, 4, 4, 4, -1, -1, -1, 5, 5, 5, 1, 1, 2, 3, 6, 6]
LABELS_LEFT = [-1, -1] + [4] * 10 + [0] * 6 + [5] * 6
LABELS_RIGHT = [0] * 6 + [1] * 6 + [3] * 6 + [-1] * 7
OPTIONS = AffWild2Options(detector="truth")


@pytest.fixture(scope="module")
def truth_detector(dataset_fixtures: Path) -> TruthDetector:
    return TruthDetector(dataset_fixtures)


@pytest.fixture
def raw(dataset_fixtures: Path, tmp_path: Path) -> Path:
    return copy_release(dataset_fixtures, tmp_path / "raw")


def convert(root, out, detector, **options):
    settings = AffWild2Options(**{"detector": "truth", **options})
    return convert_affwild2(root, out, settings, detector_factory=lambda: detector)


def expected_labels(dataset_fixtures: Path) -> dict[str, str]:
    """Image path relative to OUT/affwild2 → label file text, from truth.json and the labels."""
    boxes = truth_boxes(dataset_fixtures)
    expected: dict[str, str] = {}
    for index, label in enumerate(LABELS_9001):
        if label != -1:
            line = label_line(AFFWILD2_TO_CLASS[label], boxes["9001"][index]["main"], (160, 120))
            expected[f"9001/{index + 1:05d}.jpg"] = line + "\n"
    for index in range(24):
        lines = [
            label_line(AFFWILD2_TO_CLASS[labels[index]], boxes["9002-25-320x180"][index][side],
                       (320, 180))
            for side, labels in (("left", LABELS_LEFT), ("right", LABELS_RIGHT))
            if labels[index] != -1
        ]  # fmt: skip
        if lines:
            expected[f"9002-25-320x180/{index + 1:05d}.jpg"] = "".join(f"{x}\n" for x in lines)
    return expected


def written_labels(out: Path, items) -> dict[str, str]:
    return {
        str(item.image.relative_to(out)): item.image.with_suffix(".txt").read_text()
        for item in items
    }


def test_abaw2020_fixture_converts_to_the_truth(dataset_fixtures, truth_detector, tmp_path):
    out = tmp_path / "out" / "affwild2"
    result = convert(dataset_fixtures / "Aff-Wild2", out, truth_detector)
    assert written_labels(out, result.items) == expected_labels(dataset_fixtures)
    assert {item.dataset for item in result.items} == {"affwild2"}
    assert all(item.group == str(item.image) for item in result.items)
    assert all(item.image.is_file() and item.image.read_bytes()[:2] == b"\xff\xd8"
               for item in result.items)  # fmt: skip
    stats = result.stats
    assert stats.kept == 17 + 22 + 18
    assert stats.skipped() == {"label_ignore": 3 + 2 + 7}
    assert stats.read == stats.kept + 12
    assert stats.counts[KEPT][AFFWILD2_TO_CLASS[4]] == 5 + 10  # happiness: 9001 + left
    details = stats.details
    assert details["frames_read"] == 20 + 24
    assert details["frames_labelled"] == len(result.items) == 17 + 24 - 0
    assert details["faces_per_frame"] == {"1": 17 + 6, "2": 18}
    assert details["frame_count_differences"] == {"9002-25-320x180_right.txt": 1}
    assert any("9002-25-320x180_right.txt: 25 frame lines" in p for p in details["problems"])
    assert (out / "9001" / MANIFEST).is_file()
    assert not [p for p in out.rglob(".*") if p.name != LEDGER]  # no temporary file left


def test_abaw3_layout_skips_other(dataset_fixtures, truth_detector, tmp_path):
    raw = copy_release(dataset_fixtures, tmp_path / "raw", "Aff-Wild2-ABAW3plus")
    assert (raw / "annotations" / "EXPR_Classification_Challenge" / "Train_Set").is_dir()
    result = convert(raw, tmp_path / "out", truth_detector)
    assert result.stats.total("label_other") == 2
    assert result.stats.details["frame_count_differences"] == {}
    assert result.stats.details["frames_read"] == 44
    assert len(result.items) == 41 - 2


@pytest.mark.parametrize(
    ("folder", "train"),
    [
        ("annotations/EXPR_Set", "Train_Set"),
        ("Third ABAW Annotations/EXPR_Classification_Challenge", "Train_Set"),
        ("6th ABAW Annotations/EXPR_Recognition_Challenge", "Train_Set"),
    ],
)
def test_every_release_layout_is_found(raw, truth_detector, tmp_path, folder, train):
    expr = raw / "annotations" / "EXPR_Set"
    (expr / "Training_Set").rename(expr / train)
    (raw / folder).parent.mkdir(parents=True, exist_ok=True)
    if folder != "annotations/EXPR_Set":
        expr.rename(raw / folder)
    (raw / "annotations" / "VA_Set" / "Train_Set").mkdir(parents=True)
    (raw / "annotations" / "VA_Set" / "Train_Set" / "9001.txt").write_text("valence,arousal\n")
    jobs, problems = collect_jobs(raw)
    assert problems == []
    assert [(job.stem, sorted(job.persons)) for job in jobs] == [
        ("9001", ["main"]),
        ("9002-25-320x180", ["left", "right"]),
    ]
    assert len(convert(raw, tmp_path / "out", truth_detector).items) == 41


def test_videos_in_any_batch_folder_and_container(raw, truth_detector, tmp_path):
    (raw / "videos" / "batch3" / "deep").mkdir(parents=True)
    shutil.move(raw / "videos" / "batch1" / "9001.avi", raw / "videos" / "batch3" / "deep")
    shutil.copy(raw / "videos" / "batch2" / "9002-25-320x180.mp4", raw / "9002-25-320x180.avi")
    jobs, problems = collect_jobs(raw)
    assert {job.stem: job.video.relative_to(raw).as_posix() for job in jobs} == {
        "9001": "videos/batch3/deep/9001.avi",
        "9002-25-320x180": "videos/batch2/9002-25-320x180.mp4",
    }
    assert [p.reason for p in problems] == ["duplicate_video"]
    assert {side for job in jobs for side in job.persons} == {"main", "left", "right"}


def test_unsuffixed_file_is_the_other_side(raw, truth_detector, tmp_path, dataset_fixtures):
    training = raw / "annotations" / "EXPR_Set" / "Training_Set"
    (training / "9002-25-320x180_right.txt").rename(training / "9002-25-320x180.txt")
    out = tmp_path / "out"
    result = convert(raw, out, truth_detector)
    assert written_labels(out, result.items) == expected_labels(dataset_fixtures)


def test_left_and_right_follow_the_boxes_not_the_detector_order(raw, dataset_fixtures, tmp_path):
    class Reversed(TruthDetector):
        def detect(self, image_bgr):
            return super().detect(image_bgr)[::-1]

    out = tmp_path / "out"
    result = convert(raw, out, Reversed(dataset_fixtures))
    assert written_labels(out, result.items) == expected_labels(dataset_fixtures)


def test_drop_crowded_frames(raw, truth_detector, tmp_path):
    # Frames 1-2 of 9002 have two faces but only the right person is labelled.
    result = convert(raw, tmp_path / "out", truth_detector, drop_crowded_frames=True)
    assert result.stats.total("crowded") == 2
    names = {item.image.relative_to(tmp_path / "out").as_posix() for item in result.items}
    assert "9002-25-320x180/00001.jpg" not in names
    assert "9002-25-320x180/00003.jpg" in names


def test_frame_stride_and_max_frames(raw, truth_detector, tmp_path):
    result = convert(raw, tmp_path / "a", truth_detector, frame_stride=3)
    names = sorted(item.image.name for item in result.items if item.image.parent.name == "9001")
    assert names == [f"{k:05d}.jpg" for k in (1, 4, 7, 13, 16, 19)]
    assert result.stats.details["frames_read"] == 7 + 8
    result = convert(raw, tmp_path / "b", truth_detector, max_frames_per_video=5)
    per_video = {}
    for item in result.items:
        per_video.setdefault(item.image.parent.name, []).append(item.image.name)
    assert per_video["9001"] == [f"{k:05d}.jpg" for k in range(1, 6)]
    assert len(per_video["9002-25-320x180"]) == 5


def test_videos_list_restricts_the_run(raw, truth_detector, tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text("# the paper's videos\n9002-25-320x180_left\n\nnot-there.mp4\n")
    assert read_videos_list(listing) == {"9002-25-320x180", "not-there"}
    result = convert(raw, tmp_path / "out", truth_detector, videos_list=listing)
    assert {item.image.parent.name for item in result.items} == {"9002-25-320x180"}
    assert result.stats.details["problems_by_reason"] == {"not_annotated": 1}
    listing.write_text("# nothing\n")
    with pytest.raises(DatasetError, match="names no video"):
        convert(raw, tmp_path / "out", truth_detector, videos_list=listing)


def test_split_by_videos_groups_frames_by_video(dataset_fixtures, truth_detector, tmp_path):
    result = convert(dataset_fixtures / "Aff-Wild2", tmp_path / "o", truth_detector,
                     split_by="videos")  # fmt: skip
    assert {item.group for item in result.items} == {"affwild2:9001", "affwild2:9002-25-320x180"}


def test_bad_inputs_are_counted_reported_and_skipped(raw, truth_detector, tmp_path):
    validation = raw / "annotations" / "EXPR_Set" / "Validation_Set"
    (validation / "lost-30-640x480.txt").write_text(HEADER + "\n4\n4\n-1\n")
    shutil.copy(raw / "videos" / "batch1" / "9001.avi", raw / "videos" / "batch1" / "cut.avi")
    data = (raw / "videos" / "batch1" / "cut.avi").read_bytes()
    (raw / "videos" / "batch1" / "cut.avi").write_bytes(data[:2000])
    (validation / "cut.txt").write_text(HEADER + "\n" + "3\n" * 20)
    (validation / "empty.txt").write_text("")
    (validation / "header.txt").write_text(HEADER + "\n")
    lines = [HEADER, *map(str, LABELS_9001)]
    lines[5], lines[7] = "happy", "9"
    (validation / "9001.txt").write_text("\n".join(lines) + "\n")
    result = convert(raw, tmp_path / "out", truth_detector)
    stats = result.stats
    assert stats.skipped() == {
        "unreadable_video": 20,
        "label_ignore": 12 + 1,
        "missing_video": 2,
        "bad_label": 1,
        "bad_line": 1,
    }
    assert stats.counts["missing_video"][AFFWILD2_TO_CLASS[4]] == 2
    assert stats.counts["bad_line"][NO_CLASS] == 1
    assert stats.kept == 57 - 2
    assert stats.details["problems_by_reason"] == {
        "bad_label": 1,
        "bad_line": 1,
        "empty_annotation": 1,
        "header_only": 1,
        "missing_video": 1,
        "unreadable_video": 1,
    }
    problems = "\n".join(stats.details["problems"])
    assert f"{validation / '9001.txt'}:6: 'happy' is not an integer" in problems
    assert f"{validation / '9001.txt'}:8: label 9 is not in -1..7" in problems
    assert f"{validation / 'empty.txt'}: empty annotation" in problems
    assert f"{validation / 'header.txt'}:1: header but no frame lines" in problems
    assert "no video named lost-30-640x480" in problems
    assert "cut.avi: OpenCV decodes no frame" in problems
    assert not (tmp_path / "out" / "cut" / MANIFEST).exists()


def test_no_annotations_at_all_is_an_error(tmp_path):
    (tmp_path / "videos").mkdir()
    with pytest.raises(DatasetError, match="no EXPR annotations found"):
        convert_affwild2(tmp_path, tmp_path / "out", OPTIONS)


def test_interrupted_run_resumes_to_the_same_result(raw, truth_detector, dataset_fixtures,
                                                    tmp_path):  # fmt: skip
    plain_out = tmp_path / "plain" / "affwild2"
    plain = convert(raw, plain_out, TruthDetector(dataset_fixtures))
    out = tmp_path / "resumed" / "affwild2"
    for after in (7, 30):  # inside the first video, then inside the second
        with pytest.raises(Interrupted):
            convert(raw, out, InterruptingDetector(TruthDetector(dataset_fixtures), after))
        assert not [p for p in out.rglob("*") if p.name.startswith(".") and p.name != LEDGER]
    assert (out / "9001" / MANIFEST).is_file()
    assert not (out / "9002-25-320x180" / MANIFEST).exists()
    rerun_detector = TruthDetector(dataset_fixtures)
    resumed = convert(raw, out, rerun_detector)
    assert rerun_detector.calls == 24  # only the unfinished video is decoded again
    assert resumed.stats.details["videos_resumed"] == 1
    assert_same_conversion(resumed, out, plain, plain_out)
    again = TruthDetector(dataset_fixtures)
    convert(raw, out, again)
    assert again.calls == 0


def test_changed_settings_redo_a_video(raw, dataset_fixtures, tmp_path):
    out = tmp_path / "out"
    convert(raw, out, TruthDetector(dataset_fixtures), frame_stride=2)
    assert (out / "9001" / "00003.jpg").exists()
    detector = TruthDetector(dataset_fixtures)
    result = convert(raw, out, detector, frame_stride=3)
    assert detector.calls > 0
    assert not (out / "9001" / "00003.jpg").exists()
    assert len(result.items) == len(list(out.rglob("*.jpg")))


def test_a_video_whose_frames_were_removed_is_redone(raw, dataset_fixtures, tmp_path):
    out = tmp_path / "out"
    first = convert(raw, out, TruthDetector(dataset_fixtures))
    (out / "9001" / "00005.txt").unlink()
    detector = TruthDetector(dataset_fixtures)
    again = convert(raw, out, detector)
    assert detector.calls == 17
    assert again.stats.details["videos_resumed"] == 1
    assert (out / "9001" / "00005.txt").is_file()
    assert again.stats.counts == first.stats.counts


def test_shards_then_merge_equal_a_plain_run(raw, dataset_fixtures, tmp_path):
    plain_out = tmp_path / "plain"
    plain = convert(raw, plain_out, TruthDetector(dataset_fixtures))
    out = tmp_path / "sharded"
    first = convert(raw, out, TruthDetector(dataset_fixtures), shard=(0, 2))
    second = convert(raw, out, TruthDetector(dataset_fixtures), shard=(1, 2))
    assert {i.image.parent.name for i in first.items} == {"9001"}
    assert {i.image.parent.name for i in second.items} == {"9002-25-320x180"}
    merger = TruthDetector(dataset_fixtures)
    merged = convert(raw, out, merger)
    assert merger.calls == 0
    assert merged.stats.details["videos_resumed"] == 2
    assert_same_conversion(merged, out, plain, plain_out)


def test_workers_give_the_same_result(raw, dataset_fixtures, tmp_path):
    plain = convert(raw, tmp_path / "one", TruthDetector(dataset_fixtures))
    options = AffWild2Options(detector="truth", workers=2)
    factory = partial(TruthDetector, dataset_fixtures)
    parallel = convert_affwild2(raw, tmp_path / "two", options, detector_factory=factory)
    assert_same_conversion(parallel, tmp_path / "two", plain, tmp_path / "one")


def face(x1: float, x2: float) -> Face:
    return Face((x1, 10.0, x2, 10.0 + (x2 - x1)), 0.9)


def test_assign_faces_rules():
    small, big, right = face(10, 30), face(40, 100), face(200, 250)
    assert assign_faces([small, big], {"main": 3}, 300, False) == ({"main": big}, {})
    assert assign_faces([small, big], {"main": 3}, 300, True) == ({}, {"main": "crowded"})
    assert assign_faces([], {"main": 3}, 300, False) == ({}, {"main": "no_face"})
    both = {"left": 1, "right": 2}
    assert assign_faces([right, big], both, 300, False) == ({"left": big, "right": right}, {})
    # Two largest of three, then by centre x; with drop_crowded the frame goes.
    assert assign_faces([right, small, big], both, 300, False) == (
        {"left": big, "right": right},
        {},
    )
    assert assign_faces([right, small, big], both, 300, True)[1] == dict.fromkeys(both, "crowded")
    # One face: to the side whose half holds its centre.
    assert assign_faces([right], both, 300, False) == ({"right": right}, {"left": "unassigned"})
    assert assign_faces([big], {"right": 2}, 300, False) == ({}, {"right": "unassigned"})
    assert assign_faces([big, right], {"right": 2}, 300, False) == ({"right": right}, {})


def test_parse_annotation_edge_cases(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(HEADER + ",Other, \n1\n7\n-1\n\n\n")
    annotation, problems = parse_annotation(path, "main")
    assert annotation.labels == (1, 7, -1) and problems == []
    path.write_text("\n\n")
    assert parse_annotation(path, "main")[1][0].reason == "empty_annotation"
    path.write_text(f"{HEADER}\n 4 \r\n-2\n")
    annotation, problems = parse_annotation(path, "left")
    assert annotation.labels == (4, None) and annotation.bad == {1: "bad_label"}
    assert str(problems[0]) == f"{path}:3: label -2 is not in -1..7; skipped"


def test_video_folder_names_survive_darknet_rewriting(tmp_path):
    for stem in ("9001", "drawing-30-640x480", "my_images", "a.jpg.b"):
        name = folder_name(stem)
        check_label_path(tmp_path / name / "00001.jpg")
    assert folder_name("9001") == "9001"
    assert folder_name("drawing") != folder_name("dr_awing")


def test_option_checks():
    assert parse_shard("2/8") == (2, 8)
    for text in ("8/8", "x/2", "3"):
        with pytest.raises(DatasetError, match="--shard"):
            parse_shard(text)
    with pytest.raises(DatasetError, match="--split-by"):
        AffWild2Options(split_by="people")
    with pytest.raises(DatasetError, match="--frame-stride"):
        AffWild2Options(frame_stride=0)


@pytest.mark.parametrize("first", ["0", "-1", " 4 ", "\ufeff3"])
def test_a_missing_header_is_detected_said_and_not_a_shift(tmp_path, first):
    path = tmp_path / "a.txt"
    path.write_text(f"{first}\n5\n6\n", encoding="utf-8")
    annotation, problems = parse_annotation(path, "main")
    assert annotation.labels == (int(first.strip("\ufeff ")), 5, 6)  # line 1 is frame 1
    assert [p.reason for p in problems] == ["missing_header"]
    assert str(problems[0]).startswith(f"{path}:1: first line") and "header" in str(problems[0])
    path.write_text(f"\ufeff{HEADER}\n5\n6\n", encoding="utf-8")  # a BOM before the header
    assert parse_annotation(path, "main") == (Annotation(path, "main", (5, 6), {}), [])


def test_a_missing_header_is_counted_and_the_frames_keep_their_labels(
    raw, tmp_path, truth_detector, dataset_fixtures
):
    annotation = raw / "annotations" / "EXPR_Set" / "Validation_Set" / "9001.txt"
    plain = convert(copy_release(dataset_fixtures, tmp_path / "plain"), tmp_path / "p",
                    truth_detector)  # fmt: skip
    annotation.write_text(annotation.read_text().split("\n", 1)[1])  # header line dropped
    result = convert(raw, tmp_path / "out", truth_detector)
    details = result.stats.details
    assert details["problems_by_reason"]["missing_header"] == 1
    assert any("9001.txt:1: first line" in p for p in details["problems"])
    assert written_labels(tmp_path / "out", result.items) == written_labels(
        tmp_path / "p", plain.items
    )
