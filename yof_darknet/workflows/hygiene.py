"""``make hygiene``: does masking the unannotated faces help? Both modes trained the same way,
``--repeats`` times each, scored on one raw test list.

``hygiene`` trains, with ``reproduce``'s stages and options, ``--unannotated keep`` (the paper;
the dataset ``DATA`` and the run ``RUN``: what ``make reproduce`` makes, reused when done) and
``--unannotated mask`` (``DATA-mask``, ``RUN-mask``), each ``repeats`` times (``RUN-r2``,
``RUN-mask-r2``...: darknet draws its own random start and batches each time, so the repeats
show the run-to-run spread). DATA is ``data/darknet`` for a dataset (``data/sample-darknet``
on the embedded sample) and RUN the profile's run (``runs/cpu``, ``runs/sample``). The split
depends only on the seed and the image names, so both modes hold out the same images; every
model (the weights ``reproduce`` reports: ``--select``, each run choosing on its own validation
list) is then scored on the *raw* test list (``DATA/obj.data``, unmasked images, as the paper
scores), so only the training data differ. A run already trained is reused, and its score too
when its weights and the scoring options are the ones it was scored with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.fileio import sha256_file

if TYPE_CHECKING:
    from yof_darknet.evaluate.options import MapOptions
    from yof_darknet.workflows.pipeline import ReproduceOptions, Trained

Echo = Callable[[str], None]
MODES = ("keep", "mask")
RAW_MAP = "map-raw-test"  # in each run folder: its Table II on the raw test list
SCORED = "scored.json"  # what that Table II scored (weights, list, options), to reuse it


@dataclass
class HygieneResult:
    records: dict[str, list[dict[str, Any]]]  # mode -> the table2.json of each repeat
    runs: dict[str, list[Path]]  # mode -> run folders
    markdown: str
    written: Path


def run_name(base: str, mode: str, repeat: int) -> str:
    """``cpu``, ``cpu-r2``, ``cpu-mask``, ``cpu-mask-r2`` (repeat counts from 1)."""
    return base + ("" if mode == "keep" else f"-{mode}") + ("" if repeat == 1 else f"-r{repeat}")


def mode_options(base: ReproduceOptions, mode: str, repeat: int) -> ReproduceOptions:
    """``base`` trained with ``--unannotated mode`` as the ``repeat``-th run of that mode."""
    data = base.data_dir if mode == "keep" else Path(f"{base.data_dir}-{mode}")
    return replace(
        base,
        data=data,
        datasets=replace(base.datasets, unannotated=mode),
        train=replace(base.train, name=run_name(base.run_dir.name, mode, repeat)),
    )


def scored_list_digest(obj_data: Path) -> str:
    """sha256 of the test list named by ``obj_data`` and of every label it scores against:
    what the score depends on (the lists are rewritten, unchanged, by each run)."""
    from yof_darknet.formats.labels import check_label_path
    from yof_darknet.formats.objdata import read_obj_data

    digest = hashlib.sha256()
    for image in read_obj_data(obj_data).read_list("valid"):
        label = check_label_path(image)
        digest.update(f"{image}\n".encode("utf-8", "surrogateescape"))
        digest.update(label.read_bytes() if label.is_file() else b"(no label)")
    return digest.hexdigest()


def _scored_key(request: MapOptions) -> dict[str, Any]:
    (
        """What a score depends on: the scoring options, the weights' bytes (a re-copied ``_best``
    keeps its score), the test list."""
        ""
    )
    assert request.weights is not None and request.data is not None
    key = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(request).items()}
    key.update(weights_file=sha256_file(request.weights), test=scored_list_digest(request.data))
    key.pop("out")
    return json.loads(json.dumps(key))  # as read back: tuples become lists


def score_raw(trained: Trained, raw: Path, base: ReproduceOptions, echo: Echo) -> dict[str, Any]:
    """The run's Table II on the raw test list (``RUN/map-raw-test``), reused when scored so."""
    from yof_darknet.core.fileio import atomic_write_text
    from yof_darknet.evaluate.run import run_map, write_outputs
    from yof_darknet.evaluate.selection import score_chosen
    from yof_darknet.evaluate.table import to_json

    out = trained.run_dir / RAW_MAP
    request = replace(
        base.map, data=raw, weights=trained.weights, cfg=trained.cfg, out=out,
        darknet=base.darknet,
    )  # fmt: skip
    key = _scored_key(request)
    try:
        if json.loads((out / SCORED).read_text()) == key:
            echo(f"hygiene: {out / 'table2.json'} already scored")
            return json.loads((out / "table2.json").read_text())
    except (OSError, ValueError):
        pass
    echo(f"hygiene: scoring {trained.run_dir} on the raw test list {raw}")
    if trained.choice is not None:  # the weights reproduce reports (--select), said so
        outcome = score_chosen(request, trained.choice, trained.run_dir)
    else:
        outcome = run_map(request)
    write_outputs(outcome, out)
    atomic_write_text(out / SCORED, json.dumps(key, indent=1) + "\n")
    return to_json(outcome.table)


def _title(base: ReproduceOptions, repeats: int) -> str:
    if base.on_sample:
        data = "embedded sample"
    else:
        data = " + ".join(str(p) for p in (base.expw, base.affwild2) if p is not None)
    runs = "one run each" if repeats == 1 else f"{repeats} runs each"
    return (
        f"## --unannotated keep vs mask ({data}, profile {base.profile}, {runs}, "
        "same raw test list)"
    )


def hygiene(base: ReproduceOptions, repeats: int = 1, echo: Echo = print) -> HygieneResult:
    """Train ``keep`` and ``mask`` ``repeats`` times each (runs already trained are reused),
    score every model on the raw test list, write ``RUN-mask/hygiene.{md,json}``."""
    from yof_darknet.core.fileio import atomic_write_text
    from yof_darknet.evaluate.sidebyside import face_ap, side_by_side
    from yof_darknet.workflows.pipeline import prepare

    if base.shuffle_labels:
        raise DatasetError("hygiene compares true-label runs; it takes no --shuffle-labels")
    if base.datasets.unannotated != "keep":
        raise DatasetError(
            f"hygiene trains both --unannotated keep and mask itself; drop --unannotated "
            f"{base.datasets.unannotated} (and --hygiene)"
        )
    raw = base.data_dir / "obj.data"  # written by the first keep run, before any scoring
    records: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    runs: dict[str, list[Path]] = {mode: [] for mode in MODES}
    for mode in MODES:
        for repeat in range(1, repeats + 1):
            options = mode_options(base, mode, repeat)
            echo(f"hygiene: --unannotated {mode}, run {repeat} of {repeats}: {options.run_dir}")
            trained = prepare(options, echo)
            runs[mode].append(trained.run_dir)
            records[mode].append(score_raw(trained, raw, base, echo))
    names = {mode: [p.name for p in runs[mode]] for mode in MODES}
    markdown = _title(base, repeats) + "\n\n" + side_by_side(records, runs=names)
    folder = runs["mask"][0]
    atomic_write_text(folder / "hygiene.md", markdown)
    summary = {
        "repeats": repeats,
        "raw_test": str(raw.resolve()),
        "runs": {mode: [str(p) for p in runs[mode]] for mode in MODES},
        "map": {mode: [r["map"] for r in records[mode]] for mode in MODES},
        # class-agnostic, where map records one (None: not computed, see each table2.json)
        "face_ap": {mode: [face_ap(r) for r in records[mode]] for mode in MODES},
    }
    atomic_write_text(folder / "hygiene.json", json.dumps(summary, indent=1) + "\n")
    return HygieneResult(records, runs, markdown, folder / "hygiene.md")
