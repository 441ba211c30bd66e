"""Runs side by side: the Table IIs of several runs (or groups of repeated runs), per subset.

Each run is given by its Table II record, the content of its ``table2.json`` (``table.to_json``),
so that a finished run is read back from disk as it was written and every key a newer ``map``
adds (the class-agnostic ``face_ap``) comes along. Two uses:

- ``hygiene``: ``{"keep": [r1, r2], "mask": [r1, r2]}``, each mode trained several times: a
  cell is the mean AP of the repeats with their range, and the spread is printed per run;
- the permuted-label control: ``{"control": [c], "recipe": [r]}`` with ``ratio=True``, which
  adds the recipe's AP divided by the control's.

The last group is compared with the first: ``last − first`` in points (of the means), and with
``ratio`` ``last ÷ first``.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from yof_darknet.core.errors import EvaluationError

Record = Mapping[str, Any]  # a table2.json
DATASET_TITLES = {"expw": "ExpW", "affwild2": "Aff-Wild2"}


def read_record(path: Path) -> dict[str, Any]:
    """A ``table2.json`` written by ``map``; a clear error when it is missing or not one."""
    try:
        record = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise EvaluationError(
            f"{path}: not found; score the run first (`yof-darknet map`)"
        ) from None
    except ValueError as exc:
        raise EvaluationError(f"{path}: not a table2.json ({exc})") from None
    if not isinstance(record, dict) or "classes" not in record or "map" not in record:
        raise EvaluationError(f"{path}: not a table2.json of `yof-darknet map` (no classes/map)")
    return record


def _subsets(record: Record) -> dict[str, Record]:
    """The combined result, then each dataset's (none when one dataset is the combined)."""
    datasets = record.get("datasets", {})
    return {"combined": record, **(datasets if len(datasets) > 1 else {})}


def _ground_truth(subset: Record) -> int | None:
    """Faces the test list holds (darknet's map prints TP and FN, our evaluator the count)."""
    if subset.get("ground_truth") is not None:
        return int(subset["ground_truth"])
    if subset.get("tp") is not None and subset.get("fn") is not None:
        return int(subset["tp"]) + int(subset["fn"])
    return None


def same_test_list_problem(records: Sequence[Record]) -> str | None:
    """Why these records cannot stand side by side (other IoU, curve or test faces), or None."""
    first = records[0]
    for record in records[1:]:
        for key, what in (("iou_thresh", "IoU threshold"), ("points", "PR-curve points")):
            if record.get(key) != first.get(key):
                return f"scored with another {what} ({first.get(key)} vs {record.get(key)})"
        a, b = _ground_truth(first), _ground_truth(record)
        if a is not None and b is not None and a != b:
            return f"scored on other test lists ({a} vs {b} ground-truth faces)"
    return None


def face_ap(record: Record) -> float | None:
    """The class-agnostic face AP of a record, where the ``map`` that wrote it computes one."""
    value = record.get("face_ap")
    return None if value is None else float(value)


def _rows(records: Sequence[Record]) -> list[tuple[str, list[float | None]]]:
    """(row name, value of each record): the classes, the mAP, the face AP where recorded."""
    names = [c["name"] for c in records[0]["classes"]]
    rows: list[tuple[str, list[float | None]]] = []
    for index, name in enumerate(names):
        rows.append((name, [r["classes"][index]["ap"] for r in records]))
    rows.append(("**mAP**", [r["map"] for r in records]))
    faces = [face_ap(r) for r in records]
    if all(v is not None for v in faces):
        rows.append(("face AP (any class)", faces))
    return rows


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.2f}"


def _cell(values: Sequence[float]) -> str:
    """One run: its AP; several: the mean with the range ``mean (min–max)``."""
    if len(values) == 1:
        return _pct(values[0])
    return f"{_pct(statistics.fmean(values))} ({_pct(min(values))}–{_pct(max(values))})"


def _ratio(last: float, first: float) -> str:
    return f"{last / first:.2f}×" if first > 0 else ("∞" if last > 0 else "")


def _section(title: str, groups: Mapping[str, Sequence[Record]], ratio: bool) -> list[str]:
    labels = list(groups)
    means = ", of the means" if any(len(runs) > 1 for runs in groups.values()) else ""
    head = f"| Expression | {' | '.join(f'{label} AP (%)' for label in labels)} |"
    head += f" {labels[-1]} − {labels[0]} (pp{means}) |"
    if ratio:
        head += f" {labels[-1]} ÷ {labels[0]} |"
    lines = [f"### {title}", "", head, "|---|" + "---:|" * (len(labels) + 1 + ratio)]
    flat = [record for label in labels for record in groups[label]]
    sizes = [len(groups[label]) for label in labels]
    for name, values in _rows(flat):
        per_group, at = [], 0
        for size in sizes:
            per_group.append([v for v in values[at : at + size] if v is not None])
            at += size
        first, last = statistics.fmean(per_group[0]), statistics.fmean(per_group[-1])
        cells = [_cell(v) for v in per_group] + [f"{(last - first) * 100:+.2f}"]
        if ratio:
            cells.append(_ratio(last, first))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def side_by_side(
    groups: Mapping[str, Sequence[Record]],
    *,
    ratio: bool = False,
    runs: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Markdown: per subset that every record holds, each group's AP per class, mAP and (where
    every record has it) face AP, then ``last − first`` (and ``last ÷ first``); then, for groups
    of several runs, each run's mAP (``runs`` names them) and the standard deviation.

    ``groups``: label → the ``table2.json`` records of that label's runs (one or more).
    """
    labels = list(groups)
    if len(labels) < 2 or any(not groups[label] for label in labels):
        raise EvaluationError("side by side needs at least two labels, each with a run")
    flat = [record for label in labels for record in groups[label]]
    common = [s for s in _subsets(flat[0]) if all(s in _subsets(r) for r in flat)]
    lines: list[str] = []
    for subset in common:
        title = "Combined test set" if subset == "combined" else DATASET_TITLES.get(subset, subset)
        per = {label: [_subsets(r)[subset] for r in groups[label]] for label in labels}
        lines += _section(title, per, ratio)
    repeated = [label for label in labels if len(groups[label]) > 1]
    if repeated:
        lines += ["Run-to-run spread of the combined mAP (%):", ""]
        for label in repeated:
            maps = [r["map"] * 100 for r in groups[label]]
            names = (runs or {}).get(label) or [f"run {i + 1}" for i in range(len(maps))]
            each = ", ".join(f"{n} {m:.2f}" for n, m in zip(names, maps, strict=True))
            lines.append(
                f"- {label}: {each}; mean {statistics.fmean(maps):.2f}, standard deviation "
                f"{statistics.stdev(maps):.2f}, range {max(maps) - min(maps):.2f}"
            )
        lines.append("")
    methods = sorted({str(record.get("method")) for record in flat})
    lines.append(f"Numbers: {'; '.join(methods)}")
    return "\n".join(lines).rstrip() + "\n"
