"""Aff-Wild2 annotations: lines end at "\\n" only; one unreadable file skips that file only."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.affwild2 import copy_release
from tests.support.expw import tree_digest
from yof_darknet.datasets.affwild2_files import annotation_lines, collect_jobs, parse_annotation

HEADER = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise"


@pytest.mark.parametrize("separator", ["\x0c", "\u2028", "\u2029", "\x85", "\x1c", "\x0b", "\r"])
def test_a_separator_inside_a_line_never_adds_a_frame(tmp_path, separator):
    """str.splitlines() cut a line at each of these, so every later frame's label moved one
    frame on. Here the line holding it is one (bad) frame and the next line is the next frame."""
    path = tmp_path / "v.txt"
    path.write_text(f"{HEADER}\n3\n4{separator}5\n6\n", encoding="utf-8", newline="")
    annotation, problems = parse_annotation(path, "main")
    assert annotation is not None
    assert annotation.labels == (3, None, 6)
    assert [p.reason for p in problems] == ["bad_line"]
    assert problems[0].where == f"{path}:3"


@pytest.mark.parametrize("separator", ["\x0c", "\u2028", " ", "\t"])
def test_a_separator_at_a_line_edge_is_blank_space(tmp_path, separator):
    path = tmp_path / "v.txt"
    path.write_text(f"{HEADER}\n3{separator}\n{separator}4\n", encoding="utf-8", newline="")
    annotation, problems = parse_annotation(path, "main")
    assert annotation.labels == (3, 4) and problems == []


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr-only"])
def test_line_ends_lf_crlf_and_cr_only_read_alike(tmp_path, newline):
    path = tmp_path / "v.txt"
    path.write_bytes(newline.join([HEADER, "0", "-1", "7", "2", ""]).encode())
    annotation, problems = parse_annotation(path, "main")
    assert annotation.labels == (0, -1, 7, 2) and problems == []


def test_annotation_lines():
    assert annotation_lines("h\n1\n2") == ["h", "1", "2"]
    assert annotation_lines("h\n1\n\n") == ["h", "1", ""]
    assert annotation_lines("") == []


def test_an_unreadable_annotation_skips_that_file_only(dataset_fixtures, tmp_path):
    raw = copy_release(dataset_fixtures, tmp_path / "raw")
    validation = raw / "annotations" / "EXPR_Set" / "Validation_Set"
    training = raw / "annotations" / "EXPR_Set" / "Training_Set"
    (validation / "folder.txt").mkdir()  # a folder named like an annotation
    os.mkfifo(validation / "pipe.txt")  # reading it would block forever
    (validation / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    before = tree_digest(raw)
    locked = validation / "locked.txt"
    shutil.copy(validation / "9001.txt", locked)
    locked.chmod(0)
    jobs, _ = collect_jobs(raw)
    problems = {Path(p.where).name: p for job in jobs for p in job.problems}
    for name in ("folder.txt", "pipe.txt", "dangling.txt"):
        assert problems[name].reason == "unreadable_annotation", name
    assert "not a regular file" in problems["folder.txt"].message
    if os.geteuid() != 0:  # root reads a chmod-000 file
        assert problems["locked.txt"].reason == "unreadable_annotation"
        assert "Permission denied" in problems["locked.txt"].message
    converted = {job.stem for job in jobs if job.persons}
    assert {"9001", "9002-25-320x180"} <= converted  # the readable ones, still converted
    assert sorted(p.name for p in training.iterdir()) == [
        "9002-25-320x180_left.txt",
        "9002-25-320x180_right.txt",
    ]
    locked.chmod(0o644)
    assert locked.read_bytes() == (validation / "9001.txt").read_bytes()
    locked.unlink()
    assert tree_digest(raw) == before
