"""What the package owns in its output folders, and the sweeping up after killed runs.

- Pruning deletes only what the package wrote: each output folder keeps a ledger
  (``.yof-written``) of the names written there, recorded *before* each write, and
  ``prune_owned`` never deletes a name the ledger does not hold, never follows a link, and never
  descends into a linked folder.
- ``replace_together`` writes a set of files (the lists, ``obj.data``, ``stats.json``) as one
  unit: a new generation folder, then one rename of a link switches every file at once.
- ``sweep_temporaries`` removes what killed runs left (temporary siblings of dead processes);
  ``replace_together`` removes older list generations.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from yof_darknet.fileio import (
    OutputError,
    atomic_write_bytes,
    check_writable,
    open_output,
    temporary_sibling,
    unlink_owned,
)

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
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "a file is in the way of this folder", str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def refuse_linked_folders(root: Path) -> None:
    """Raise ``OutputError`` if ``root`` or a folder below it is a link: the package writes its
    own trees (the embedded sample) only into real folders, never through a link elsewhere."""
    root = Path(root)
    if root.is_symlink():
        raise OutputError(
            f"{root}: is a link (to {os.readlink(root)}); outputs are never written through "
            "links: remove it or choose another folder"
        )
    for dirpath, dirnames, _ in os.walk(root):
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                refuse_linked_folders(Path(dirpath) / name)


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
