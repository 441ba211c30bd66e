"""Parsers for ``darknet detector map`` output, standalone or inside a training log.

Two layouts exist (see tests/fixtures/darknet: the alexeyab/ and hankai/ map logs):

* AlexeyAB: ``class_id = 0, name = anger, ap = 43.92%   (TP = 2, FP = 4)`` lines (the first one
  glued to a ``\\r`` progress counter), two ``for conf_thresh = 0.25, ...`` lines, ``IoU threshold
  = 50 %, used Area-Under-Curve ...`` and ``mean average precision (mAP@0.50) = 0.600806, or ...``.
* hank-ai (V5, v5.1+): a table ``Id Name AP TP FP FN GT F1 AvgIoU`` (percent, 4 decimals), ANSI
  colour on by default, ``-> for conf_thresh=...`` lines and ``(mAP@0.50)=60.08%``.

The pjreddie (Debian) build has no ``map`` and prints nothing. Any output that gives no honest mAP
(nothing printed, cut short, no ground truth, ``nan``) raises ``EvaluationError`` with the reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

from yof_darknet.core.errors import EvaluationError
from yof_darknet.formats.mapresult import ClassAP, MapResult
from yof_darknet.formats.trainlog import strip_escapes

_NUM = r"(-?nan|-?inf|-?[0-9]+(?:\.[0-9]*)?)"

_BLOCK_START = re.compile(r"calculation mAP \(mean average precision\)|^Calculating mAP \(mean")
_ITERATION = re.compile(rf"^\s*(\d+): (?:loss=|{_NUM}, {_NUM} avg loss)")
_MAP_LINE = re.compile(r"mean average precision \(mAP@([0-9.]+)\)\s*=\s*" + _NUM + r"(%?)")

_AB_CLASS = re.compile(
    rf"class_id = (\d+), name = (.*?), ap = {_NUM}%\s+\(TP = (\d+), FP = (\d+)\)"
)
_AB_RATES = re.compile(
    rf"for conf_thresh = {_NUM}, precision = {_NUM}, recall = {_NUM}, F1-score = {_NUM}"
)
_AB_COUNTS = re.compile(
    rf"for conf_thresh = {_NUM}, TP = (\d+), FP = (\d+), FN = (\d+), average IoU = {_NUM} %"
)
_AB_IOU = re.compile(r"IoU threshold = \s*[0-9.]+ %, used (?:(\d+) Recall-points|Area-Under)")
_AB_COUNT = re.compile(r"detections_count = (\d+), unique_truth_count = (\d+)")

_HK_ROW = re.compile(
    rf"^\s*(\d+) (.+?)\s+{_NUM}\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+{_NUM}\s+{_NUM}\s*$"
)
_HK_RATES = re.compile(
    rf"-> for conf_thresh={_NUM}, precision={_NUM}, recall={_NUM}, F1 score={_NUM}"
)
_HK_COUNTS = re.compile(
    rf"-> for conf_thresh={_NUM}, TP=(\d+), FP=(\d+), FN=(\d+), average IoU={_NUM}%"
)
_HK_IOU = re.compile(r"-> IoU threshold=[0-9.]+%, used (?:(\d+) recall points|area-under)")
_HK_COUNT = re.compile(r"detections_count=(\d+), unique_truth_count=(\d+)")

_HK_FATAL = re.compile(r"^\* Error message:\s*(.*)$", re.MULTILINE)
_CANT_OPEN = re.compile(r"Couldn't open file: ?(.*)$", re.MULTILINE)


def _lines(text: str) -> list[str]:
    # `\r` progress counters share a physical line with the first class line.
    return strip_escapes(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _float(text: str) -> float:
    return float(text)  # also reads darknet's "nan", "-nan" and "inf"


def _percent(text: str) -> float:
    """A printed percentage as a fraction with no float noise.

    >>> _percent("43.92"), _percent("6.91")
    (0.4392, 0.0691)
    """
    decimals = len(text.partition(".")[2]) if text[-1:].isdigit() else 0
    return round(float(text) / 100, decimals + 2)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def parse_map_output(text: str, origin: str = "darknet output") -> MapResult:
    """Parse the output of one ``detector map`` run (the last block if there are several): the
    fixtures' ``alexeyab/map_default.stdout.txt`` gives ``.map == 0.600806``."""
    return parse_map_blocks(text, origin)[-1]


