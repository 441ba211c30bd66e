"""How every long stage reports progress: one class, as torchvision's ``MetricLogger`` serves both
training and evaluation.

A ``Progress`` shows a tqdm bar on stderr: always (``show="always"``) or only when stderr is a
terminal (``show="tty"``: a log file then gets no bar); nothing when the stage runs with
``progress=False`` (``enabled=False``). Stages report through these calls, whatever is shown::

    with Progress("expw: writing", total=len(items), unit="img", enabled=progress) as progress:
        for item in progress.iterate(items):
            ...
        progress.update(2)                          # count more done
        progress.advance_to(iteration)              # an absolute position (training iterations)
        progress.note(f"avg loss {loss:.3f}")       # a short status beside the bar
        progress.write("iteration 100: mAP = 0.3")  # a whole line, above the bar

Another display (lines every few seconds when stderr is no terminal, say) is one more ``show``
value handled in ``_open``, or a subclass overriding these calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal, TypeVar

from tqdm import tqdm

T = TypeVar("T")
Show = Literal["always", "tty"]


class Progress:
    """The progress of one long stage: how far it is, out of how much, and what it says."""

    def __init__(
        self,
        desc: str,
        *,
        total: float | None = None,
        initial: float = 0,
        unit: str = "it",
        unit_scale: bool = False,
        enabled: bool = True,
        show: Show = "always",
    ) -> None:
        self.desc, self.total, self.unit, self.show = desc, total, unit, show
        self._bar = self._open(initial, unit_scale, enabled)

    def _open(self, initial: float, unit_scale: bool, enabled: bool) -> tqdm:
        # disable=None: tqdm shows the bar only when stderr is a terminal
        disable = (None if self.show == "tty" else False) if enabled else True
        return tqdm(
            total=self.total,
            initial=initial,
            desc=self.desc,
            unit=self.unit,
            unit_scale=unit_scale,
            disable=disable,
        )

    def update(self, n: float = 1) -> None:
        self._bar.update(n)

    def advance_to(self, position: float) -> None:
        """Move forward to ``position``; a position behind the current one is ignored."""
        if position > self._bar.n:
            self._bar.update(position - self._bar.n)

    def iterate(self, items: Iterable[T]) -> Iterator[T]:
        """``items`` one by one, counting each."""
        for item in items:
            yield item
            self._bar.update()

    def note(self, text: str) -> None:
        """A short status shown beside the bar (the latest loss...), drawn with the next update."""
        self._bar.set_postfix_str(text, refresh=False)

    def write(self, line: str) -> None:
        """A whole line for the user, printed above the bar (or alone when no bar is shown)."""
        self._bar.write(line)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
