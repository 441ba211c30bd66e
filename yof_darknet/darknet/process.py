"""Run ``darknet detector train`` and follow it: log, records, progress bar, failures, Ctrl-C.

stdout and stderr are read on separate pipes by two threads; the chunks are written to the log
in the order they arrive and split into lines per stream (a line can be cut anywhere between
chunks). Darknet runs in its own process group so that stopping it stops its children too.
"""

from __future__ import annotations

import codecs
import os
import queue
import shlex
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from tqdm import tqdm

from yof_darknet.errors import DarknetError
from yof_darknet.formats.trainlog import (
    LineSplitter,
    Record,
    Recorder,
    divergence_message,
    find_failure,
)
from yof_darknet.runner import stop_group

_HANG_AFTER_FINAL_S = 60.0  # hank-ai may hang in free() after saving _final.weights


def _pump(name: str, pipe: IO[bytes], chunks: queue.Queue) -> None:
    while True:
        chunk = os.read(pipe.fileno(), 65536)
        chunks.put((name, chunk))
        if not chunk:
            return


def _written_since(path: Path | None, started: float) -> bool:
    return path is not None and path.is_file() and path.stat().st_mtime >= started


class _Follower:
    """Per-stream decoding, line splitting and record building, plus the progress bar."""

    def __init__(self, rows: list[Record], bar: tqdm) -> None:
        self.rows, self.bar = rows, bar
        self.decoders = {n: codecs.getincrementaldecoder("utf-8")("replace") for n in ("o", "e")}
        self.splitters = {n: LineSplitter() for n in ("o", "e")}
        self.recorders = {n: Recorder() for n in ("o", "e")}
        self.failure: str | None = None
        self.tail: list[str] = []

    def feed(self, name: str, chunk: bytes) -> None:
        text = self.decoders[name].decode(chunk, final=not chunk)
        lines = self.splitters[name].feed(text)
        if not chunk:
            lines += self.splitters[name].close()
        for line in lines:
            self._line(name, line)
        if not chunk:
            self._add(self.recorders[name].finish())

    def finish(self) -> None:
        """Emit the iterations still waiting for a possible mAP (the run is over)."""
        for recorder in self.recorders.values():
            self._add(recorder.finish())

    def _line(self, name: str, line: str) -> None:
        if line.strip():
            self.tail = [*self.tail[-9:], line.strip()]
        if self.failure is None:
            self.failure = find_failure(line)
        recorder = self.recorders[name]
        self._add(recorder.push(line))
        current = recorder.pending
        if current is not None:
            self.bar.set_postfix_str(f"avg loss {current.avg_loss:.3f}", refresh=False)
            if current.iteration > self.bar.n:
                self.bar.update(current.iteration - self.bar.n)
            if current.diverged and self.failure is None:
                self.failure = divergence_message(current)

    def _add(self, records: list[Record]) -> None:
        self.rows.extend(records)
        for record in records:
            if record.map is not None:
                self.bar.write(f"iteration {record.line.iteration}: mAP@0.50 = {record.map:.4f}")


def stream_training(
    args: Sequence[str],
    *,
    cwd: Path,
    log: Path,
    rows: list[Record],
    max_batches: int,
    start: int = 0,
    answer_yes: bool = False,
    final_weights: Path | None = None,
    progress: bool = True,
) -> bool:
    """Run ``args`` to the end, appending records to ``rows``; True when stopped by Ctrl-C.

    Raises ``DarknetError`` with the fix on a known failure or an unexplained exit.
    """
    started = time.time() - 1  # mtime granularity
    process = subprocess.Popen(
        list(args),
        cwd=cwd,
        stdin=subprocess.PIPE if answer_yes else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    if answer_yes and process.stdin is not None:  # hank-ai's CPU builds ask before training
        process.stdin.write(b"yes\n")
        process.stdin.close()
    chunks: queue.Queue = queue.Queue()
    for name, pipe in (("o", process.stdout), ("e", process.stderr)):
        threading.Thread(target=_pump, args=(name, pipe, chunks), daemon=True).start()
    bar = tqdm(  # disable=None: no bar when stderr is not a terminal (the log has it all)
        total=max_batches,
        initial=start,
        unit="it",
        desc="train",
        disable=None if progress else True,
    )
    follower = _Follower(rows, bar)
    interrupted, open_streams, last_output = False, 2, time.monotonic()
    with Path(log).open("ab") as handle:
        handle.write(f"# yof-darknet: {shlex.join(args)}\n".encode())
        try:
            while open_streams and follower.failure is None:
                try:
                    name, chunk = chunks.get(timeout=1.0)
                except queue.Empty:
                    idle = time.monotonic() - last_output
                    if idle > _HANG_AFTER_FINAL_S and _written_since(final_weights, started):
                        break
                    continue
                last_output = time.monotonic()
                handle.write(chunk)
                handle.flush()
                follower.feed(name, chunk)
                open_streams -= not chunk
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if open_streams or follower.failure is not None:
                stop_group(process)
            follower.finish()
            bar.close()
    code = process.wait()
    if follower.failure is not None:
        raise DarknetError(f"{follower.failure} (full log: {log})")
    if code != 0 and not interrupted and not _written_since(final_weights, started):
        last = " | ".join(follower.tail[-3:])
        raise DarknetError(f"darknet exited with code {code}: {last} (full log: {log})")
    return interrupted
