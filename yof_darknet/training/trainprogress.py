"""What a training shows while it runs: the ``Progress`` bar on a terminal; otherwise (nohup,
sbatch, CI, a pipe) one line on stderr at a steady interval, e.g.::

    train: iteration 1200/14000 (8.6 %), avg loss 3.412, mAP@0.50 0.4123 (iteration 1000),
    412.3 images/s, ETA 2:41:07 (darknet's estimate)

While the loss watch warns, the loss says so (``avg loss 61.200 (LOSS RISING: 30.6x its
minimum)``), and the watch's notes are printed when they come.

The ETA is darknet's own when it prints one (AlexeyAB's ``hours left``, hank-ai's ``time
remaining``: its timing of the GPU work), else the wall-clock rate of this run so far.
``YOF_PROGRESS_SECONDS`` sets the interval (default 60).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TextIO

from yof_darknet.core.progress import Progress
from yof_darknet.formats.trainlog import TrainLine

DEFAULT_INTERVAL_S = 60.0


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(max(seconds, 0.0))))


class TrainProgress(Progress):
    """``Progress`` fed darknet's iterations and mAPs; without a terminal, ``tick()`` (called at
    least once a second) prints the progress line when the interval has passed."""

    def __init__(
        self,
        total: int,
        start: int = 0,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.clock = clock
        self.lines = enabled and not self.stream.isatty()
        if interval_s is None:
            interval_s = float(os.environ.get("YOF_PROGRESS_SECONDS", DEFAULT_INTERVAL_S))
        self.interval_s = interval_s
        # the bar on a terminal only: a log file would get every redraw of it
        super().__init__(
            "train", total=total, initial=start, unit="it", enabled=enabled and not self.lines,
            show="tty",
        )  # fmt: skip
        self.last: TrainLine | None = None
        self.rising: float | None = None
        self.map: tuple[int, float] | None = None
        self.started = self.printed_at = clock()
        self.first: tuple[TrainLine, float] | None = None  # the first iteration seen, when
        self.window: tuple[int, int, float] | None = None  # iteration, images, time of last line

    def iteration(self, line: TrainLine, *, rising: float | None = None) -> None:
        """Darknet's newest iteration; ``rising``: the loss watch's rise while it warns."""
        now = self.clock()
        if self.first is None:
            self.first = (line, now)
            self.window = (line.iteration, line.images, now)
        self.last, self.rising = line, rising
        self.note(self._loss())
        self.advance_to(line.iteration)

    def loss_warning(self, message: str) -> None:
        """A note of the loss watch (the loss rising, or back down), shown at once."""
        if self.lines:
            self._print(f"train: {message}")
        else:
            self.write(message)

    def _loss(self) -> str:
        assert self.last is not None
        rising = "" if self.rising is None else f" (LOSS RISING: {self.rising:.1f}x its minimum)"
        return f"avg loss {self.last.avg_loss:.3f}{rising}"

    def mean_average_precision(self, iteration: int, value: float) -> None:
        self.map = (iteration, value)
        message = f"iteration {iteration}: mAP@0.50 = {value:.4f}"
        if self.lines:
            self._print(f"train: {message}")
        else:
            self.write(message)

    def tick(self) -> None:
        if (
            self.lines
            and self.last is not None
            and self.clock() - self.printed_at >= self.interval_s
        ):
            self._print(self.line())

    def close(self) -> None:
        if self.lines and self.last is not None:
            self._print(self.line())
        super().close()

    def line(self) -> str:
        """The progress record now: iteration, avg loss, mAP, images/s, ETA."""
        assert self.last is not None and self.first is not None and self.window is not None
        now, last = self.clock(), self.last
        share = 100 * last.iteration / self.total if self.total else 0.0
        parts = [
            f"train: iteration {last.iteration}/{self.total} ({share:.1f} %)",
            self._loss(),
        ]
        if self.map is not None:
            parts.append(f"mAP@0.50 {self.map[1]:.4f} (iteration {self.map[0]})")
        iteration, images, then = self.window
        if last.iteration == iteration and now > then:
            parts.append(f"no new iteration for {_duration(now - then)}")
        elif now > then:
            parts.append(f"{(last.images - images) / (now - then):.1f} images/s")
        parts.append(f"ETA {self._eta(now)}")
        if last.iteration != iteration:
            self.window = (last.iteration, last.images, now)
        return ", ".join(parts)

    def _eta(self, now: float) -> str:
        last = self.last
        assert last is not None and self.first is not None
        if last.seconds_left is not None and last.seconds_left > 0:
            return f"{_duration(last.seconds_left)} (darknet's estimate)"
        done = last.iteration - self.first[0].iteration
        if done <= 0 or self.total is None:
            return "unknown"
        per_iteration = (now - self.first[1]) / done
        return _duration((self.total - last.iteration) * per_iteration)

    def _print(self, text: str) -> None:
        self.printed_at = self.clock()
        print(text, file=self.stream, flush=True)
