"""``make hygiene``: does masking the unannotated faces help? Two sample runs, one test list.

``hygiene`` runs ``reproduce`` on the embedded sample twice with the same seed and split:
``--unannotated keep`` (the paper; ``runs/sample``, ``data/sample-darknet``, what ``make
reproduce`` makes, reused when done) and ``--unannotated mask`` (``runs/sample-mask``,
``data/sample-darknet-mask``). The split depends only on the seed and the ExpW image names, so
both hold out the same images; both models are then scored on the *raw* test list (the keep
dataset's ``test.txt``, unmasked images, as the paper scores), so only the training data differ.
``side_by_side`` prints both Table IIs per subset (combined, then per dataset).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from yof_darknet.evaluate.table import DATASET_TITLES, Table2
from yof_darknet.formats.mapresult import MapResult

Echo = Callable[[str], None]
MODES = ("keep", "mask")


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.2f}"


def _subsets(table: Table2) -> dict[str, MapResult]:
    return {"combined": table.combined, **table.datasets}


def side_by_side(tables: Mapping[str, Table2]) -> str:
    """Markdown: per subset present in every table, AP per class in each table and the
    difference last minus first (percentage points); then the mAP row.

    ``tables``: label → Table II, e.g. ``{"keep": ..., "mask": ...}``.
    """
    labels = list(tables)
    first = tables[labels[0]]
    common = [name for name in _subsets(first) if all(name in _subsets(t) for t in tables.values())]
    lines: list[str] = []
    for subset in common:
        results = [_subsets(tables[label])[subset] for label in labels]
        first_classes = results[0].classes
        title = "Combined test set" if subset == "combined" else DATASET_TITLES.get(subset, subset)
        lines += [
            f"### {title}",
            "",
            "| Expression | "
            + " | ".join(f"{label} AP (%)" for label in labels)
            + f" | {labels[-1]} − {labels[0]} (pp) |",
            "|---|" + "---:|" * (len(labels) + 1),
        ]
        rows = [(c.name, [r.classes[i].ap for r in results]) for i, c in enumerate(first_classes)]
        rows.append(("**mAP**", [r.map for r in results]))
        for name, values in rows:
            diff = f"{(values[-1] - values[0]) * 100:+.2f}"
            lines.append(f"| {name} | " + " | ".join(_pct(v) for v in values) + f" | {diff} |")
        lines.append("")
    methods = sorted({table.method for table in tables.values()})
    lines.append(f"Numbers: {'; '.join(methods)}")
    return "\n".join(lines).rstrip() + "\n"


@dataclass
class HygieneResult:
    tables: dict[str, Table2]
    markdown: str
    written: Path


def hygiene(
    *, darknet: Path | None = None, runs: Path = Path("runs"), echo: Echo = print
) -> HygieneResult:
    """Train the sample with ``keep`` and with ``mask`` (each skipped when done), score both on
    the raw test list, write ``runs/sample-mask/hygiene.md`` and return both tables."""
    from yof_darknet.darknet.options import TrainOptions
    from yof_darknet.datasets.options import DatasetsOptions
    from yof_darknet.evaluate.options import MapOptions
    from yof_darknet.evaluate.run import run_map, write_outputs
    from yof_darknet.fileio import atomic_write_text
    from yof_darknet.pipeline import ReproduceOptions, reproduce

    raw = Path("data/sample-darknet")  # reproduce's own folder of the sample
    base = ReproduceOptions(darknet=darknet, train=TrainOptions(runs=runs))
    keep = replace(base, data=raw, datasets=DatasetsOptions(unannotated="keep"))
    mask = replace(
        base,
        data=Path("data/sample-darknet-mask"),
        datasets=DatasetsOptions(unannotated="mask"),
        train=TrainOptions(runs=runs, name="sample-mask"),
    )
    tables: dict[str, Table2] = {}
    models = {}
    for label, options in (("keep", keep), ("mask", mask)):
        echo(f"hygiene: --unannotated {label}")
        models[label] = reproduce(options, echo=echo)
    for label, result in models.items():
        request = MapOptions(
            data=raw / "obj.data",
            weights=result.weights,
            cfg=result.cfg,
            out=result.run_dir / "map-raw-test",
            darknet=darknet,
        )
        outcome = run_map(request)
        write_outputs(outcome, request.out)
        tables[label] = outcome.table
    markdown = "## --unannotated keep vs mask (embedded sample, same raw test list)\n\n"
    markdown += side_by_side(tables)
    written = models["mask"].run_dir / "hygiene.md"
    atomic_write_text(written, markdown)
    return HygieneResult(tables, markdown, written)
