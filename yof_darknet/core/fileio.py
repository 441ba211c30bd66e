"""File I/O every layer shares: atomic writes that never touch an input, placing images, lists.

The rules every writer and deleter of the package follows:

- ``protected(*inputs)``: while a stage runs, its inputs (raw dataset folders and files, test
  images, weights, cfgs, detect sources) and the package's own folder are read-only. Every
  write, rename or delete checks the *resolved* folder it changes (``check_writable``), so no
  link inside an output folder can lead a write into an input.
- An output is written under a new temporary name beside it and renamed into place
  (``atomic_write_bytes``): a reader, or a re-run after a crash or a full disk, never sees half
  a file, and the rename replaces a link found there instead of writing through it.
  ``open_output`` is the one way to open a log (it removes a link at the target first).
- ``output_kind`` is the one place that decides how a target is written: a regular file (or
  nothing yet) by the rename above; a character device or a FIFO, also through a link, and a
  ``/dev/stdout``, ``/dev/fd/N`` or ``/proc/self/fd/N`` name (a shell's ``>(...)``) as a stream,
  written in place and never replaced; a folder, a block device or a socket is refused.
  ``check_output_file`` and ``check_output_folder`` run it on a command's outputs before any
  work.
- Which files the package owns (and may prune) is ``yof_darknet.core.owned``'s business.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from yof_darknet.core.errors import YofError


def read_lines(path: Path) -> list[str]:
    """The non-blank lines of a names file or an image list, stripped."""
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def unix_lines(path: Path, folder: Path) -> Path:
    """``path`` itself, or, when it has Windows (CRLF) or old Mac (CR) line ends, a copy with
    ``\n`` line ends written into ``folder`` (a temporary folder). Handed to darknet: pjreddie's
    reads a ``\r`` as part of each line (a CRLF cfg: "First section must be [net]")."""
    data = Path(path).read_bytes()
    if b"\r" not in data:
        return Path(path)
    copy = Path(folder) / "unix-lines" / Path(path).name
    atomic_write_bytes(copy, data.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
    return copy


class OutputError(YofError):
    """An output would replace, change or delete an input (or a file the package does not own)."""


_PACKAGE = os.path.realpath(Path(__file__).parents[1])
_trees: list[str] = [_PACKAGE]  # resolved folders nothing may be written into
_files: dict[str, str] = {}  # resolved input file -> how the user named it
_real_parents: dict[str, str] = {}  # cache: folder as written -> resolved


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@contextlib.contextmanager
def protected(*inputs: Path | str | None) -> Iterator[None]:
    """Make ``inputs`` (folders: everything below them) read-only for the block's writes."""
    added_trees: list[str] = []
    added_files: list[str] = []
    for item in inputs:
        if item is None:
            continue
        real = os.path.realpath(item)
        if os.path.isdir(real):
            added_trees.append(real)
            continue
        # the file, and the link the user named it by (replacing that link loses the input too)
        for entry in {real, os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(item))),
                                         os.path.basename(item))}:  # fmt: skip
            if entry not in _files:
                _files[entry] = str(item)
                added_files.append(entry)
    _trees.extend(added_trees)
    _real_parents.clear()
    try:
        yield
    finally:
        for real in added_trees:
            _trees.remove(real)
        for real in added_files:
            _files.pop(real, None)
        _real_parents.clear()


def protected_inputs() -> tuple[list[str], list[str]]:
    """The protected folders and files now (to re-enter ``protected`` in a worker process)."""
    return [t for t in _trees if t != _PACKAGE], list(_files)


def real_entry(path: Path | str) -> str:
    """The directory entry a write to ``path`` changes: its resolved folder plus its name."""
    folder, name = os.path.split(os.path.abspath(path))
    real = _real_parents.get(folder)
    if real is None:
        real = _real_parents[folder] = os.path.realpath(folder)
    return os.path.join(real, name)


