"""File I/O every layer shares: atomic writes, temporary siblings, placing images, reading lists.

An output is written under a temporary name beside it and renamed into place, so a reader (or a
re-run after a crash) never sees half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path


def read_lines(path: Path) -> list[str]:
    """The non-blank lines of a names file or an image list, stripped."""
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def temporary_sibling(path: Path, tag: str = "tmp") -> Path:
    """Where to write ``path`` before renaming it into place: a hidden name in its folder, unique
    to this process and thread, that keeps ``path``'s suffix (OpenCV picks a video container by
    it)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.{tag}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path`` to write to; renamed onto ``path`` when the block ends.

    When the block raises, whatever was written there is removed: ``path`` is never half a file.
    """
    tmp = temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half a file.

    The file gets the usual ``0666 & ~umask`` mode; its folder is created when missing.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    with atomic_path(path) as tmp:
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, flags, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def place_image(source: Path, target: Path, *, copy: bool = False) -> None:
    """Put ``source`` at ``target`` as a symlink (default) or a copy; the source is never touched.

    An existing correct target is left alone, so re-runs are cheap: a symlink to ``source``, or
    (with ``copy``) a regular file with ``source``'s size and modification time. Anything else
    at ``target`` (a symlink when copying, a copy when linking, a stale file) is replaced.
    The symlink points at ``source`` made absolute (pass a resolved path to skip symlinks).
    """
    source = Path(os.path.abspath(source))
    if copy:
        if target.is_file() and not target.is_symlink():
            have, want = target.stat(), source.stat()
            if (have.st_size, have.st_mtime_ns) == (want.st_size, want.st_mtime_ns):
                return
    else:
        try:
            if os.readlink(target) == str(source):
                return
        except FileNotFoundError:  # nothing there yet: one system call when the folder exists
            with contextlib.suppress(FileNotFoundError):
                os.symlink(source, target)
                return
        except OSError:  # a regular file (an earlier copy): replaced below
            pass
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.unlink(missing_ok=True)  # left by a killed run
        if copy:
            shutil.copyfile(source, tmp)  # not copy2: the raw files' read-only mode stays behind
            want = source.stat()
            os.utime(tmp, ns=(want.st_atime_ns, want.st_mtime_ns))
        else:
            tmp.symlink_to(source)


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, as ``sha256sum`` prints it."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
