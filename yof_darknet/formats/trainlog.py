"""Parse darknet's training output, all three flavors, as it streams.

Iteration lines, after removing escape sequences:

* pjreddie:  ``1: 82.260246, 82.260246 avg, 0.000000 rate, 3.454959 seconds, 8 images``
* AlexeyAB:  `` 1: 47.474121, 47.474121 avg loss, 0.000000 rate, 6.837870 seconds, 8 images,
  -1.000000 hours left`` (preceded by a ``ESC[H ESC[J ... BEL`` title line)
* hank-ai:   ``1: loss=64.684, avg loss=64.684, last=none, best=none, mAP=100,
  rate=0.00000160, load 8=11.9 milliseconds, train=1.7 seconds, 8 images, time remaining=39``
  (preceded by an ``ESC]2;... BEL`` xterm title and coloured with SGR codes)

mAP during training: AlexeyAB ``mean_average_precision (mAP@0.50) = 0.292910`` (a fraction);
hank-ai ``-> mean average precision (mAP@0.50)=82.56%`` (percent). Feed each stream's chunks to
its own ``LineSplitter``: pjreddie's stdout arrives in 4 KiB blocks, cut anywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

ESCAPES = re.compile(r"\x1b\][^\x07]*\x07|\x1b\[[0-9;?]*[A-Za-z]|\x07")
_NUM = r"-?nan|-?inf|-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
_CLASSIC = re.compile(
    # `classifier train` prints the epoch after the iteration: "20, 1.100: 0.28, 0.66 avg, ..."
    rf"^\s*(?P<it>\d+)(?:, [\d.]+)?: (?P<loss>{_NUM}), (?P<avg>{_NUM}) avg(?: loss)?, "
    rf"(?P<lr>{_NUM}) rate, "
    rf"(?P<sec>{_NUM}) seconds, (?P<images>\d+) images(?:, (?P<left>{_NUM}) hours left)?"
)
_HANKAI = re.compile(
    rf"^\s*(?P<it>\d+): loss=(?P<loss>{_NUM}), avg loss=(?P<avg>{_NUM}), last=(?P<last>\S+?), "
    rf"best=(?P<best>\S+?), mAP=(?P<next>\w+), rate=(?P<lr>{_NUM}), load \d+=(?P<load>[^,]+), "
    r"train=(?P<train>[^,]+), (?P<images>\d+) images, time remaining=(?P<left>.+?)\s*$"
)
_MAP_ALEXEYAB = re.compile(r"^\s*mean_average_precision \(mAP@(?P<iou>[\d.]+)\) = (?P<v>[\d.]+)")
_MAP_HANKAI = re.compile(r"^\s*-> mean average precision \(mAP@(?P<iou>[\d.]+)\)=(?P<v>[\d.]+)%")
_UNITS_S = {
    "millisecond": 1e-3,
    "milliseconds": 1e-3,
    "second": 1.0,
    "seconds": 1.0,
    "minute": 60.0,
    "minutes": 60.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "day": 86400.0,
    "days": 86400.0,
}


@dataclass(frozen=True)
class TrainLine:
    """One iteration as darknet printed it; ``seconds`` is that iteration's training time."""

    iteration: int
    loss: float
    avg_loss: float
    lr: float
    seconds: float
    images: int
    seconds_left: float | None = None  # darknet's own estimate, when it printed one

    @property
    def diverged(self) -> bool:
        """The running average is NaN/inf: it can never recover, training is lost."""
        return not math.isfinite(self.avg_loss)


def strip_escapes(text: str) -> str:
    """Remove ANSI SGR/cursor codes, xterm title sequences and bells."""
    return ESCAPES.sub("", text)


def parse_duration_s(text: str) -> float | None:
    """hank-ai durations: ``12.5 milliseconds``, ``1 second``, ``2.7 minutes``, ``39`` (s).

    >>> parse_duration_s("2.7 minutes"), parse_duration_s("39"), parse_duration_s("a while")
    (162.0, 39.0, None)
    """
    match = re.fullmatch(r"\s*([\d.]+)\s*([a-z]*)\s*", text)
    if not match:
        return None
    unit = match.group(2) or "seconds"
    if unit not in _UNITS_S:
        return None
    return float(match.group(1)) * _UNITS_S[unit]


def parse_train_line(line: str) -> TrainLine | None:
    """The iteration record in ``line`` (any flavor), or None.

    AlexeyAB and pjreddie:

    >>> line = parse_train_line(" 2: 46.410313, 47.367741 avg loss, 0.000000 rate, "
    ...                         "4.113608 seconds, 16 images, 0.764001 hours left")
    >>> line.iteration, line.avg_loss, line.images, line.seconds_left
    (2, 47.367741, 16, 2750.4036)

    hank-ai:

    >>> parse_train_line("2: loss=50.350, avg loss=50.490, last=none, best=none, mAP=100, "
    ...                  "rate=0.00002560, load 8=11.7 milliseconds, train=1.2 seconds, "
    ...                  "16 images, time remaining=38 seconds").seconds_left
    38.0
    >>> parse_train_line("Loading weights from yolov3-tiny.conv.15...") is None
    True
    """
    line = strip_escapes(line)
    match = _CLASSIC.match(line)
    if match:
        left = match.group("left")
        return TrainLine(
            int(match.group("it")),
            float(match.group("loss")),
            float(match.group("avg")),
            float(match.group("lr")),
            float(match.group("sec")),
            int(match.group("images")),
            float(left) * 3600 if left is not None and float(left) >= 0 else None,
        )
    match = _HANKAI.match(line)
    if match:
        return TrainLine(
            int(match.group("it")),
            float(match.group("loss")),
            float(match.group("avg")),
            float(match.group("lr")),
            parse_duration_s(match.group("train")) or 0.0,
            int(match.group("images")),
            parse_duration_s(match.group("left")),
        )
    return None


