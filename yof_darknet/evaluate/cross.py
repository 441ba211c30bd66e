"""``map --cross``: models trained on different datasets, each scored on every held-out set.

A row per model (a run folder ``runs/NAME``, or a weights file), a column per held-out set
(``test_<dataset>.txt`` beside the test list of ``--data``) and one for the whole test list;
each cell is the model's mAP on that set, scored exactly as ``map`` scores (the same engine,
IoU and curve): each model's own Table II is written to ``OUT/<model>/``. What a model was
trained on is read from its run: the ``train=`` list of its ``obj.data``, and the ``stats.json``
beside that list. The sets are checked for leaks: a held-out image that the model's training
list holds (the same output file name in the same dataset folder) is counted in a note, since
its cell would then not measure generalisation.

Lists made by ``datasets`` with the same ``--seed`` and options hold out the same images of a
dataset whichever datasets are converted beside it, so a model trained on ``datasets --expw``
output is scored fairly on the ExpW test list of a ``datasets --expw --affectnet --rafdb`` run.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from yof_darknet.core.errors import EvaluationError, YofError
from yof_darknet.core.expressions import DATASET_TITLES
from yof_darknet.core.fileio import atomic_write_text
from yof_darknet.evaluate.options import MapOptions
from yof_darknet.evaluate.run import find_cfg, load_test_set, run_map, write_outputs
from yof_darknet.evaluate.table import Table2
from yof_darknet.formats.imagefiles import read_list
from yof_darknet.formats.objdata import read_obj_data

COMBINED = "combined"


@dataclass(frozen=True)
class CrossModel:
    """One model: its name (the run folder's, or the weights file's stem), weights, cfg, the
    datasets it trained on (empty: unknown) and its training list (None: unknown)."""

    name: str
    weights: Path
    cfg: Path
    trained_on: tuple[str, ...] = ()
    train_list: Path | None = None


def _final_weights(run: Path) -> Path:
    found = sorted((run / "weights").glob("*_final.weights"))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise EvaluationError(
            f"{run}: {what} *_final.weights in {run / 'weights'}; pass the weights file to score "
            "instead of the run folder"
        )
    return found[0]


def _training(cfg: Path, weights: Path) -> tuple[tuple[str, ...], Path | None]:
    """The datasets a model trained on and its training list, from the run's obj.data."""
    for folder in (cfg.parent, weights.parent, weights.parent.parent):
        try:
            train = read_obj_data(folder / "obj.data").train
        except (YofError, OSError):
            continue
        try:
            datasets = json.loads((train.parent / "stats.json").read_text())["datasets"]
            names = tuple(n for n, d in datasets.items() if d["images"]["train"] > 0)
        except (OSError, ValueError, KeyError, TypeError):
            names = ()
        return names, train
    return (), None


def find_model(path: Path) -> CrossModel:
    """The model of a run folder (its ``*_final.weights`` and cfg) or of a weights file."""
    path = Path(path)
    if path.is_dir():
        weights, name = _final_weights(path), path.name
    elif path.is_file():
        weights, name = path, path.stem
    else:
        raise EvaluationError(f"--cross {path}: no such run folder or weights file")
    cfg = find_cfg(None, weights)
    trained_on, train_list = _training(cfg, weights)
    return CrossModel(name, weights, cfg, trained_on, train_list)


def _unique(models: list[CrossModel]) -> list[CrossModel]:
    """Models with names made unique (``name-2`` for the second of a name)."""
    seen: dict[str, int] = {}
    result = []
    for model in models:
        seen[model.name] = seen.get(model.name, 0) + 1
        if seen[model.name] > 1:
            model = replace(model, name=f"{model.name}-{seen[model.name]}")
        result.append(model)
    return result


def _key(line: str) -> tuple[str, str]:
    """An image by its dataset folder and file name: the same in every ``datasets`` output."""
    path = Path(line)
    return path.parent.name, path.name


@dataclass
class CrossTable:
    """Each model's Table II on the test list of ``data``, and the leaks found."""

    models: list[CrossModel]
    sets: list[str]  # the held-out sets (dataset names), in the test list's order
    tables: dict[str, Table2] = field(default_factory=dict)
    leaks: dict[tuple[str, str], int] = field(default_factory=dict)  # (model, set) → images

    def map_of(self, model: str, test_set: str) -> float:
        table = self.tables[model]
        return table.combined.map if test_set == COMBINED else table.datasets[test_set].map


def _leaks(model: CrossModel, lists: dict[str, Path]) -> dict[str, int]:
    if model.train_list is None or not model.train_list.is_file():
        return {}
    trained = {_key(line) for line in read_list(model.train_list)}
    found = {}
    for name, listing in lists.items():
        overlap = len(trained & {_key(line) for line in read_list(listing)})
        if overlap:
            found[name] = overlap
    return found


