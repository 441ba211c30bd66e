"""Run ``darknet detector train`` and follow it: log, records, progress, failures, Ctrl-C.

The chunks of stdout and stderr (``runner.Streaming``) are written to the log in the order they
arrive and split into lines per stream (a line can be cut anywhere between chunks).
"""

from __future__ import annotations

import codecs
import shlex
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from yof_darknet.core.errors import DarknetError
from yof_darknet.core.fileio import named, open_output
from yof_darknet.formats.trainlog import (
    LineSplitter,
    Record,
    Recorder,
    TrainLine,
    divergence_message,
    find_failure,
)
from yof_darknet.tools.runner import Streaming, death_message
from yof_darknet.training.losswatch import LossWatch, stop_message
from yof_darknet.training.trainprogress import TrainProgress

_HANG_AFTER_FINAL_S = 60.0  # hank-ai may hang in free() after saving _final.weights
# after a save, what darknet printed before it may still be on its way through the pipe: read
# until this long without output, for at most _DRAIN_MAX_S (darknet may print on without a pause)
_DRAIN_S = 0.1
_DRAIN_MAX_S = 1.0


def _written_since(path: Path | None, started: float) -> bool:
    return path is not None and path.is_file() and path.stat().st_mtime >= started


class _Follower:
    """Per-stream decoding, line splitting and record building, plus the progress and the
    loss watch (whose notes wait in ``notes`` for their place in the log)."""

    def __init__(
        self, rows: list[Record], progress: TrainProgress, watch: LossWatch | None = None
    ) -> None:
        self.rows, self.progress, self.watch = rows, progress, watch
        self.decoders = {n: codecs.getincrementaldecoder("utf-8")("replace") for n in ("o", "e")}
        self.splitters = {n: LineSplitter() for n in ("o", "e")}
        self.recorders = {n: Recorder() for n in ("o", "e")}
        self.failure: str | None = None
        self.tail: list[str] = []
        self.notes: list[str] = []
        self.rises: dict[int, float] = {}
        self.watched: TrainLine | None = None
        self.exploded = False

    def write_notes(self, handle: BinaryIO, at_line_start: bool) -> None:
        """Append the watch's notes to the log, each a line of ours (``# yof-darknet: ...``),
        once darknet's output there ends a line (else they would cut one of its lines)."""
        if self.notes and at_line_start:
            handle.write(b"".join(f"# yof-darknet: {note}\n".encode() for note in self.notes))
            self.notes = []

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
            if current is not self.watched:
                self.watched = current
                self._watch(current)
            self.progress.iteration(current, rising=self.rising)
            if current.diverged and self.failure is None:
                self.failure = divergence_message(current)

    @property
    def rising(self) -> float | None:
        """The rise of the average loss while the watch warns, else None."""
        watch = self.watch
        return watch.rise if watch is not None and watch.above_since is not None else None

    def _watch(self, line: TrainLine) -> None:
        if self.watch is None:
            return
        event = self.watch.observe(line)
        if self.watch.rise is not None:
            self.rises[line.iteration] = round(self.watch.rise, 4)
        if event is None:
            return
        if event.kind == "stop":
            if self.failure is None:
                self.failure = stop_message(event, self.watch.max_rise, self.watch.fixes)
                self.exploded = True
                self.notes.append(f"LOSS STOP: {self.failure}")
            return
        message = self.watch.warning(event)
        self.notes.append(message)
        self.progress.loss_warning(message)

    def _add(self, records: list[Record]) -> None:
        records = [replace(r, loss_rise=self.rises.get(r.line.iteration)) for r in records]
        self.rows.extend(records)
        for record in records:
            if record.map is not None:
                self.progress.mean_average_precision(record.line.iteration, record.map)


