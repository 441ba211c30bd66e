"""Where detect writes: annotated copies confined to --save, JSON lines strict, partial on a
stop."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from yof_darknet.core.fileio import OutputError
from yof_darknet.infer.outputs import JsonLines, partial_name, saved_names


def test_saved_names_never_climb_out_of_the_folder(tmp_path: Path):
    d = tmp_path / "d"
    images = [d / "a" / "x.jpg", d / "a" / ".." / "b" / "y.jpg", d / "b" / "y.jpg"]
    save = tmp_path / "save"
    # the list's root as a list gives it: the common folder of the paths as written
    targets = saved_names(images, d / "a", save)
    assert targets == [save / "a" / "x.jpg", save / "b" / "y.jpg", save / "b" / "y_2.jpg"]
    for target in targets:
        assert os.path.normpath(target).startswith(str(save) + os.sep)


def test_saved_names_of_a_folder_keep_the_relative_paths(tmp_path: Path):
    root = tmp_path / "images"
    images = [root / "sub" / "a.jpg", root / "sub" / "deeper" / "b.png"]
    assert saved_names(images, root, tmp_path / "s") == [
        tmp_path / "s" / "sub" / "a.jpg",
        tmp_path / "s" / "sub" / "deeper" / "b.png",
    ]


def test_saved_names_number_every_repeat(tmp_path: Path):
    image = tmp_path / "x" / "a.jpg"
    names = saved_names([image, image, tmp_path / "x" / "a_2.jpg", image], image.parent, tmp_path)
    assert [p.name for p in names] == ["a.jpg", "a_2.jpg", "a_2_2.jpg", "a_3.jpg"]


def test_a_link_in_the_save_folder_leading_out_is_refused(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    save = tmp_path / "save"
    save.mkdir()
    (save / "a").symlink_to(outside)
    with pytest.raises(OutputError, match="outside"):
        saved_names([tmp_path / "src" / "a" / "x.jpg"], tmp_path / "src", save)


def test_json_lines_are_strict_json(tmp_path: Path):
    out = JsonLines(str(tmp_path / "d.json"))
    out.write({"score": 0.5})
    with pytest.raises(ValueError, match="JSON compliant"):
        out.write({"score": float("nan")})
    out.close()
    assert (tmp_path / "d.json").read_text() == '{"score": 0.5}\n'


def test_an_unfinished_json_is_left_under_its_partial_name(tmp_path: Path):
    target = tmp_path / "d.json"
    out = JsonLines(str(target))
    out.write({"frame": 0})
    left = out.close(complete=False)
    assert left == partial_name(target) == tmp_path / "d.partial.json"
    assert json.loads(left.read_text()) == {"frame": 0} and not target.exists()
    empty = JsonLines(str(target))
    assert empty.close(complete=False) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.partial.json"]
