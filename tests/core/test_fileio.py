from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from yof_darknet.core import fileio
from yof_darknet.core.fileio import OutputError, atomic_write_bytes, atomic_write_text, place_image


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


# --- outputs that are not regular files: streams are written in place, folders refused -------


def _read_fifo(path: Path, got: list[bytes]) -> threading.Thread:
    def read() -> None:
        with path.open("rb") as handle:
            got.append(handle.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_a_fifo_target_gets_the_bytes_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    assert fileio.output_kind(fifo) == fileio.STREAM
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    atomic_write_text(fifo, '{"a": 1}\n')
    reader.join(timeout=10)
    assert got == [b'{"a": 1}\n']
    assert stat.S_ISFIFO(fifo.lstat().st_mode), "the FIFO was replaced by a regular file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"], "a temporary was left"


def test_atomic_path_streams_into_a_fifo_through_a_link(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "out" / "video.avi"
    link.parent.mkdir()
    link.symlink_to(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    with fileio.atomic_path(link) as tmp:
        assert tmp.parent != link.parent, "a stream's temporary belongs in a private folder"
        tmp.write_bytes(b"frames")
    reader.join(timeout=10)
    assert got == [b"frames"] and link.is_symlink() and not tmp.exists()


def test_a_link_to_this_process_descriptor_is_written_through_it(tmp_path):
    """`--json /dev/stdout` and `>(...)` (/dev/fd/63): the descriptor gets the bytes (a private
    link to /proc/self/fd/N stands for them here), the link stays."""
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from yof_darknet.core.fileio import atomic_write_text, output_kind\n"
        "link = Path(sys.argv[1])\n"
        "os.symlink('/proc/self/fd/1', link)\n"
        "print(output_kind(link), flush=True)\n"
        "atomic_write_text(link, 'through the descriptor\\n')\n"
        "print('then more', flush=True)\n"
    )
    sink = tmp_path / "captured.txt"
    with sink.open("w") as handle:
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "stdout")], stdout=handle, check=False,
            stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sink.read_text() == "stream\nthrough the descriptor\nthen more\n"
    assert (tmp_path / "stdout").is_symlink()
    assert os.readlink(tmp_path / "stdout") == "/proc/self/fd/1"


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device node needs root")
def test_a_character_device_is_written_in_place_never_replaced(tmp_path):
    null = tmp_path / "null"  # a private /dev/null: major 1, minor 3
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    atomic_write_bytes(null, b"discarded")
    atomic_write_text(null, "again")
    with fileio.open_output(null) as handle:
        handle.write(b"a log line\n")
    assert stat.S_ISCHR(null.lstat().st_mode), "the device node was replaced by a regular file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device node needs root")
def test_a_block_device_is_refused(tmp_path):
    disk = tmp_path / "disk"
    os.mknod(disk, 0o600 | stat.S_IFBLK, os.makedev(7, 200))  # a loop device number, never opened
    with pytest.raises(OutputError, match="block device"):
        atomic_write_text(disk, "x")
    assert stat.S_ISBLK(disk.lstat().st_mode)


def test_a_folder_is_refused_in_one_line_and_left_alone(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    for write in (
        lambda: atomic_write_text(folder, "x"),
        lambda: fileio.check_output_file(folder),
        lambda: fileio.open_output(folder),
    ):
        with pytest.raises(OutputError, match="is a folder") as caught:
            write()
        assert "\n" not in str(caught.value)
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_check_output_folder_refuses_a_file_or_a_device(tmp_path):
    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    for name in ("file", "fifo"):
        with pytest.raises(OutputError, match="is not a folder"):
            fileio.check_output_folder(tmp_path / name)
    fileio.check_output_folder(tmp_path / "new" / "deeper")  # nothing there yet: fine
    assert not (tmp_path / "new").exists(), "a check creates nothing"


def test_unix_lines_copies_only_files_with_carriage_returns(tmp_path):
    plain, crlf = tmp_path / "a.names", tmp_path / "b.names"
    plain.write_bytes(b"anger\nfear\n")
    crlf.write_bytes(b"anger\r\nfear\r\n")
    folder = tmp_path / "tmp"
    assert fileio.unix_lines(plain, folder) == plain
    copy = fileio.unix_lines(crlf, folder)
    assert copy != crlf and copy.read_bytes() == b"anger\nfear\n"
    assert crlf.read_bytes() == b"anger\r\nfear\r\n"