class _SaveWatch:
    """Calls ``on_save`` when a file in ``folder`` is new or rewritten (darknet saved weights)."""

    def __init__(self, folder: Path | None, on_save: Callable[[], None] | None) -> None:
        self.folder, self.on_save = folder, on_save
        self.seen = self._state()

    def _state(self) -> dict[str, int]:
        if self.folder is None or self.on_save is None or not self.folder.is_dir():
            return {}
        return {p.name: p.stat().st_mtime_ns for p in self.folder.iterdir() if p.is_file()}

    def changed(self) -> bool:
        """Whether a file was saved since the last look."""
        state = self._state()
        changed = any(self.seen.get(name) != mtime for name, mtime in state.items())
        self.seen = state
        return changed

    def save(self) -> None:
        if self.on_save is not None:
            self.on_save()


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
    on_save: Callable[[], None] | None = None,
    watch: LossWatch | None = None,
) -> bool:
    """Run ``args`` (line-buffered through ``stdbuf`` where it exists) to the end, appending
    records to ``rows``; True when stopped by Ctrl-C.

    ``on_save`` is called whenever darknet has saved weights (a file in the folder of
    ``final_weights`` changed): the run's results.csv/png follow the training. ``watch`` judges
    every iteration's average loss (its notes go to the log and the progress). Raises
    ``DarknetError`` with the fix on a known failure or an unexplained exit, ``LossExploded``
    when the watch stopped the run.
    """
    started = time.time() - 1  # mtime granularity
    if stdbuf := shutil.which("stdbuf"):  # pjreddie's stdout is block-buffered on a pipe
        args = [stdbuf, "-oL", *args]
    # the weights folder as it was before darknet starts: a save however early is a change
    saves = _SaveWatch(final_weights.parent if final_weights else None, on_save)
    # hank-ai's CPU builds ask before training
    run = Streaming(args, cwd=cwd, answer=b"yes\n" if answer_yes else None)
    # a bar on a terminal; else a progress line at a steady interval (a log gets no redraws)
    reporter = TrainProgress(max_batches, start, enabled=progress)
    follower = _Follower(rows, reporter, watch)
    interrupted, last_output, line_start = False, time.monotonic(), True
    with open_output(Path(log), append=True) as handle:
        handle.write(f"# yof-darknet: {shlex.join(args)}\n".encode())
        try:
            while run.open_streams and follower.failure is None:
                reporter.tick()
                # darknet prints an iteration's line before it saves: read all it printed, in
                # however many chunks, before results.csv is rewritten, so the save has that row
                saved = saves.changed()
                got = run.next_chunk(timeout=1.0)
                drain_until = time.monotonic() + _DRAIN_MAX_S
                while got is not None:
                    name, chunk = got
                    last_output = time.monotonic()
                    follower.feed(name, chunk)  # before the write: its notes follow the chunk
                    line_start = chunk.endswith((b"\n", b"\r")) if chunk else line_start
                    try:
                        handle.write(chunk)
                        follower.write_notes(handle, line_start)
                        handle.flush()
                    except OSError as exc:  # a full disk: stop darknet, name the log
                        raise named(exc, log) from exc
                    more = saved and time.monotonic() < drain_until and follower.failure is None
                    got = run.next_chunk(timeout=_DRAIN_S) if more else None
                if saved:
                    saves.save()
                idle = time.monotonic() - last_output
                hung = idle > _HANG_AFTER_FINAL_S
                if hung and _written_since(final_weights, started):
                    break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if run.open_streams or follower.failure is not None:
                run.stop()
            follower.finish()
            reporter.close()
            if follower.notes and not line_start:
                handle.write(b"\n")
            follower.write_notes(handle, True)
    code = run.wait()
    if follower.exploded:
        raise LossExploded(f"{follower.failure} (full log: {log})")
    if follower.failure is not None:
        raise DarknetError(f"{follower.failure} (full log: {log})")
    if code != 0 and not interrupted and not _written_since(final_weights, started):
        raise DarknetDied(f"{death_message(code, follower.tail)} (full log: {log})")
    return interrupted


class DarknetDied(DarknetError):
    """Darknet stopped without a message we know: killed, crashed, or an exit code alone."""


class LossExploded(DarknetError):
    """The loss watch stopped darknet: its average loss climbed past the limit."""
