"""Outputs never touch inputs: protected inputs, owned-file ledgers, one-unit list switches.

The rules every writer and deleter of the package follows:

- ``protected(*inputs)``: while a stage runs, its inputs (raw dataset folders and files, test
  images, weights, cfgs, detect sources) and the package's own folder are read-only. Every
  write, rename or delete checks the *resolved* folder it changes (``check_writable``), so no
  link inside an output folder can lead a write into an input.
- Files are replaced by a rename of a fresh file (``writer.atomic_write_bytes``), never opened
  in place through whatever sits at the target; ``open_output`` is the one way to open a log
  (it removes a link found at the target instead of writing through it).
- Pruning deletes only what the package wrote: each output folder keeps a ledger
  (``.yof-written``) of the names written there, recorded *before* each write, and
  ``prune_owned`` never deletes a name the ledger does not hold, never follows a link, and never
  descends into a linked folder.
- ``replace_together`` writes a set of files (the lists, ``obj.data``, ``stats.json``) as one
  unit: a new generation folder, then one rename of a link switches every file at once.
- ``sweep_temporaries`` removes what killed runs left (temporary siblings of dead processes,
  old list generations).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from yof_darknet.errors import YofError


class OutputError(YofError):
    """An output would replace, change or delete an input (or a file the package does not own)."""


_PACKAGE = os.path.realpath(Path(__file__).parent)
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
        elif real not in _files:
            _files[real] = str(item)
            added_files.append(real)
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


def unlink_owned(path: Path) -> None:
    """Remove ``path`` (a file or a link; a link's target is never touched) unless protected."""
    check_writable(path)
    path.unlink(missing_ok=True)


def open_output(path: Path, *, append: bool = False):
    """Open a log for writing (binary) without ever writing through a link or into an input.

    A link at ``path`` is removed first; appending to a file with other hard links is refused
    (it would change the other names too); a new file is created otherwise.
    """
    path = Path(path)
    check_writable(path)
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
    the temporary file is removed: ``path`` is never half a file.
    """
    path = Path(path)
    check_writable(path)
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


def named(exc: OSError, path: Path | str) -> OSError:
    """``exc`` with the file it was about (a failed ``write`` names none): the CLI prints it."""
    if exc.filename is not None:
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


LEDGER = ".yof-written"


def _plain_name(name: str) -> bool:
    """A name in this folder (``sub/`` for a sub-folder): never a path that leads elsewhere."""
    bare = name.removesuffix("/")
    return bool(bare) and "/" not in bare and bare not in (".", "..") and "\0" not in bare


class Ledger:
    """The names the package wrote in one folder (``folder/.yof-written``, one per line).

    ``record`` appends before the files are created, so a run killed mid-way still owns what it
    left; a name ending in ``/`` is a sub-folder with its own ledger. Several processes may
    record into one ledger (each line is one ``write`` to a file opened for appending).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LEDGER
        data = b""
        with contextlib.suppress(FileNotFoundError):
            if not self.path.is_symlink():  # a link is not our ledger: it owns nothing
                data = self.path.read_bytes()
        self._names = {n for n in map(os.fsdecode, data.split(b"\n")) if _plain_name(n)}

    def names(self) -> set[str]:
        return set(self._names)

    def owns(self, name: str) -> bool:
        return name in self._names

    def record(self, names: Iterable[str]) -> None:
        new = sorted({n for n in names if n not in self._names})
        if not new:
            return
        check_writable(self.path)
        self.folder.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
        try:
            fd = os.open(self.path, flags, 0o666)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            message = f"{self.path}: is a link; remove it (not written by yof-darknet)"
            raise OutputError(message) from None
        try:
            os.write(fd, b"".join(os.fsencode(n) + b"\n" for n in new))
        finally:
            os.close(fd)
        self._names.update(new)

    def remove(self, name: str) -> bool:
        """Delete ``name`` if this ledger owns it (a link itself, never its target)."""
        if name not in self._names:
            return False
        unlink_owned(self.folder / name)
        return True

    def rewrite(self, names: set[str]) -> None:
        """Keep only ``names`` (after a prune)."""
        if names != self._names:
            atomic_write_bytes(self.path, b"".join(os.fsencode(n) + b"\n" for n in sorted(names)))
            self._names = set(names)


def ensure_real_folder(folder: Path, owner: Ledger | None = None) -> Path:
    """Create ``folder`` (recorded in ``owner``, its parent's ledger), refusing a link there."""
    folder = Path(folder)
    if owner is not None:
        owner.record([f"{folder.name}/"])
    if folder.is_symlink():
        raise OutputError(
            f"{folder}: is a link (to {os.readlink(folder)}), not a folder yof-darknet made; "
            "outputs are never written through links: remove it and run again"
        )
    check_writable(folder / "probe")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def prune_owned(folder: Path, keep: set[str], suffixes: tuple[str, ...]) -> int:
    """Delete the files with ``suffixes`` that ``folder``'s ledgers own and ``keep`` (absolute
    paths) does not hold; return how many. Links are removed as links, linked folders are not
    entered, and anything the ledgers do not name stays."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return 0
    ledger = Ledger(folder)
    remaining = ledger.names()
    removed = 0
    for name in sorted(ledger.names()):
        path = folder / name.rstrip("/")
        if name.endswith("/"):
            removed += prune_owned(path, keep, suffixes)
            continue
        if str(path) in keep or not name.lower().endswith(suffixes):
            continue
        try:
            kind = path.lstat().st_mode
        except FileNotFoundError:
            remaining.discard(name)
            continue
        if stat.S_ISREG(kind) or stat.S_ISLNK(kind):
            unlink_owned(path)
            remaining.discard(name)
            removed += 1
    ledger.rewrite(remaining)
    sweep_temporaries(folder)
    return removed


# temporary siblings: ".<stem>.<pid>.<thread>.<tag><suffix>" (writer.temporary_sibling)
_TEMPORARY = re.compile(r"^\..*\.(?P<pid>\d+)\.\d+\.(tmp|partial)(\.[^.]*)?$")
_GENERATION = ".yof-lists-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temporaries(folder: Path) -> int:
    """Remove temporary siblings left in ``folder`` by processes that are gone; return how many."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match and not _alive(int(match["pid"])) and not entry.is_dir(follow_symlinks=False):
            unlink_owned(Path(entry.path))
            removed += 1
    return removed


SWITCH = ".yof-lists"


def replace_together(folder: Path, files: dict[str, bytes]) -> None:
    """Replace ``folder/<name>`` for every name in ``files`` as one unit.

    The files go into a new generation folder; ``folder/.yof-lists`` is a link to the current
    generation, switched by one rename; each ``folder/<name>`` is a stable link through it. A
    kill at any point leaves either the old set or the new one, never a mix. Links of names the
    new set lacks, and older generations, are removed.
    """
    folder = Path(folder)
    check_writable(folder / SWITCH)
    generation = folder / f"{_GENERATION}{time.time_ns():x}.{os.getpid()}"
    generation.mkdir()
    for name, data in files.items():
        with open_output(generation / name) as handle:
            handle.write(data)
    for name in files:
        link, wanted = folder / name, f"{SWITCH}/{name}"
        with contextlib.suppress(OSError):
            if os.readlink(link) == wanted:
                continue
        _atomic_link(wanted, link)
    _atomic_link(generation.name, folder / SWITCH)  # the switch
    for entry in os.scandir(folder):
        if entry.name not in files and entry.is_symlink():
            target = os.readlink(entry.path)
            if target.startswith(f"{SWITCH}/"):
                unlink_owned(Path(entry.path))
    for entry in os.scandir(folder):
        if entry.name.startswith(_GENERATION) and entry.name != generation.name:
            _remove_generation(Path(entry.path))


def _atomic_link(target: str, link: Path) -> None:
    check_writable(link)
    tmp = temporary_sibling(link)
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)
        if link.is_dir() and not link.is_symlink():
            raise OutputError(f"{link}: a folder is in the way of the list link; move it") from None
        raise


def _remove_generation(generation: Path) -> None:
    """Delete an old generation folder (plain files only; a folder is left for the user)."""
    if generation.is_symlink() or not generation.is_dir():
        return
    for entry in os.scandir(generation):
        if not entry.is_dir(follow_symlinks=False):
            unlink_owned(Path(entry.path))
    with contextlib.suppress(OSError):
        generation.rmdir()
