"""The safe-name policy, and Debian's darknet proving that a hostile ExpW name runs nothing."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.expw import tree_digest
from tests.support.hostile import HOSTILE, jpeg_bytes, real_pixels, truncated, write_expw
from tests.support.model import tiny_cfg
from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.build import build_datasets, expw_job
from yof_darknet.formats.labels import check_label_path
from yof_darknet.formats.safenames import (
    MAX_NAME,
    check_list_lines,
    list_line_problem,
    name_problem,
    safe_stem,
)

SHELL_SYNTAX = ["$(id)", "`id`", "a;b", "a|b", "a&b", "a>b", "a<b", "${IFS}", "'q'", '"q"',
                "a\\b", "a*b", "a?b", "[ab]", "{a,b}", "~user", "#c", "!x", "a b",
                "a\tb"]  # fmt: skip


@pytest.mark.parametrize("stem", SHELL_SYNTAX)
def test_shell_syntax_never_survives_in_a_written_name(stem):
    safe = safe_stem(stem)
    assert name_problem(safe + ".jpg") is None
    assert list_line_problem(f"/out/expw/{safe}.jpg") is None
    assert safe != stem and list_line_problem(f"/out/expw/{stem}.jpg") is not None


@pytest.mark.parametrize(
    "stem",
    [os.fsdecode(b"caf\xe9"), "na\u00efve", "a\u2028b", "-rf", ".hidden", "x" * 250, "drawing",
     "\U0001f600", "a\x00b"[:1] + "\x7f"],
)  # fmt: skip
def test_any_name_becomes_a_safe_ascii_name_of_bounded_length(stem):
    safe = safe_stem(stem)
    assert name_problem(safe + ".jpg") is None, safe
    assert len(safe) + len(".jpg") <= MAX_NAME
    assert safe.isascii() and safe[0] not in "-."
    check_label_path(Path("/out/expw") / f"{safe}.jpg")  # both forks find the label beside it


def test_safe_names_are_kept_and_changed_names_never_meet():
    assert safe_stem("angry_actor_104") == "angry_actor_104"
    assert safe_stem("a+b-c.d_e") == "a+b-c.d_e"
    # two originals that clean to the same text differ by the hash of their bytes
    assert safe_stem("a$b") != safe_stem("a;b")
    assert safe_stem(os.fsdecode(b"caf\xe9")) != safe_stem(os.fsdecode(b"caf\xe8"))
    assert safe_stem("x" * 300) != safe_stem("x" * 301)
    assert safe_stem("a$b") == safe_stem("a$b")  # stable across runs (resume)


def test_list_lines_allow_a_users_folders_but_no_shell_syntax():
    assert list_line_problem("/home/jos\u00e9/data@v2,x:y%z=w/expw/a.jpg") is None
    assert list_line_problem(os.fsdecode(b"/data/caf\xe9/a.jpg")) is None  # bytes >= 0x80 are inert
    assert "option" in list_line_problem("-n.jpg")
    assert "shell" in list_line_problem("/data/$HOME/a.jpg")
    with pytest.raises(DatasetError, match=r"train\.txt:2: '/d/a;b\.jpg' holds ';'"):
        check_list_lines(["/d/ok.jpg", "/d/a;b.jpg"], "train.txt")


def test_an_output_folder_with_shell_syntax_is_refused_before_any_work(tmp_path):
    root = write_expw(
        tmp_path / "ExpW", {"a.jpg": jpeg_bytes(real_pixels())}, ["a.jpg 0 5 5 40 40 90 3"]
    )
    out = tmp_path / "out$(id)"
    with pytest.raises(DatasetError, match="shell"):
        build_datasets([expw_job(root)], out, test_per_dataset=0)
    assert not out.exists()


def _darknet_train(darknet: Path, data: Path, cfg: Path, cwd: Path) -> str:
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [str(darknet), "detector", "train", str(data), str(cfg)],
        cwd=cwd, capture_output=True, text=True, errors="replace", timeout=300,
    )  # fmt: skip
    return done.stdout + done.stderr


def _planted(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name in ("X", "Y")]


@pytest.mark.slow
def test_debian_darknet_runs_nothing_from_a_hostile_name(
    tmp_path, debian_darknet, darknet_fixtures
):
    """A raw name that builds a command through ${IFS}: with undecodable bytes behind it (a
    truncated JPEG, which OpenCV would even read grey-padded) the image is left out (counted);
    with a decodable image it is renamed. Made undecodable after conversion (its copy in OUT),
    Debian's darknet hands the listed path to its shell: nothing runs. The control (the hostile
    name in a hand-made list) shows that the command would have run."""
    photo = jpeg_bytes(real_pixels())
    hostile_ok = HOSTILE.replace("X", "Y").replace("inj", "inj2")
    root = write_expw(
        tmp_path / "ExpW",
        {HOSTILE: truncated(photo), hostile_ok: photo},
        [f"{HOSTILE} 0 10 10 60 60 90 3", f"{hostile_ok} 0 10 10 60 60 90 3"],
    )
    before = tree_digest(root)
    out = tmp_path / "out"
    summary = build_datasets([expw_job(root, copy=True)], out, test_per_dataset=0)
    expw = summary.stats["datasets"]["expw"]
    assert expw["faces"]["skipped"] == {"undecodable_image": 1}
    assert expw["details"]["renamed"] == 1
    listed = (out / "train.txt").read_text(encoding="ascii").splitlines()
    assert len(listed) == 1 and list_line_problem(listed[0]) is None
    assert "$" not in (out / "train.txt").read_text()
    # the copy darknet reads (never the raw file) becomes undecodable
    copy = Path(listed[0])
    assert not copy.is_symlink()
    copy.write_bytes(truncated(photo)[:300])
    cfg = tmp_path / "tiny.cfg"
    text = tiny_cfg((darknet_fixtures / "dataset" / "yolov3-tiny-obj.cfg").read_text())
    cfg.write_text(re.sub(r"(?m)^max_batches=.*$", "max_batches=1", text))

    log = _darknet_train(debian_darknet, out / "obj.data", cfg, tmp_path / "run")
    assert "Cannot load image" in log, log[-2000:]
    assert (tmp_path / "run" / "bad.list").read_text().split() == [str(copy)] * len(
        (tmp_path / "run" / "bad.list").read_text().split()
    )
    assert _planted(tmp_path) == []

    control = tmp_path / "control"
    control.mkdir()
    (control / HOSTILE).write_bytes(truncated(photo)[:300])  # OpenCV 4.6 cannot load this
    (control / "train.txt").write_text(f"{control / HOSTILE}\n")
    data = (out / "obj.data").read_text()
    data = re.sub(r"(?m)^train = .*$", f"train = {control / 'train.txt'}", data)
    (control / "obj.data").write_text(data)
    _darknet_train(debian_darknet, control / "obj.data", cfg, control / "run")
    assert [p.name for p in _planted(tmp_path)] == ["X"]  # the hole was real
    assert tree_digest(root) == before