def parse_map_line(line: str) -> float | None:
    """The mAP (a fraction, 0..1) of a training-time mAP block's result line, or None.

    >>> parse_map_line(" mean_average_precision (mAP@0.50) = 0.612345 ")  # AlexeyAB
    0.612345
    >>> parse_map_line("-> mean average precision (mAP@0.50)=61.23%")  # hank-ai
    0.6123
    """
    line = strip_escapes(line)
    match = _MAP_ALEXEYAB.match(line)
    if match:
        return float(match.group("v"))
    match = _MAP_HANKAI.match(line)
    if match:
        return round(float(match.group("v")) / 100, 6)
    return None


class LineSplitter:
    """Turns one stream's chunks into complete lines; ``\\r`` also ends a line."""

    def __init__(self) -> None:
        self._rest = ""

    def feed(self, chunk: str) -> list[str]:
        parts = re.split(r"\r\n|\r|\n", self._rest + chunk)
        self._rest = parts.pop()
        return parts

    def close(self) -> list[str]:
        rest, self._rest = self._rest, ""
        return [rest] if rest else []


@dataclass(frozen=True)
class Record:
    """A row of ``results.csv``: an iteration, the mAP computed right after it, if any, and the
    loss watch's rise of the average loss (avg loss / its running minimum; None: not judged)."""

    line: TrainLine
    map: float | None = None
    loss_rise: float | None = None


class Recorder:
    """Builds records from one stream's lines as they come: an mAP joins the iteration before it."""

    def __init__(self) -> None:
        self._pending: TrainLine | None = None

    @property
    def pending(self) -> TrainLine | None:
        """The newest iteration, not yet emitted (an mAP may still join it)."""
        return self._pending

    def push(self, text: str) -> list[Record]:
        found = parse_train_line(text)
        if found is not None:
            done = [Record(self._pending)] if self._pending is not None else []
            self._pending = found
            return done
        value = parse_map_line(text)
        if value is not None and self._pending is not None:
            done, self._pending = [Record(self._pending, value)], None
            return done
        return []

    def finish(self) -> list[Record]:
        done = [Record(self._pending)] if self._pending is not None else []
        self._pending = None
        return done


def records(lines: Iterable[str]) -> Iterator[Record]:
    """All records of a stream's lines (a whole log read back)."""
    recorder = Recorder()
    for text in lines:
        yield from recorder.push(text)
    yield from recorder.finish()


_LABEL_FIX = (
    "labels must sit beside their images (x.jpg -> x.txt) in folders whose path has no "
    "'images', 'JPEGImages' or 'raw'; rebuild them with `yof-darknet datasets`"
)
_FAILURES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"(?i)out of (?:gpu |cpu )?(?:memory|ram)"),
        "darknet ran out of memory ({line}); raise subdivisions (--set subdivisions=32) or "
        "lower the network size (--set width=320 --set height=320)",
    ),
    (
        re.compile(r"Can't open label file.*?: (?P<path>\S+)"),
        "darknet found no label file {path}; " + _LABEL_FIX,
    ),
    (
        re.compile(r"Wrong annotation: (?P<what>.*?),? file: (?P<path>\S+)"),
        "bad label in {path} ({what}); each line must be `class cx cy w h` with class in "
        "0..classes-1 and numbers in (0, 1]; fix it or rebuild with `yof-darknet datasets`",
    ),
    (
        re.compile(r"Couldn't open file: (?P<path>\S+\.weights)\s*$"),
        "darknet could not open the weights file {path}; check --weights, or run "
        "`yof-darknet weights [--arch A]` for the pretrained cut (yolov3-tiny.conv.15...)",
    ),
    (
        re.compile(r"Couldn't open file: (?P<path>\S+\.txt)\s*$"),
        "darknet could not open {path} (an image list or a label file); " + _LABEL_FIX,
    ),
    (
        re.compile(r"Couldn't open file: (?P<path>\S+)"),
        "darknet could not open {path}; check the path (pjreddie's darknet also takes an "
        "unknown flag for the weights path)",
    ),
    (
        re.compile(r'Cannot load image "?(?P<path>[^"\s]+)'),
        "darknet cannot read the image {path}; fix or drop it from the image list",
    ),
    (
        re.compile(r"Cancel the attempt to train a neural network using a CPU"),
        "this darknet (hank-ai, CPU-only) wants `yes` on stdin before training on a CPU; "
        "`yof-darknet train` answers it when it probes the binary as hank-ai without GPU",
    ),
    (
        re.compile(r"Too many or too few labels: (?P<count>\d+), (?P<path>\S+)"),
        "darknet's classifier found {count} class names in the path {path} (it needs exactly "
        "one); write the crops with `yof-darknet crops`, whose paths name one class each",
    ),
    (
        re.compile(r"Error: l\.outputs == params\.inputs"),
        "the cfg's filters= do not match classes=/mask= of a [yolo] layer; regenerate it "
        "with `yof-darknet cfg`",
    ),
)


def find_failure(line: str) -> str | None:
    """The message (with the fix) for a known fatal darknet output line, else None."""
    line = strip_escapes(line).strip()
    for pattern, message in _FAILURES:
        match = pattern.search(line)
        if match:
            return message.format(line=line, **match.groupdict())
    return None


def divergence_message(line: TrainLine) -> str:
    return (
        f"training diverged: avg loss is {line.avg_loss} at iteration {line.iteration}; lower "
        "learning_rate (--set learning_rate=0.0005), raise burn_in, check for zero-size boxes, "
        "or start from pretrained weights (`yof-darknet weights --arch A`: "
        "--weights weights/yolov3-tiny.conv.15, yolov4-tiny.conv.29...)"
    )
