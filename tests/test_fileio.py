from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from yof_darknet.fileio import atomic_write_text, place_image


def test_place_image_symlink_copy_and_switching(tmp_path):
    source = tmp_path / "src" / "a.jpg"
    source.parent.mkdir()
    source.write_bytes(b"jpeg bytes")
    source.chmod(0o444)
    target = tmp_path / "out" / "a.jpg"

    place_image(source, target)
    assert target.is_symlink() and Path(os.readlink(target)) == source.resolve()

    place_image(source, target, copy=True)  # a copy replaces the symlink
    assert not target.is_symlink() and target.read_bytes() == b"jpeg bytes"
    assert target.stat().st_mode & stat.S_IWUSR, "the copy must not inherit the raw read-only mode"
    mtime = target.stat().st_mtime_ns
    place_image(source, target, copy=True)  # an up-to-date copy is left alone
    assert target.stat().st_mtime_ns == mtime

    place_image(source, target)  # back to a symlink
    assert target.is_symlink()
    assert source.read_bytes() == b"jpeg bytes" and not list(target.parent.glob(".*"))


def test_place_image_replaces_a_stale_copy(tmp_path):
    old, new = tmp_path / "old.jpg", tmp_path / "new.jpg"
    old.write_bytes(b"old!")
    new.write_bytes(b"new!")  # same size, other content and time
    os.utime(new, ns=(1_000_000_000, 1_000_000_000))
    target = tmp_path / "out" / "t.jpg"
    place_image(old, target, copy=True)
    place_image(new, target, copy=True)
    assert target.read_bytes() == b"new!"


def test_atomic_write_text_is_readable_and_leaves_no_temp(tmp_path):
    path = tmp_path / "deep" / "list.txt"
    atomic_write_text(path, "a\n")
    atomic_write_text(path, "b\n")
    assert path.read_text() == "b\n"
    assert path.stat().st_mode & 0o044, "lists must be readable like any file the user writes"
    assert [p.name for p in path.parent.iterdir()] == ["list.txt"]


def test_atomic_writes_from_threads_never_mix(tmp_path):
    path = tmp_path / "shared.txt"
    texts = [f"{i}\n" * 1000 for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda text: atomic_write_text(path, text), texts))
    assert path.read_text() in texts
    assert [p.name for p in tmp_path.iterdir()] == ["shared.txt"]
