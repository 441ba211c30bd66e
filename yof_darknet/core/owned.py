"""What the package owns in its output folders, and the sweeping up after killed runs.

- Pruning deletes only what the package wrote: each output folder keeps a ledger
  (``.yof-written``) of the names written there, recorded *before* each write, and
  ``prune_owned`` never deletes a name the ledger does not hold, never follows a link, and never
  descends into a linked folder.
- ``replace_together`` writes a set of files (the lists, ``obj.data``, ``stats.json``) as one
  unit: a new generation folder, then one rename of a link switches every file at once.
- ``sweep_temporaries`` removes what killed runs left (temporary siblings of dead processes);
  ``replace_together`` removes older list generations.
- ``output_lock`` makes one run at a time the writer of an output folder (or file): a lock
  file in it, held with ``flock`` (released by the system when the process dies, however it
  dies), saying which run holds it. Runs that may share a folder (the shards of a SLURM array,
  each on its own part) take it shared, and each its own shard exclusively. A writer that
  keeps to files it locks one by one (the checkpoint scorer beside a training) may go in
  ``beside`` the holder; files rewritten by several processes in turn are locked with ``wait``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shlex
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from glob import escape as glob_escape
from pathlib import Path

from yof_darknet.core.fileio import (
    OutputError,
    atomic_write_bytes,
    check_output_folder,
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
    with contextlib.suppress(FileNotFoundError):
        mode = link.lstat().st_mode
        if not (stat.S_ISLNK(mode) or stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise OutputError(f"{link}: a device or FIFO is in the way of the list link; move it")
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


LOCK = ".yof-lock"
_held: dict[str, int] = {}  # lock file (resolved) -> how many blocks of this process hold it


def _holder_record(shard: tuple[int, int] | None) -> bytes:
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "started": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
    }
    if shard is not None:
        record["shard"] = f"{shard[0]}/{shard[1]}"
    return (json.dumps(record) + "\n").encode()


def _holder(lock: Path) -> str:
    """Who holds ``lock``: the newest record in it of a run that may still be alive (shared
    holders each add one; records of ended runs on this host are passed over)."""
    host = socket.gethostname()
    try:
        records = [json.loads(line) for line in lock.read_bytes().splitlines() if line.strip()]
        alive = [
            r for r in records
            if r["host"] != host or (r["pid"] != os.getpid() and _alive(int(r["pid"])))
        ]  # fmt: skip
        record = (alive or records)[-1]
        return (
            f"pid {record['pid']} on {record['host']}, started {record['started']}: "
            f"{record['command']}"
        )
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return f"a run that has not said who it is yet (see {lock})"


def _held_by_parent(lock: Path) -> bool:
    """Whether the process that started this one (on this host) holds ``lock``."""
    host, parent = socket.gethostname(), os.getppid()
    try:
        records = [json.loads(line) for line in lock.read_bytes().splitlines() if line.strip()]
        return any(r["host"] == host and int(r["pid"]) == parent for r in records)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _acquire(lock: Path, exclusive: bool, block: bool = False) -> int | None:
    """A descriptor of ``lock`` locked as asked, or None when another process holds it (with
    ``block``: once it lets go). The file is created when missing; a file removed by its last
    holder meanwhile is not taken."""
    for _ in range(100):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        try:
            mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            fcntl.flock(fd, mode if block else mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # its holder removed it as we opened it: take the new one
    raise OutputError(f"{lock}: the lock file keeps changing; is a run looping on this folder?")


def _release(lock: Path, fd: int) -> None:
    """Unlock; the last holder removes the lock file (it takes it exclusively first)."""
    try:
        with contextlib.suppress(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
    finally:
        os.close(fd)


Holder = Callable[[str], None]  # told who holds a lock (pid, host, start, command)


@contextlib.contextmanager
def _locked(
    lock: Path,
    exclusive: bool,
    shard: tuple[int, int] | None,
    what: str,
    wait: Holder | None = None,
    beside: Holder | None = None,
) -> Iterator[None]:
    key = os.path.realpath(lock)
    if _held.get(key):  # this process holds it already (a stage run by another stage)
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    check_writable(lock)
    fd = _acquire(lock, exclusive)
    if fd is None and beside is not None:  # held: go in beside the holder, unlocked
        if not _held_by_parent(lock):  # the run that started this one needs no telling
            beside(_holder(lock))
        yield
        return
    if fd is None and wait is not None:
        wait(_holder(lock))
        fd = _acquire(lock, exclusive, block=True)
    if fd is None:
        raise OutputError(
            f"{what}: another run is writing there ({_holder(lock)}); two runs into one output "
            "would mix their files: wait for it to end, stop it, or choose another output"
            + (" (SLURM array tasks: give each --shard auto)" if shard is None else "")
        )
    record = _holder_record(shard)
    try:
        if exclusive:
            os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, record)
        _held[key] = 1
        yield
    finally:
        _held.pop(key, None)
        _release(lock, fd)


def _sweep_locks(lock: Path) -> None:
    """Remove the shard lock files beside ``lock`` that nobody holds (left by killed shards)."""
    for path in lock.parent.glob(f"{glob_escape(lock.name)}.shard-*"):
        fd = _acquire(path, exclusive=True) if not path.is_symlink() else None
        if fd is not None:
            _release(path, fd)


@contextlib.contextmanager
def output_lock(
    target: Path,
    *,
    folder: bool = True,
    shard: tuple[int, int] | None = None,
    wait: Holder | None = None,
    beside: Holder | None = None,
):
    """Hold ``target`` (an output folder, created if missing; ``folder=False``: an output file,
    locked through a hidden lock file beside it) for this run, or raise ``OutputError`` naming
    the run that holds it (pid, host, command, start). ``shard``: this run writes only its
    shard of the folder: shards share the folder and each holds its own shard alone.

    ``wait``: when another run holds it, call ``wait`` with who holds it and wait for it to let
    go instead of raising (runs that rewrite one file in turn). ``beside``: when another run
    holds it, run the block without the lock, after calling ``beside`` with who holds it
    (unless the holder is the process that started this one): for a writer whose every write
    there is under a lock of its own (the checkpoint scorer beside a training).

    The lock is ``flock``: the system releases it when the process ends, even by SIGKILL, so
    a killed run never leaves a folder locked. The last holder removes the lock file.
    """
    target = Path(target)
    if folder:
        check_output_folder(target)
        lock = target / LOCK
    else:
        lock = target.with_name(f".{target.name}{LOCK}")
    check_writable(lock)
    made = not lock.parent.exists()
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(_locked(lock, shard is None, shard, str(target), wait, beside))
            if shard is not None:
                own = lock.with_name(f"{lock.name}.shard-{shard[0]}-of-{shard[1]}")
                what = f"{target} (shard {shard[0]}/{shard[1]})"
                stack.enter_context(_locked(own, True, shard, what))
            yield
    finally:
        _sweep_locks(lock)
        if made:  # a run that wrote nothing leaves no empty folder behind
            with contextlib.suppress(OSError):
                lock.parent.rmdir()