def cross_table(
    request: MapOptions, models: Sequence[Path], echo: Callable[[str], None] = print
) -> CrossTable:
    """Score every model of ``models`` on the test list of ``request.data`` and its held-out
    sets; each model's Table II and plots go to ``request.out / <model>``."""
    if request.data is None:
        raise EvaluationError("--cross scores models on the held-out sets of --data obj.data")
    test = load_test_set(request.data)
    if not test.subsets:
        echo(f"note: no test_<dataset>.txt beside {test.obj.valid}: only the whole test list")
    found = _unique([find_model(path) for path in models])
    table = CrossTable(found, list(test.subsets))
    assert test.obj.valid is not None
    lists = {n: test.obj.valid.parent / f"test_{n}.txt" for n in test.subsets}
    lists[COMBINED] = test.obj.valid
    for model in found:
        echo(f"cross: scoring {model.name} ({model.weights})")
        scored = replace(request, weights=model.weights, cfg=model.cfg, cross=(),
                         out=request.out / model.name)  # fmt: skip
        outcome = run_map(scored)
        write_outputs(outcome, scored.out, (request.data, model.weights, model.cfg))
        table.tables[model.name] = outcome.table
        for name, count in _leaks(model, lists).items():
            table.leaks[(model.name, name)] = count
    return table


def _title(name: str) -> str:
    return "All test images" if name == COMBINED else DATASET_TITLES.get(name, name)


def _trained(model: CrossModel) -> str:
    return ", ".join(DATASET_TITLES.get(n, n) for n in model.trained_on) or "?"


def render_cross_markdown(table: CrossTable) -> str:
    """The cross-dataset table: mAP (%) of each model (row) on each held-out set (column); a
    cell on a set the model trained on is marked ``*`` (in-domain)."""
    sets = [*table.sets, COMBINED]
    first = next(iter(table.tables.values()), None)
    settings = ""
    if first is not None:
        result = first.combined
        settings = f" (IoU > {result.iou_thresh:.2f}, points {result.points})"
    lines = [
        f"## Cross-dataset mAP (%){settings}",
        "",
        "| Model | Trained on | " + " | ".join(_title(s) for s in sets) + " |",
        "|---|---|" + "---:|" * len(sets),
    ]
    for model in table.models:
        cells = []
        for name in sets:
            mark = "*" if name in model.trained_on else ""
            cells.append(f"{table.map_of(model.name, name) * 100:.2f}{mark}")
        lines.append(f"| {model.name} | {_trained(model)} | " + " | ".join(cells) + " |")
    lines += ["", "`*`: a held-out set of a dataset the model trained on (in-domain)."]
    for (model_name, name), count in sorted(table.leaks.items()):
        if name == COMBINED and table.sets:  # the sum of the sets' leaks
            continue
        lines.append(
            f"Leak: {count} images of {_title(name)} are in the training list of {model_name}; "
            "its cell does not measure generalisation (convert with the same --seed and options)."
        )
    if table.models:
        method = table.tables[table.models[0].name].method
        lines += ["", f"Numbers: {method}. Each model's Table II: OUT/<model>/table2.md."]
    return "\n".join(lines) + "\n"


def render_cross_csv(table: CrossTable) -> str:
    """One row per (model, set, class) plus an ``mAP`` row per (model, set); AP in percent."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "trained_on", "test_set", "class", "ap", "leaked_images"])
    for model in table.models:
        trained = ";".join(model.trained_on)
        tables = table.tables[model.name]
        for name in [*table.sets, COMBINED]:
            result = tables.combined if name == COMBINED else tables.datasets[name]
            leaked = table.leaks.get((model.name, name), 0)
            for c in result.classes:
                writer.writerow([model.name, trained, name, c.name, f"{c.ap * 100:.2f}", leaked])
            writer.writerow([model.name, trained, name, "mAP", f"{result.map * 100:.2f}", leaked])
    return buffer.getvalue()


def cross_json(table: CrossTable) -> dict[str, Any]:
    """Models, sets and each model's mAP per set (fractions 0..1), leaks included."""
    return {
        "sets": [*table.sets, COMBINED],
        "models": [
            {
                "name": model.name,
                "weights": str(model.weights),
                "cfg": str(model.cfg),
                "trained_on": list(model.trained_on),
                "map": {n: table.map_of(model.name, n) for n in [*table.sets, COMBINED]},
                "leaked_images": {n: c for (m, n), c in table.leaks.items() if m == model.name},
            }
            for model in table.models
        ],
    }


def write_cross(table: CrossTable, out: Path) -> list[Path]:
    """Write ``cross.md``, ``cross.csv`` and ``cross.json`` into ``out``."""
    paths = [Path(out) / f"cross.{fmt}" for fmt in ("md", "csv", "json")]
    atomic_write_text(paths[0], render_cross_markdown(table))
    atomic_write_text(paths[1], render_cross_csv(table))
    atomic_write_text(paths[2], json.dumps(cross_json(table), indent=2) + "\n")
    return paths
