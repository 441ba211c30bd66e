"""The loss watch: a training whose average loss climbs far above its running minimum without
reaching NaN is reported while it happens and, past a limit, stopped with the cause and the fix.

darknet's ``avg loss`` (every flavor: pjreddie, AlexeyAB, hank-ai) is an exponential average,
``0.9 * avg + 0.1 * loss``, that starts at the first iteration's loss. The rule, per darknet run
(a resumed run starts it again, as darknet starts its average again):

* the first ``SETTLE_ITERATIONS`` iterations are not judged: the average still carries the
  first batch's loss, and from scratch it drifts up a little before the rate ramps up;
* after them, ``rise`` = avg loss / the lowest avg loss since then (``results.csv``'s
  ``loss_rise``); a loss that only falls has a rise of 1;
* rise above ``WARN_RISE``: a warning (progress, ``train.log``, a ``LossEvent`` "warn"), and a
  note when it is back below;
* rise above the limit (``--max-loss-rise``, default ``DEFAULT_MAX_RISE``), or above
  ``WARN_RISE`` for ``SUSTAINED_ITERATIONS`` in a row: the run stops (a "stop" event); limit 0
  never stops (the rise is still reported).

The constants come from real runs (docs/guides/real-training.md, "The loss watch"): healthy
runs stay below 1.4x their minimum on drawn shapes (every flavor) and below 2.3x on real ExpW
faces (single bad batches); a run made to explode (Debian's darknet, rate 0.01) passed 10x 14
iterations before its loss reached inf; the run the watch was made for (the sample profile on
real ExpW faces) went from about 2 to about 220 and back and learned nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import Section, net, net_int
from yof_darknet.formats.trainlog import TrainLine

SETTLE_ITERATIONS = 20  # the first batch's loss weighs 0.9^20 = 12 % of the average by then
# healthy real runs: at most 1.33x (pjreddie), 1.17x (AlexeyAB, hank-ai) on drawn shapes, 2.26x
# on real ExpW faces (the sample profile, pjreddie: one bad batch)
WARN_RISE = 3.0
# the run made to explode passed 10x at iteration 54, inf came at 68; the reported real-face
# spike reached about 110x
DEFAULT_MAX_RISE = 10.0
# one bad batch lifts the average for 10 to 30 iterations (the real ExpW run at 93, 183, 198)
SUSTAINED_ITERATIONS = 100
# The fix, from the real runs: the sample profile (rate 0.005, burn-in 50, batch 8) exploded on
# real faces; rate / 5, burn-in x 4 and batch x 2 (0.001, 200, 16) trained them without a spike.
RATE_DIVISOR = 5
BURN_IN_FACTOR = 4
BATCH_FACTOR = 2


@dataclass(frozen=True)
class LossEvent:
    """A change of the watch's state at one iteration: ``warn``, ``calm`` (back below the
    warning level) or ``stop``."""

    kind: str
    iteration: int
    avg_loss: float
    rise: float
    minimum: float
    minimum_at: int
    peak: float = 0.0  # calm: the highest rise of the episode
    sustained: bool = False  # stop: above the warning level too long rather than too high

    def summary(self) -> str:
        return (
            f"avg loss {self.avg_loss:.3f} at iteration {self.iteration} is {self.rise:.1f}x "
            f"its minimum {self.minimum:.3f} (iteration {self.minimum_at})"
        )


def fix_settings(sections: Sequence[Section]) -> list[str]:
    """The ``--set`` settings to try after an explosion, from the run cfg's values: a lower
    learning rate, a longer burn-in, a larger batch (subdivisions raised with it, so that a
    mini-batch holds as many images as before and needs no more memory)."""
    text = net(sections).get("learning_rate", "0.001")
    try:
        rate = float(text or "0.001")
    except ValueError as exc:
        raise DarknetError(f"[net] learning_rate={text!r} is not a number") from exc
    burn_in = net_int(sections, "burn_in", 0)
    batch = net_int(sections, "batch", 1)
    subdivisions = net_int(sections, "subdivisions", 1)
    return [
        f"learning_rate={rate / RATE_DIVISOR:.3g}",
        f"burn_in={max(burn_in, SETTLE_ITERATIONS) * BURN_IN_FACTOR}",
        f"batch={batch * BATCH_FACTOR}",
        f"subdivisions={subdivisions * BATCH_FACTOR}",
    ]


def stop_message(event: LossEvent, max_rise: float, fixes: Sequence[str]) -> str:
    """Why the run stopped and what to change, with the exact ``--set`` to try."""
    if event.sustained:
        why = f"it stayed above {WARN_RISE:g}x for {SUSTAINED_ITERATIONS} iterations"
    else:
        why = f"past the limit of {max_rise:g}x (--max-loss-rise)"
    rate, burn_in, *batch = (f"--set {item}" for item in fixes)
    return (
        f"training stopped: the loss exploded without reaching NaN: {event.summary()}, {why}. "
        "The learning rate is too high for this data and batch; try a lower learning rate "
        f"({rate}), a longer burn-in ({burn_in}) or a larger batch ({' '.join(batch)}), or "
        "--max-loss-rise 0 to train on regardless"
    )


class LossWatch:
    """Feed it every iteration (``observe``); it answers the events and keeps ``rise``.
    ``fixes``: ``fix_settings`` of the run cfg, for the stop's message."""

    def __init__(self, max_rise: float, fixes: Sequence[str]) -> None:
        self.max_rise, self.fixes = max_rise, list(fixes)
        self.rise: float | None = None  # of the last iteration observed (None: not judged)
        self.first: int | None = None
        self.minimum: tuple[float, int] | None = None  # (avg loss, iteration)
        self.above_since: int | None = None  # first iteration of the current warning
        self.peak = 0.0
        self.stopped = False

    def observe(self, line: TrainLine) -> LossEvent | None:
        """The event this iteration brings, if any (``stop`` once; nothing after it)."""
        self.rise = None
        if self.first is None:
            self.first = line.iteration
        if line.iteration - self.first < SETTLE_ITERATIONS or not math.isfinite(line.avg_loss):
            return None  # NaN/inf: the divergence check's case
        if self.minimum is None or line.avg_loss < self.minimum[0]:
            self.minimum = (line.avg_loss, line.iteration)
        low, low_at = self.minimum
        self.rise = line.avg_loss / low if low > 0 else 1.0
        event = LossEvent("", line.iteration, line.avg_loss, self.rise, low, low_at)
        if self.stopped:
            return None
        if self.rise <= WARN_RISE:
            if self.above_since is None:
                return None
            peak, self.above_since, self.peak = self.peak, None, 0.0
            return _kind(event, "calm", peak=peak)
        self.peak = max(self.peak, self.rise)
        started = self.above_since is None
        if started:
            self.above_since = line.iteration
        assert self.above_since is not None
        if self.max_rise > 0:
            sustained = line.iteration - self.above_since >= SUSTAINED_ITERATIONS
            if self.rise > self.max_rise or sustained:
                self.stopped = True
                return _kind(event, "stop", sustained=self.rise <= self.max_rise)
        return _kind(event, "warn") if started else None

    def warning(self, event: LossEvent) -> str:
        """The line that reports a ``warn`` or ``calm`` event."""
        if event.kind == "calm":
            return (
                f"avg loss back under {WARN_RISE:g}x its minimum at iteration {event.iteration} "
                f"({event.avg_loss:.3f}; it peaked at {event.peak:.1f}x)"
            )
        limit = (
            f"the run stops past {self.max_rise:g}x (--max-loss-rise)"
            if self.max_rise > 0
            else "--max-loss-rise 0: the run goes on"
        )
        return f"LOSS RISING: {event.summary()}: the training is unstable; {limit}"


def _kind(event: LossEvent, kind: str, **changes: float | bool) -> LossEvent:
    return replace(event, kind=kind, **changes)  # type: ignore[arg-type]