def read_map_log(path: Path) -> MapResult:
    """Parse a saved ``detector map`` log or training log (its last mAP block)."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{path}: map log not found")
    return parse_map_output(path.read_text(errors="replace"), str(path))


def parse_map_blocks(text: str, origin: str = "darknet output") -> list[MapResult]:
    """Every mAP block of a training log (``-map``) or map output, in order, with its iteration.

    Raises ``EvaluationError`` when there is none (saying why) or when a block is unusable.
    """
    lines = _lines(text)
    results: list[MapResult] = []
    iteration: int | None = None
    start: int | None = None
    start_line = 0
    for number, line in enumerate(lines):
        found = _ITERATION.match(line)
        if found and start is None:
            iteration = int(found.group(1))
        if _BLOCK_START.search(line):
            start, start_line = number, number + 1
        elif start is not None and _MAP_LINE.search(line):
            block = lines[start : number + 1]
            where = f"{origin}:{start_line}"
            results.append(_parse_block(block, where, iteration))
            start = None
    if results and start is None:
        return results
    raise EvaluationError(_why_no_map(text, lines, start, origin))


def _why_no_map(text: str, lines: list[str], start: int | None, origin: str) -> str:
    plain = strip_escapes(text)
    fatal = _HK_FATAL.search(plain)
    if fatal:
        return f"{origin}: darknet stopped with an error before the mAP line: {fatal.group(1)}"
    cant_open = _CANT_OPEN.search(plain)
    if cant_open:
        return f"{origin}: darknet could not open {cant_open.group(1).strip()} (check the path)"
    if not plain.strip():
        return (
            f"{origin}: darknet printed nothing; the pjreddie (Debian) build has no "
            "`detector map` and ignores it silently. Use `yof-darknet map` with that build "
            "(it runs `detector valid` and scores with our evaluator) or an AlexeyAB/hank-ai build"
        )
    if start is not None:
        classes = sum(1 for line in lines[start:] if _AB_CLASS.search(line) or _HK_ROW.match(line))
        return (
            f"{origin}:{start + 1}: the mAP output is cut short after {classes} class line(s), "
            "before the `mean average precision` line (darknet was killed or crashed)"
        )
    return f"{origin}: no `detector map` output found (no `mean average precision` line)"


def _parse_block(block: list[str], where: str, iteration: int | None) -> MapResult:
    text = "\n".join(block)
    if _AB_CLASS.search(text):
        result = _parse_alexeyab(block, text, where, iteration)
    else:
        result = _parse_hankai(block, text, where, iteration)
    return _check(result, where)


def _need(pattern: re.Pattern[str], text: str, what: str, where: str) -> re.Match[str]:
    found = pattern.search(text)
    if found is None:
        raise EvaluationError(f"{where}: mAP block without its {what} line (output cut short?)")
    return found


def _map_value(text: str, where: str) -> tuple[float, float]:
    found = _need(_MAP_LINE, text, "mAP", where)
    value = _percent(found.group(2)) if found.group(3) == "%" else _float(found.group(2))
    return float(found.group(1)), value


_SUMMARY = {  # per layout: the precision/recall, TP/FP/FN, IoU-threshold and count lines
    "alexeyab": (_AB_RATES, _AB_COUNTS, _AB_IOU, _AB_COUNT),
    "hank-ai": (_HK_RATES, _HK_COUNTS, _HK_IOU, _HK_COUNT),
}


def _result(
    classes: tuple[ClassAP, ...], text: str, where: str, iteration: int | None, source: str
) -> MapResult:
    """The block's summary lines (same numbers in both layouts) around its class lines."""
    rates_line, counts_line, iou_line, count_line = _SUMMARY[source]
    rates = _need(rates_line, text, "precision/recall", where)
    counts = _need(counts_line, text, "TP/FP/FN", where)
    points = _need(iou_line, text, "IoU threshold", where).group(1)
    detections = count_line.search(text)
    iou_thresh, value = _map_value(text, where)
    return MapResult(
        classes=classes,
        map=value,
        iou_thresh=iou_thresh,
        points=int(points) if points else 0,
        conf_thresh=float(rates[1]),
        precision=_finite_or_none(_float(rates[2])),
        recall=_finite_or_none(_float(rates[3])),
        f1=_finite_or_none(_float(rates[4])),
        tp=int(counts[2]),
        fp=int(counts[3]),
        fn=int(counts[4]),
        avg_iou=_percent(counts[5]),
        detections=int(detections[1]) if detections else None,
        ground_truth=int(detections[2]) if detections else None,
        source=source,
        iteration=iteration,
    )


