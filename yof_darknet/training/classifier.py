"""``yof-darknet train-classifier``: the cascade's expression classifier, trained by darknet's own
``classifier train`` on the crops of ``yof-darknet crops``.

``runs/<name>/`` (name: ``<profile>-cascade``) holds ``expression-classifier.cfg`` (our template,
``assets/cfg/expression-classifier.cfg``, with the profile's settings), ``classifier.data``
(``backup=`` is ``weights/`` here), ``train.log``, ``results.csv``, ``results.png`` and
``weights/``. Darknet runs with its cwd in the crops folder: the crop lists are relative to it,
so that no folder name of the user's can match a class name (see ``datasets/crops.py``).
pjreddie saves ``<cfg stem>_<N>.weights`` per epoch and ``<cfg stem>.weights`` at the end;
AlexeyAB ``_last``, ``_N`` and ``_final``. ``--resume`` continues from the newest of them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from yof_darknet.core.errors import DarknetError
from yof_darknet.core.fileio import atomic_write_text, read_lines
from yof_darknet.core.owned import output_lock
from yof_darknet.formats.cfg import apply_setting, dump_cfg, net_int, parse_setting, read_cfg
from yof_darknet.formats.imagefiles import read_list
from yof_darknet.formats.safenames import check_list_lines
from yof_darknet.formats.trainlog import Record
from yof_darknet.formats.weights import read_header
from yof_darknet.tools.darknet import Darknet, find_darknet, probe
from yof_darknet.tools.faces import CROP_RECORD
from yof_darknet.training.options import check_run_name
from yof_darknet.training.process import stream_training
from yof_darknet.training.results import plot_results, read_results, write_results
from yof_darknet.training.train import newest_weights

TEMPLATE = Path(__file__).resolve().parents[1] / "assets" / "cfg" / "expression-classifier.cfg"
CFG_NAME = TEMPLATE.name

CLASSIFIER_PROFILES: dict[str, dict[str, int | float | str]] = {
    # Sized for 2 CPU cores next to the detector's sample run: 64 px crops, 32 per batch,
    # 200 iterations (~11 epochs of the sample's training faces). No saturation jitter: the drawn
    # faces already take every colour, independently of the class.
    "sample": {
        "batch": 32,
        "subdivisions": 1,
        "learning_rate": 0.01,
        "max_batches": 200,
        "saturation": 1,
        "exposure": 1.2,
    },
    # Real face crops on a CPU (the ``cpu`` detector profile's companion): ~2,600 training
    # crops of a 5,400-image ExpW subset, batch 64, ~40 epochs, colour jitter on (real photos).
    # With pjreddie's darknet the loss fell from 1.95 (chance: ln 7) to 1.79 by iteration 538
    # (13 epochs), through the peak rate (0.0077 at the end of the 100-iteration burn-in, then
    # poly decay), and 26 % of the 615 held-out crops were right (the largest class: 17 %).
    # AlexeyAB's CPU builds diverge at any rate (CPU_AVGPOOL_BUG), which no setting can fix.
    "cpu": {
        "batch": 64,
        "subdivisions": 1,
        "learning_rate": 0.01,
        "burn_in": 100,
        "max_batches": 1600,
        "saturation": 1.3,
        "exposure": 1.3,
    },
    # The real data (ExpW + Aff-Wild2 faces): batch 128, 30000 iterations (~40 epochs of ~90k
    # training faces), colour jitter on.
    "paper": {
        "batch": 128,
        "subdivisions": 1,
        "learning_rate": 0.05,
        "max_batches": 30000,
        "saturation": 1.3,
        "exposure": 1.3,
    },
}


# AlexeyAB's darknet, built without CUDA, cannot train a net with an [avgpool] layer (ours):
# make_avgpool_layer never sets ``l.train``, and the CPU forward_network clears a layer's
# gradient only when ``l.train`` is set, so the softmax adds each iteration's gradient to all the
# earlier ones. On real face crops, during the burn-in to 0.001 the loss left chance at
# iteration 65 (rate 0.0002) and reached 2.6 by 90; toward 0.01 it was inf at 95. pjreddie's
# darknet, which clears every layer's gradient, trains the same cfg; so do CUDA builds.
CPU_AVGPOOL_BUG = (
    "AlexeyAB's darknet built for the CPU cannot train the classifier: it never clears the "
    "gradient of the [avgpool] layer between iterations (make_avgpool_layer leaves l.train at "
    "0), so the loss climbs at any learning rate"
)


def classifier_trainer_problem(darknet: Darknet) -> str | None:
    """Why ``darknet`` cannot train the classifier (AlexeyAB's CPU builds), else None."""
    if darknet.flavor == "alexeyab" and not darknet.gpu:
        return f"{darknet.path}: {CPU_AVGPOOL_BUG}"
    return None


def classifier_darknet(darknet: Darknet, echo: Callable[[str], None] = print) -> Darknet:
    """``darknet``, or where it cannot train the classifier, pjreddie's darknet on PATH
    (Debian's package), said; an error with the fix when there is none."""
    problem = classifier_trainer_problem(darknet)
    if problem is None:
        return darknet
    found = shutil.which("darknet")
    other = probe(Path(found)) if found else None
    if other is None or other.flavor != "pjreddie":
        raise DarknetError(
            f"{problem}; install pjreddie's darknet (Debian/Ubuntu: apt-get install darknet) "
            "and pass --darknet /usr/bin/darknet, or use a CUDA build"
        )
    echo(f"classifier: {problem}; training it with {other.path} (pjreddie) instead")
    return other


@dataclass(frozen=True)
class ClassifierRun:
    run_dir: Path
    cfg: Path
    weights: Path | None  # the newest weights saved
    iterations: int  # the last iteration darknet printed
    interrupted: bool


def classifier_cfg(
    classes: int, profile: str = "sample", overrides: Sequence[str] = (), template: Path = TEMPLATE
) -> str:
    """The run cfg text: our template + the profile + ``--set`` overrides, softmax over
    ``classes``."""
    if profile not in CLASSIFIER_PROFILES:
        known = ", ".join(sorted(CLASSIFIER_PROFILES))
        raise DarknetError(f"unknown classifier profile {profile!r}; choose one of: {known}")
    sections = read_cfg(template)
    for key, value in CLASSIFIER_PROFILES[profile].items():
        apply_setting(sections, key, str(value))
    last_conv = [s for s in sections if s.name == "convolutional"][-1]
    last_conv.options["filters"] = str(classes)
    for expression in overrides:
        apply_setting(sections, *parse_setting(expression))
    size = net_int(sections, "width")
    if size <= 0 or size != net_int(sections, "height"):
        raise DarknetError(f"{template}: the classifier needs a square input, e.g. width=height=64")
    return dump_cfg(sections, f"generated by yof-darknet from {template.name}: profile={profile}")


def classifier_command(darknet: Darknet, data: Path, cfg: Path, weights: Path | None) -> list[str]:
    """``classifier train`` with only the flags this flavor knows."""
    args = [str(darknet.path), "classifier", "train", str(data), str(cfg)]
    if weights is not None:
        args.append(str(weights))
    if darknet.has_dont_show:
        args.append("-dont_show")
    return args


def train_classifier(
    crops: Path,
    *,
    profile: str = "sample",
    name: str | None = None,
    resume: bool = False,
    overrides: Sequence[str] = (),
    darknet: Darknet | None = None,
    runs_dir: Path = Path("runs"),
    progress: bool = True,
) -> ClassifierRun:
    """Train on the crops folder ``crops`` in ``runs_dir/name``; return the newest weights.
    One training at a time holds the run folder (``owned.output_lock``)."""
    if name is not None:
        check_run_name(name)
    with output_lock(Path(runs_dir) / (name or f"{profile}-cascade")):
        return _train_classifier(
            crops, profile=profile, name=name, resume=resume, overrides=overrides,
            darknet=darknet, runs_dir=runs_dir, progress=progress,
        )  # fmt: skip


def _train_classifier(
    crops: Path,
    *,
    profile: str,
    name: str | None,
    resume: bool,
    overrides: Sequence[str],
    darknet: Darknet | None,
    runs_dir: Path,
    progress: bool,
) -> ClassifierRun:
    darknet = darknet or find_darknet()
    problem = classifier_trainer_problem(darknet)
    if problem is not None:
        raise DarknetError(f"{problem}; train it with pjreddie's darknet or a CUDA build")
    crops = Path(crops).resolve()
    for listed in ("labels.txt", "train.list"):
        if not (crops / listed).is_file():
            raise DarknetError(
                f"{crops / listed}: not found; write the crops with `yof-darknet crops`"
            )
    labels = read_lines(crops / "labels.txt")
    for listed in ("train.list", "test.list"):  # darknet hands unloadable paths to a shell
        if (crops / listed).is_file():
            check_list_lines(read_list(crops / listed), crops / listed, error=DarknetError)
    run_dir = Path(runs_dir) / (name or f"{profile}-cascade")
    backup = run_dir / "weights"
    cfg_path = run_dir / CFG_NAME
    weights = newest_weights(backup) if backup.is_dir() else None
    if resume and weights is None:
        raise DarknetError(f"{run_dir}: no weights to resume from; start it without --resume")
    if not resume and weights is not None:
        raise DarknetError(
            f"{run_dir} already holds trained weights; continue it with --resume or pick "
            "another --name"
        )
    backup.mkdir(parents=True, exist_ok=True)
    record = (
        json.loads((crops / "crops.json").read_text()) if (crops / "crops.json").is_file() else {}
    )
    if not (resume and cfg_path.is_file()):
        size = record.get("size")  # the net sees the crops at the size they were cut
        sized = [f"width={size}", f"height={size}", f"min_crop={size}"] if size else []
        if size:  # darknet rescales to min..max_crop and cuts size x size: a small zoom jitter
            sized.append(f"max_crop={size + size // 8}")
        atomic_write_text(cfg_path, classifier_cfg(len(labels), profile, [*sized, *overrides]))
    if "margin" in record:  # the cascade cuts its crops with the same margin
        crop = {"margin": record["margin"], "size": record.get("size")}
        atomic_write_text(run_dir / CROP_RECORD, json.dumps(crop) + "\n")
    data_path = run_dir / "classifier.data"
    atomic_write_text(
        data_path,
        f"classes = {len(labels)}\ntrain = {crops / 'train.list'}\n"
        f"valid = {crops / 'test.list'}\nlabels = {crops / 'labels.txt'}\n"
        f"backup = {backup.resolve()}\ntop = 2\n",
    )
    sections = read_cfg(cfg_path)
    args = classifier_command(darknet, data_path.resolve(), cfg_path.resolve(), weights)
    previous = read_results(run_dir / "results.csv") if resume else []
    rows: list[Record] = []
    final = backup / f"{cfg_path.stem}{'' if darknet.flavor == 'pjreddie' else '_final'}.weights"
    try:
        interrupted = stream_training(
            args,
            cwd=crops,
            log=run_dir / "train.log",
            rows=rows,
            max_batches=net_int(sections, "max_batches"),
            start=read_header(weights).iterations(net_int(sections, "batch", 1)) if weights else 0,
            answer_yes=darknet.asks_yes_to_train_on_cpu,
            final_weights=final,
            progress=progress,
        )
    finally:
        first = rows[0].line.iteration if rows else None
        kept = [r for r in previous if first is None or r.line.iteration < first]
        write_results(run_dir / "results.csv", kept + rows)
        plot_results(run_dir / "results.png", kept + rows, f"{run_dir.name} ({darknet.flavor})")
    last = rows[-1].line.iteration if rows else 0
    return ClassifierRun(run_dir, cfg_path, newest_weights(backup), last, interrupted)
