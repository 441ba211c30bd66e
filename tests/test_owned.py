"""fileio and owned: writes never pass through links into inputs, prunes touch only owned
files, lists switch as one unit, a full disk leaves no half-written file, killed runs'
temporaries go."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.expw import tree_digest
from yof_darknet import fileio, owned
from yof_darknet.fileio import OutputError, atomic_write_bytes, atomic_write_text, protected
from yof_darknet.owned import Ledger, prune_owned, replace_together, sweep_temporaries


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    root = tmp_path / "raw"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("raw a")
    (root / "sub" / "b.jpg").write_bytes(b"raw b")
    return root


def test_a_write_replaces_a_link_never_its_target(raw, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").symlink_to(raw / "a.txt")
    os.link(raw / "sub" / "b.jpg", out / "b.jpg")  # a hard link: same file, two names
    before = tree_digest(raw)
    atomic_write_text(out / "a.txt", "ours")
    atomic_write_bytes(out / "b.jpg", b"ours")
    assert tree_digest(raw) == before
    assert not (out / "a.txt").is_symlink() and (out / "a.txt").read_text() == "ours"


def test_writes_into_protected_inputs_are_refused_through_any_link(raw, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "linked").symlink_to(raw / "sub")
    before = tree_digest(raw)
    with protected(raw):
        with pytest.raises(OutputError, match=r"linked/new.txt: refusing to write there.*raw"):
            atomic_write_text(out / "linked" / "new.txt", "x")
        with pytest.raises(OutputError, match="input folder"):
            atomic_write_text(raw / "a.txt", "x")
    with protected(raw / "a.txt"):
        (out / "alias").symlink_to(raw)
        with pytest.raises(OutputError, match="refusing to replace the input"):
            atomic_write_text(out / "alias" / "a.txt", "x")
    assert tree_digest(raw) == before
    atomic_write_text(out / "linked" / "new.txt", "x")  # nothing protected any more
    (raw / "sub" / "new.txt").unlink()


def test_the_package_itself_is_never_written(tmp_path):
    package = Path(fileio.__file__).parent
    with pytest.raises(OutputError, match="the package's own files"):
        atomic_write_text(package / "expressions.py", "")
    (tmp_path / "pkg").symlink_to(package)
    with pytest.raises(OutputError, match="the package's own files"):
        atomic_write_text(tmp_path / "pkg" / "new.py", "")


def test_prune_removes_only_owned_names_and_never_follows_links(raw, tmp_path):
    out = tmp_path / "out"
    (out / "video").mkdir(parents=True)
    top, inner = Ledger(out), Ledger(out / "video")
    top.record(["old.jpg", "keep.jpg", "video/", "raw/"])
    inner.record(["00001.jpg", "00001.txt"])
    for name in ("old.jpg", "keep.jpg", "mine.jpg", "video/00001.jpg", "video/00001.txt"):
        (out / name).write_bytes(b"x")
    (out / "raw").symlink_to(raw / "sub")  # an owned folder name, now a link into raw
    Ledger(raw / "sub")  # reading a ledger that is not there writes nothing
    before = tree_digest(raw)
    removed = prune_owned(out, {str(out / "keep.jpg")}, (".jpg", ".txt"))
    assert removed == 3
    assert sorted(p.name for p in out.rglob("*.jpg")) == ["keep.jpg", "mine.jpg"]
    assert tree_digest(raw) == before
    assert Ledger(out).names() == {"keep.jpg", "video/", "raw/"}


def test_lists_switch_as_one_unit_and_a_kill_before_the_switch_keeps_the_old_set(
    tmp_path, monkeypatch
):
    out = tmp_path / "out"
    out.mkdir()
    first = {"train.txt": b"a1\n", "test.txt": b"a2\n", "test_x.txt": b"a3\n", "stats.json": b"a"}
    replace_together(out, first)
    assert {n: (out / n).read_bytes() for n in first} == first
    assert all((out / n).is_symlink() for n in first)

    real_replace = os.replace

    def killed_at_the_switch(src, dst):
        if Path(dst).name == owned.SWITCH:
            raise KeyboardInterrupt  # the kill lands between the list links and the switch
        real_replace(src, dst)

    second = {"train.txt": b"b1\n", "test.txt": b"b2\n", "stats.json": b"b"}
    monkeypatch.setattr(owned.os, "replace", killed_at_the_switch)
    with pytest.raises(KeyboardInterrupt):
        replace_together(out, second)
    monkeypatch.setattr(owned.os, "replace", real_replace)
    assert {n: (out / n).read_bytes() for n in first} == first  # all of the old run

    replace_together(out, second)
    assert {n: (out / n).read_bytes() for n in second} == second  # all of the new run
    assert not (out / "test_x.txt").exists() and not (out / "test_x.txt").is_symlink()
    generations = [p for p in out.iterdir() if p.name.startswith(".yof-lists-")]
    assert len(generations) == 1  # older generations, also the killed one's, are gone


def test_temporaries_of_dead_processes_are_swept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)
    left = [tmp_path / f".train.{pid}.1.tmp.txt", tmp_path / f".clip.{pid}.7.partial.mp4"]
    mine = tmp_path / f".stats.{os.getpid()}.1.tmp.json"
    user = tmp_path / ".my.notes.tmp"
    for path in (*left, mine, user):
        path.write_text("x")
    assert sweep_temporaries(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, user.name])


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 64 KiB tmpfs (needs root; skipped elsewhere: the file-size limit test still runs)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_leaves_the_old_file_and_no_temporary(small_disk):
    target = small_disk / "stats.json"
    atomic_write_text(target, "old")
    with pytest.raises(OSError) as caught:
        atomic_write_bytes(target, b"x" * (1 << 20))
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert target.read_text() == "old"
    assert [p.name for p in small_disk.iterdir()] == ["stats.json"]
