"""Run ``darknet detector train`` and follow it: log, records, progress, failures, Ctrl-C.

The chunks of stdout and stderr (``runner.Streaming``) are written to the log in the order they
arrive and split into lines per stream (a line can be cut anywhere between chunks).
"""

from __future__ import annotations

import codecs
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

from yof_darknet.errors import DarknetError
from yof_darknet.formats.trainlog import (
    LineSplitter,
    Record,
    Recorder,
    divergence_message,
    find_failure,
)
from yof_darknet.progress import Progress
from yof_darknet.runner import Streaming

_HANG_AFTER_FINAL_S = 60.0  # hank-ai may hang in free() after saving _final.weights


def _written_since(path: Path | None, started: float) -> bool:
    return path is not None and path.is_file() and path.stat().st_mtime >= started


class _Follower:
    """Per-stream decoding, line splitting and record building, plus the progress."""

    def __init__(self, rows: list[Record], progress: Progress) -> None:
        self.rows, self.progress = rows, progress
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
            self.progress.note(f"avg loss {current.avg_loss:.3f}")
            self.progress.advance_to(current.iteration)
            if current.diverged and self.failure is None:
                self.failure = divergence_message(current)

    def _add(self, records: list[Record]) -> None:
        self.rows.extend(records)
        for record in records:
            if record.map is not None:
                self.progress.write(
                    f"iteration {record.line.iteration}: mAP@0.50 = {record.map:.4f}"
                )


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
    # hank-ai's CPU builds ask before training
    run = Streaming(args, cwd=cwd, answer=b"yes\n" if answer_yes else None)
    reporter = Progress(  # on a terminal only: a log file would get every redraw of the bar
        "train", total=max_batches, initial=start, unit="it", enabled=progress, show="tty"
    )
    follower = _Follower(rows, reporter)
    interrupted, last_output = False, time.monotonic()
    with Path(log).open("ab") as handle:
        handle.write(f"# yof-darknet: {shlex.join(args)}\n".encode())
        try:
            while run.open_streams and follower.failure is None:
                got = run.next_chunk(timeout=1.0)
                if got is None:
                    idle = time.monotonic() - last_output
                    if idle > _HANG_AFTER_FINAL_S and _written_since(final_weights, started):
                        break
                    continue
                name, chunk = got
                last_output = time.monotonic()
                handle.write(chunk)
                handle.flush()
                follower.feed(name, chunk)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if run.open_streams or follower.failure is not None:
                run.stop()
            follower.finish()
            reporter.close()
    code = run.wait()
    if follower.failure is not None:
        raise DarknetError(f"{follower.failure} (full log: {log})")
    if code != 0 and not interrupted and not _written_since(final_weights, started):
        last = " | ".join(follower.tail[-3:])
        raise DarknetError(f"darknet exited with code {code}: {last} (full log: {log})")
    return interrupted