def check_writable(path: Path | str) -> None:
    """Raise ``OutputError`` if creating, replacing or deleting ``path`` changes a protected
    input: an entry inside a protected folder (also through a linked folder), or the entry of a
    protected file itself."""
    entry = real_entry(path)
    for tree in _trees:
        if _inside(entry, tree):
            where = "the package's own files" if tree == _PACKAGE else f"the input folder {tree}"
            raise OutputError(
                f"{path}: refusing to write there: it lies in {where} (through "
                f"{entry if entry != os.path.abspath(path) else 'its path'}); inputs are never "
                "changed. Choose an output folder outside the inputs, and remove any link in it "
                "that leads into them"
            )
    if entry in _files:
        raise OutputError(
            f"{path}: refusing to replace the input {_files[entry]}; choose another output path"
        )


FILE, STREAM = "file", "stream"
_FD_FOLDER = re.compile(r"/proc/(?P<pid>\d+)(/task/\d+)?/fd")
_MAX_LINKS = 40


def _through_proc(path: Path | str) -> tuple[bool, int | None]:
    """Whether ``path`` (or a link on the way to its target) is a ``/proc`` entry, such as
    ``/dev/stdout`` -> ``/proc/self/fd/1``; and the descriptor number when it names one of this
    process's own descriptors (written through ``dup``, so its offset and append mode hold)."""
    current = os.path.abspath(path)
    for _ in range(_MAX_LINKS):
        entry = real_entry(current)
        real, name = os.path.split(entry)
        if real == "/proc" or real.startswith("/proc/"):
            real = os.path.realpath(os.path.dirname(current))  # not cached: a fork has its own
            match = _FD_FOLDER.fullmatch(real)
            own = match is not None and int(match["pid"]) == os.getpid() and name.isdigit()
            return True, int(name) if own else None
        try:
            target = os.readlink(entry)
        except OSError:  # not a link (or not there): the end of the chain
            return False, None
        current = os.path.normpath(os.path.join(real, target))
    return False, None


def output_kind(path: Path | str) -> str:
    """How an output at ``path`` is written: ``FILE`` (nothing there yet, a regular file, or a
    link to one: a temporary file renamed into place) or ``STREAM`` (a character device such as
    ``/dev/null``, a FIFO, or a descriptor name such as ``/dev/stdout`` or a shell's
    ``>(...)``: written in place, never replaced). Raises ``OutputError`` for a folder, a block
    device or a socket, which no output may replace or be written into."""
    proc, own_fd = _through_proc(path)
    try:
        mode = os.stat(own_fd if own_fd is not None else path).st_mode
    except OSError:  # nothing there, or a file in the way of its folder: the write says which
        return FILE
    if stat.S_ISDIR(mode):
        raise OutputError(
            f"{path}: is a folder, and this output is one file; give a file path (in that "
            "folder, or elsewhere)"
        )
    if own_fd is not None or stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return STREAM
    if stat.S_ISBLK(mode):
        raise OutputError(f"{path}: is a block device (a disk); refusing to write over it")
    if stat.S_ISSOCK(mode):
        raise OutputError(f"{path}: is a socket, which cannot be opened as a file")
    return STREAM if proc else FILE


def check_output_file(path: Path | str) -> str:
    """Before any work: ``path`` may take this output (no input, no folder); its kind."""
    check_writable(path)
    return output_kind(path)


def check_output_folder(path: Path | str) -> None:
    """Before any work: ``path`` is a folder, or nothing yet (it is created), outside the
    inputs."""
    check_writable(Path(path) / "probe")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise OutputError(f"{path}: a file is in the way of this output folder") from None
    if not stat.S_ISDIR(mode):
        raise OutputError(
            f"{path}: is not a folder (a file or a device is there); give a folder for this output"
        )


def open_stream(path: Path | str) -> BinaryIO:
    """Open a ``STREAM`` target for writing: this process's own descriptor (``/dev/stdout``) is
    duplicated, anything else opened in place (a FIFO waits for its reader, as in a shell)."""
    _, own_fd = _through_proc(path)
    try:
        fd = os.dup(own_fd) if own_fd is not None else os.open(path, os.O_WRONLY)
    except OSError as exc:
        raise OutputError(f"{path}: cannot be opened for writing ({exc.strerror})") from None
    return os.fdopen(fd, "wb")


