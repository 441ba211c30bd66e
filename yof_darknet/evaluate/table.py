"""Table II: our AP per expression beside the paper's, as markdown, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yof_darknet.core.expressions import CLASSES, DATASET_TITLES, PAPER_AP, PAPER_MAP
from yof_darknet.core.fileio import atomic_write_text
from yof_darknet.evaluate.faceap import FaceCheck
from yof_darknet.formats.mapresult import MapResult

OTHER_CLASSES = "the paper's Table II is left out: these classes are not its 7 expressions"


@dataclass(frozen=True)
class Table2:
    """The combined result, optional per-dataset results, and how the numbers were made.

    ``flavor``: the darknet build (``alexeyab``, ``hank-ai``, ``pjreddie``) or ``None``;
    ``method``: one sentence naming what produced the detections and who scored them;
    ``face``: the class-agnostic face AP and the verdict (None: not computed, ``face_note``
    says why); ``selection``: lines saying which weights were scored and how they were chosen.
    """

    combined: MapResult
    method: str
    flavor: str | None = None
    datasets: Mapping[str, MapResult] = field(default_factory=dict)
    face: FaceCheck | None = None
    face_note: str | None = None
    selection: tuple[str, ...] = ()  # which weights, chosen how (map/reproduce --select)


def paper_comparable(result: MapResult) -> bool:
    """Whether the paper's Table II applies: the classes are its 7 expressions, in its order."""
    return tuple(c.name for c in result.classes) == CLASSES


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.2f}"


def _diff(ours: float, paper: float | None) -> str:
    return "" if paper is None else f"{ours * 100 - paper:+.2f}"


def _settings(result: MapResult) -> str:
    curve = (
        "area under the PR curve at each unique recall"
        if result.points == 0
        else f"{result.points}-point interpolated PR curve"
    )
    return f"IoU > {result.iou_thresh:.2f}, {curve}"


