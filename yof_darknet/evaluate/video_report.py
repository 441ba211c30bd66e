"""``evaluate-video``'s report: frame-level metrics of every temporal model, per video and overall,
as markdown, CSV and JSON, plus one confusion matrix per model."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from yof_darknet.core.fileio import atomic_write_text
from yof_darknet.evaluate.video import FrameMetrics

OVERALL = "overall"
NO_FACE_COLUMN = "no face detected"

# scope (OVERALL or a video stem) -> model description -> metrics
Scores = Mapping[str, Mapping[str, FrameMetrics]]


def _row(scope: str, model: str, m: FrameMetrics, names: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"scope": scope, "model": model, "frames": m.frames}
    row |= {f"f1_{name}": round(f1, 4) for name, f1 in zip(names, m.f1, strict=True)}
    row |= {
        "macro_f1": round(m.macro_f1, 4),
        "accuracy": round(m.accuracy, 4),
        "abaw2020": round(m.abaw2020, 4),
        "no_face": m.no_face,
        "no_face_share": round(m.no_face_share, 4),
    }
    return row


def rows(scores: Scores, names: Sequence[str]) -> list[dict[str, Any]]:
    """One flat row per (scope, model): overall first, then the videos in name order."""
    scopes = [OVERALL, *sorted(s for s in scores if s != OVERALL)]
    return [
        _row(scope, model, metrics, names)
        for scope in scopes
        for model, metrics in scores[scope].items()
    ]


def render_csv(scores: Scores, names: Sequence[str]) -> str:
    table = rows(scores, names)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(table[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return out.getvalue()


def _pct(value: float) -> str:
    return f"{value * 100:.2f}"


def render_markdown(scores: Scores, names: Sequence[str], notes: Sequence[str] = ()) -> str:
    """Overall table (every model side by side), per-video macro F1, then the notes."""
    overall = scores[OVERALL]
    models = list(overall)
    lines = [
        "## Frame-level expression metrics (ABAW; %)",
        "",
        "| Metric | " + " | ".join(models) + " |",
        "|---|" + "---:|" * len(models),
    ]
    for index, name in enumerate(names):
        lines.append(
            f"| F1 {name} | " + " | ".join(_pct(overall[m].f1[index]) for m in models) + " |"
        )
    for label, attr in (
        ("**macro F1**", "macro_f1"),
        ("accuracy", "accuracy"),
        ("ABAW 2020 score", "abaw2020"),
        ("no face detected", "no_face_share"),
    ):
        lines.append(
            f"| {label} | " + " | ".join(_pct(getattr(overall[m], attr)) for m in models) + " |"
        )
    first = overall[models[0]]
    lines += ["", f"{first.frames} scored frames (annotated person-frames, -1 and Other excluded)."]
    videos = sorted(s for s in scores if s != OVERALL)
    if videos:
        lines += [
            "",
            "### Macro F1 per video (%)",
            "",
            "| Video | frames | no face (%) | " + " | ".join(models) + " |",
            "|---|---:|---:|" + "---:|" * len(models),
        ]
        for video in videos:
            per = scores[video]
            base = per[models[0]]
            cells = " | ".join(_pct(per[m].macro_f1) for m in models)
            lines.append(f"| {video} | {base.frames} | {_pct(base.no_face_share)} | {cells} |")
    lines += ["", *notes] if notes else []
    return "\n".join(lines) + "\n"


def confusion_csv(metrics: FrameMetrics, names: Sequence[str]) -> str:
    """Rows: truth; columns: predicted class, then the frames with no matched detection."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["truth \\ predicted", *names, NO_FACE_COLUMN])
    for name, counts in zip(names, metrics.confusion.tolist(), strict=True):
        writer.writerow([name, *counts])
    return out.getvalue()


def to_json(scores: Scores, names: Sequence[str], details: Mapping[str, Any]) -> str:
    data = {
        "classes": list(names),
        "details": dict(details),
        "metrics": rows(scores, names),
        "confusion": {
            model: {"rows": list(names), "columns": [*names, NO_FACE_COLUMN],
                    "counts": m.confusion.tolist()}
            for model, m in scores[OVERALL].items()
        },
    }  # fmt: skip
    return json.dumps(data, indent=1) + "\n"


def write_report(
    out: Path,
    scores: Scores,
    names: Sequence[str],
    details: Mapping[str, Any],
    notes: Sequence[str] = (),
) -> list[Path]:
    """metrics.{md,csv,json} and confusion_<model>.csv in ``out``, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        out / "metrics.md": render_markdown(scores, names, notes),
        out / "metrics.csv": render_csv(scores, names),
        out / "metrics.json": to_json(scores, names, details),
    }
    for model, metrics in scores[OVERALL].items():
        files[out / f"confusion_{model.split('(')[0]}.csv"] = confusion_csv(metrics, names)
    for path, text in files.items():
        atomic_write_text(path, text)
    return list(files)
