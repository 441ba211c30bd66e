"""fileio and owned: writes never pass through links into inputs, prunes touch only owned
files, lists switch as one unit, a full disk leaves no half-written file, killed runs'
temporaries go."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.expw import tree_digest
from yof_darknet.core import fileio, owned
from yof_darknet.core.fileio import OutputError, atomic_write_bytes, atomic_write_text, protected
from yof_darknet.core.owned import Ledger, prune_owned, replace_together, sweep_temporaries


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


# --- one writer per output folder: real processes -------------------------------------------

_HOLDER = """
import sys, time
from pathlib import Path
from yof_darknet.core.owned import output_lock
target, shard = Path(sys.argv[1]), sys.argv[2]
shard = None if shard == "-" else tuple(int(v) for v in shard.split("/"))
with output_lock(target, folder=sys.argv[3] == "folder", shard=shard):
    print("holding", flush=True)
    time.sleep(float(sys.argv[4]))
"""


def _hold(target: Path, shard: str = "-", kind: str = "folder", seconds: float = 60):
    """A process holding ``target``'s lock, once it says so."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(target), shard, kind, str(seconds), "--out", "x"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line == "holding\n", process.stderr.read() if process.stderr else line
    return process


def _stop(process: subprocess.Popen) -> None:
    process.kill()
    process.wait(timeout=30)


def test_a_second_run_into_one_folder_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "out"
    first = _hold(out)
    try:
        with pytest.raises(OutputError) as caught, owned.output_lock(out):
            pass
        message = str(caught.value)
        assert f"pid {first.pid} on {socket.gethostname()}" in message
        assert "--out x" in message and "started 20" in message and "\n" not in message
        assert (out / owned.LOCK).exists()
    finally:
        _stop(first)
    with owned.output_lock(out):  # the killed holder's lock went with it (flock)
        pass
    assert not (out / owned.LOCK).exists(), "the last holder removes the lock file"


def test_shards_share_a_folder_each_holding_its_own_part(tmp_path):
    out = tmp_path / "out"
    shard0 = _hold(out, "0/2")
    shard1 = _hold(out, "1/2")  # another shard of the same array: allowed
    try:
        with pytest.raises(OutputError, match=r"shard 0/2"), owned.output_lock(out, shard=(0, 2)):
            pass  # the same shard twice: refused
        with pytest.raises(OutputError, match="another run is writing"), owned.output_lock(out):
            pass  # a run of the whole folder (a merge, a run without --shard): refused
    finally:
        _stop(shard0)
    with pytest.raises(OutputError, match=f"pid {shard1.pid}"), owned.output_lock(out):
        pass
    _stop(shard1)
    with owned.output_lock(out, shard=(0, 2)):
        pass
    assert sorted(p.name for p in out.iterdir()) == []


def test_a_plain_run_keeps_shards_out(tmp_path):
    out = tmp_path / "out"
    whole = _hold(out)
    try:
        refused = pytest.raises(OutputError, match=f"pid {whole.pid}")
        with refused, owned.output_lock(out, shard=(3, 8)):
            pass
    finally:
        _stop(whole)


def test_file_outputs_are_locked_one_by_one(tmp_path):
    one, two = tmp_path / "a.json", tmp_path / "b.json"
    holder = _hold(one, kind="file")
    try:
        with owned.output_lock(two, folder=False):  # another file of the same folder: fine
            pass
        with pytest.raises(OutputError, match=str(one)), owned.output_lock(one, folder=False):
            pass
    finally:
        _stop(holder)
    with owned.output_lock(one, folder=False):  # the killed holder's lock is free
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_lock_is_reentrant_within_a_process_and_refuses_inputs(tmp_path, raw):
    out = tmp_path / "out"
    with owned.output_lock(out), owned.output_lock(out):  # a stage that runs another stage
        assert (out / owned.LOCK).exists()
    refused = pytest.raises(OutputError, match="input folder")
    with protected(raw), refused, owned.output_lock(raw / "sub"):
        pass
    assert not (raw / "sub" / owned.LOCK).exists()


def test_a_file_in_the_way_of_the_folder_is_refused(tmp_path):
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(OutputError, match="is not a folder"), owned.output_lock(tmp_path / "out"):
        pass


def test_wait_takes_turns_with_the_holder(tmp_path):
    """``wait``: a writer that rewrites a file in turn with another waits for it, told who."""
    target = tmp_path / "results.csv"
    holder = _hold(target, kind="file", seconds=1.5)
    told: list[str] = []
    try:
        started = time.monotonic()
        with owned.output_lock(target, folder=False, wait=told.append):
            waited = time.monotonic() - started  # until the holder's sleep ended
    finally:
        _stop(holder)
    assert told == [told[0]] and f"pid {holder.pid}" in told[0]
    assert waited > 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == []


_BESIDE = """
import sys
from yof_darknet.core.owned import output_lock
with output_lock(sys.argv[1], beside=lambda who: print("beside", who, flush=True)):
    print("in", flush=True)
"""


def test_beside_goes_in_unlocked_saying_so_unless_its_parent_holds_it(tmp_path):
    """``beside``: a writer whose every write is under a lock of its own (the checkpoint scorer)
    goes into a held folder; told who holds it, except when that is the run that started it."""
    out = tmp_path / "out"
    holder = _hold(out)
    try:
        said: list[str] = []
        refused = pytest.raises(OutputError, match=f"pid {holder.pid}")
        with owned.output_lock(out, beside=said.append), refused, owned.output_lock(out):
            pass  # still the holder's: beside never takes it
        assert len(said) == 1 and f"pid {holder.pid}" in said[0]
    finally:
        _stop(holder)
    with owned.output_lock(out):  # this process holds it; a process it starts goes in quietly
        child = subprocess.run([sys.executable, "-c", _BESIDE, str(out)], capture_output=True,
                               text=True, timeout=120, check=True)  # fmt: skip
    assert child.stdout == "in\n"
    with owned.output_lock(out, beside=said.append):  # free: taken as usual
        assert (out / owned.LOCK).exists()
    assert len(said) == 1