def _copy_into_stream(source: Path, target: Path) -> None:
    with source.open("rb") as handle, open_stream(target) as stream:
        shutil.copyfileobj(handle, stream)


def commit(tmp: Path, path: Path) -> None:
    """Put the finished temporary ``tmp`` in place at ``path``: renamed onto it, or for a
    stream (``output_kind``) copied into it and removed."""
    check_writable(path)
    if output_kind(path) == STREAM:
        try:
            _copy_into_stream(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return
    os.replace(tmp, path)


def unlink_owned(path: Path) -> None:
    """Remove ``path`` (a file or a link; a link's target is never touched) unless protected."""
    check_writable(path)
    path.unlink(missing_ok=True)


def open_output(path: Path, *, append: bool = False):
    """Open a log for writing (binary) without ever writing through a link or into an input.

    A stream (``output_kind``) is written in place; a link at ``path`` is removed first;
    appending to a file with other hard links is refused (it would change the other names
    too); a new file is created otherwise.
    """
    path = Path(path)
    check_writable(path)
    if output_kind(path) == STREAM:
        return open_stream(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or not append:
            path.unlink()
        elif info.st_nlink > 1:
            raise OutputError(f"{path}: has other hard links; appending would change them too")
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_EXCL)
    return os.fdopen(os.open(path, flags, 0o666), "ab" if append else "wb")


def temporary_sibling(path: Path, tag: str = "tmp") -> Path:
    """Where to write ``path`` before renaming it into place: a hidden name in its folder, unique
    to this process and thread, that keeps ``path``'s suffix (OpenCV picks a video container by
    it). ``sweep_temporaries`` recognises the name once the process is gone."""
    return path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.{tag}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path`` to write to; renamed onto ``path`` when the block ends.

    ``path`` must be writable (``check_writable``); the rename replaces whatever entry is there
    (a link is replaced, its target untouched). When the block raises (a full disk, Ctrl-C),
    the temporary file is removed: ``path`` is never half a file. A stream (``output_kind``)
    gets the finished file's bytes instead; its temporary lies in a private temporary folder.
    """
    path = Path(path)
    check_writable(path)
    if output_kind(path) == STREAM:
        with tempfile.TemporaryDirectory(prefix="yof-stream-") as folder:
            tmp = Path(folder) / path.name
            yield tmp
            _copy_into_stream(tmp, path)
        return
    tmp = temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise named(exc, path) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# Errors of the file being written, whatever file the failing call named (a copy names its
# source, a write names none): they are reported with the output's path.
_WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def named(exc: OSError, path: Path | str) -> OSError:
    """``exc`` naming the file it was about, ``path`` (the output) when the disk refused the
    write: the CLI prints that name."""
    if exc.filename is not None and exc.errno not in _WRITE_ERRORS:
        return exc
    return type(exc)(exc.errno, exc.strerror, str(path))


def _create_new(tmp: Path) -> int:
    """A new file at ``tmp`` (never an existing file or a link's target)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        return os.open(tmp, flags, 0o666)
    except FileExistsError:  # left by a killed process that had our pid
        tmp.unlink()
        return os.open(tmp, flags, 0o666)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a new temporary file and a rename: never half a file,
    never through a link. The file gets ``0666 & ~umask``; its folder is created when missing."""
    path = Path(path)
    check_writable(path)
    if output_kind(path) == STREAM:
        with open_stream(path) as stream:
            stream.write(data)
        return
    with atomic_path(path) as tmp:
        try:
            fd = _create_new(tmp)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = _create_new(tmp)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8; file names that were not UTF-8 (``os.fsdecode``) are written back as their bytes."""
    atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"))


def place_image(source: Path, target: Path, *, copy: bool = False) -> None:
    """Put ``source`` at ``target`` as a symlink (default) or a copy; the source is never touched.

    An existing correct target is left alone, so re-runs are cheap: a symlink to ``source``, or
    (with ``copy``) a regular file with ``source``'s size and modification time. Anything else
    at ``target`` (a symlink when copying, a copy when linking, a stale file) is replaced.
    The symlink points at ``source`` made absolute (pass a resolved path to skip symlinks).
    """
    source = Path(os.path.abspath(source))
    check_writable(target)
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