def _paper_rows(result: MapResult) -> list[str]:
    lines = [
        f"## Table II: AP per expression ({_settings(result)})",
        "",
        "| Expression | Paper AP (%) | Our AP (%) | Difference (pp) | TP | FP | GT |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in result.classes:
        paper = PAPER_AP.get(c.name)
        lines.append(
            f"| {c.name} | {'' if paper is None else f'{paper:.2f}'} | {_pct(c.ap)} | "
            f"{_diff(c.ap, paper)} | {c.tp} | {c.fp} | {'' if c.gt is None else c.gt} |"
        )
    lines.append(
        f"| **mAP** | {PAPER_MAP:.2f} | **{_pct(result.map)}** | {_diff(result.map, PAPER_MAP)} "
        "| | | |"
    )
    return lines


def _own_classes(result: MapResult) -> list[str]:
    lines = [
        f"## Table II: AP per class ({_settings(result)})",
        "",
        "| Class | Our AP (%) | TP | FP | GT |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in result.classes:
        lines.append(
            f"| {c.name} | {_pct(c.ap)} | {c.tp} | {c.fp} | {'' if c.gt is None else c.gt} |"
        )
    return [*lines, f"| **mAP** | **{_pct(result.map)}** | | | |", "", f"Note: {OTHER_CLASSES}."]


def render_markdown(table: Table2) -> str:
    """Table II as markdown: class, paper AP, ours, difference; then the mAP and the details
    (classes other than the paper's: class, AP, counts; the paper is not compared)."""
    result = table.combined
    lines = _paper_rows(result) if paper_comparable(result) else _own_classes(result)
    lines += ["", *face_lines(table), *table.selection, "", f"Numbers: {table.method}"]
    lines.append(
        f"At conf_thresh {result.conf_thresh:.2f}: precision {_pct(result.precision) or 'n/a'} %, "
        f"recall {_pct(result.recall) or 'n/a'} %, TP {result.tp}, FP {result.fp}, "
        f"FN {result.fn}, average IoU {_pct(result.avg_iou)} %."
    )
    if result.detections is not None:
        lines.append(
            f"Scored {result.detections} detection records against "
            f"{result.ground_truth} ground-truth faces."
        )
    if table.datasets:
        names = list(table.datasets)
        lines += [
            "",
            "### Per dataset (the paper gives only the combined test set)",
            "",
            f"| {'Expression' if paper_comparable(result) else 'Class'} | Combined AP (%) | "
            + " | ".join(f"{DATASET_TITLES.get(n, n)} AP (%)" for n in names)
            + " |",
            "|---|---:|" + "---:|" * len(names),
        ]
        for i, c in enumerate(result.classes):
            cells = [_pct(table.datasets[n].classes[i].ap) for n in names]
            lines.append(f"| {c.name} | {_pct(c.ap)} | " + " | ".join(cells) + " |")
        cells = [_pct(table.datasets[n].map) for n in names]
        lines.append(f"| **mAP** | {_pct(result.map)} | " + " | ".join(cells) + " |")
    notes = list(result.notes)
    for name, sub in table.datasets.items():
        notes += [f"{DATASET_TITLES.get(name, name)}: {note}" for note in sub.notes]
    if notes:
        lines += ["", "Notes:", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def face_lines(table: Table2) -> list[str]:
    """The lines under Table II: face AP, the chance level, the verdict."""
    face = table.face
    if face is None:
        return [f"Face AP: not computed ({table.face_note or 'no detections to merge'})."]
    source = (
        f" ({face.source}, whose expression mAP is {_pct(face.expression_map)} %)"
        if face.source
        else ""
    )
    chance = (
        f" A detector that finds these faces but guesses expressions would score mAP "
        f"{_pct(face.chance_map)} % (face AP / {face.classes})."
        if face.classes > 1
        else ""
    )
    return [
        f"Face AP (every class merged into one face class, same IoU and evaluator){source}: "
        f"{_pct(face.face_ap)} % (its boxes placed at random: {_pct(face.placed_face_ap)} %)."
        f"{chance}",
        f"Verdict: {face.verdict.text}.",
    ]


def render_csv(table: Table2) -> str:
    """One row per (subset, class) plus one mAP row per subset; AP in percent."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["subset", "class_id", "class", "paper_ap", "ap", "difference", "tp", "fp", "gt"]
    )
    subsets = {"combined": table.combined, **table.datasets}
    compared = paper_comparable(table.combined)
    for subset, result in subsets.items():
        for c in result.classes:
            paper = PAPER_AP.get(c.name) if subset == "combined" and compared else None
            writer.writerow(
                [subset, c.id, c.name, "" if paper is None else f"{paper:.2f}", _pct(c.ap),
                 _diff(c.ap, paper), c.tp, c.fp, "" if c.gt is None else c.gt]
            )  # fmt: skip
        paper_map = PAPER_MAP if subset == "combined" and compared else None
        writer.writerow(
            [subset, "", "mAP", "" if paper_map is None else f"{paper_map:.2f}",
             _pct(result.map), _diff(result.map, paper_map), result.tp, result.fp,
             "" if result.ground_truth is None else result.ground_truth]
        )  # fmt: skip
    return buffer.getvalue()


def to_json(table: Table2) -> dict[str, Any]:
    """The schema of DESIGN.md: AP and rates as fractions 0..1."""
    data: dict[str, Any] = {"flavor": table.flavor, "method": table.method}
    data.update(table.combined.to_dict())
    data["face_ap"] = None if table.face is None else table.face.face_ap
    data["face"] = None if table.face is None else table.face.to_dict()
    if table.face is None:
        data["face_note"] = table.face_note
    data["selection"] = list(table.selection)
    data["paper"] = (
        {
            "map": round(PAPER_MAP / 100, 6),
            "ap": {name: round(value / 100, 6) for name, value in PAPER_AP.items()},
        }
        if paper_comparable(table.combined)
        else None
    )
    data["datasets"] = {name: result.to_dict() for name, result in table.datasets.items()}
    return data


def write_table(table: Table2, out: Path) -> dict[str, Path]:
    """Write ``table2.md``, ``table2.csv`` and ``table2.json`` into ``out`` (atomically)."""
    paths = {fmt: Path(out) / f"table2.{fmt}" for fmt in ("md", "csv", "json")}
    atomic_write_text(paths["md"], render_markdown(table))
    atomic_write_text(paths["csv"], render_csv(table))
    atomic_write_text(paths["json"], json.dumps(to_json(table), indent=2) + "\n")
    return paths


def render(table: Table2, fmt: str) -> str:
    """The table in ``md``, ``csv`` or ``json`` (what the command prints)."""
    if fmt == "csv":
        return render_csv(table)
    if fmt == "json":
        return json.dumps(to_json(table), indent=2) + "\n"
    return render_markdown(table)