def _parse_alexeyab(block: list[str], text: str, where: str, iteration: int | None) -> MapResult:
    classes = tuple(
        ClassAP(int(m[1]), m[2], _percent(m[3]), int(m[4]), int(m[5]))
        for m in (_AB_CLASS.search(line) for line in block)
        if m
    )
    return _result(classes, text, where, iteration, "alexeyab")


def _parse_hankai(block: list[str], text: str, where: str, iteration: int | None) -> MapResult:
    classes: list[ClassAP] = []
    in_table = False
    for line in block:
        if line.lstrip().startswith("-- ---"):
            in_table = True
            continue
        row = _HK_ROW.match(line) if in_table else None
        if row:
            classes.append(
                ClassAP(
                    id=int(row[1]),
                    name=row[2].strip(),
                    ap=_percent(row[3]),
                    tp=int(row[4]),
                    fp=int(row[5]),
                    gt=int(row[7]),
                    f1=_percent(row[8]),
                    avg_iou=_percent(row[9]),
                )
            )
        elif in_table and classes:
            in_table = False
    if not classes:
        raise EvaluationError(f"{where}: mAP block without class lines (output cut short?)")
    return _result(tuple(classes), text, where, iteration, "hank-ai")


def _check(result: MapResult, where: str) -> MapResult:
    """Refuse results that only look like numbers; note what a reader must know beside them.

    A nan precision or F1 with ground truth present only means no detection passed conf_thresh.
    """
    if result.ground_truth == 0 or (result.tp + result.fn == 0):
        raise EvaluationError(
            f"{where}: darknet scored no ground truth (unique_truth_count = 0, recall = nan): "
            "the valid list is empty or darknet found no label files; its mAP of 0 means nothing"
        )
    if result.recall is None:
        raise EvaluationError(f"{where}: recall is nan; the mAP of this run cannot be trusted")
    bad = [c.name for c in result.classes if not math.isfinite(c.ap)]
    if bad or not math.isfinite(result.map):
        raise EvaluationError(f"{where}: AP is nan for {', '.join(bad) or 'the mAP'}")
    if not math.isfinite(result.avg_iou):
        raise EvaluationError(
            f"{where}: average IoU is {result.avg_iou}: darknet scored garbage boxes "
            "(hank-ai runs with random weights when the .weights path does not exist)"
        )
    notes = []
    if result.detections == 0:
        notes.append("darknet made no detection at all (untrained weights, or the loss went nan)")
    elif result.precision is None:
        notes.append(f"no detection above conf_thresh {result.conf_thresh}: precision undefined")
    notes += [
        f"{c.name}: no ground-truth box in the test list; its AP counts as 0 in the mAP "
        "(as in Darknet)"
        for c in result.classes
        if c.gt == 0
    ]
    return replace(result, notes=tuple(notes))
