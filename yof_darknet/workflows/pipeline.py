"""`make reproduce`: every stage of the paper, in order, each skipping the work already done.

sample (only without dataset paths) → datasets → pretrained weights (none for a profile that
trains from scratch by design: ``cpu``) → train (cfg of the architecture and profile, anchors
rule; checkpoints scored on the validation list as they are saved) → the weights chosen
(``--select``: best on validation, or final) → map of the test list, once → Table II, face AP
and the verdict. Whether the darknet found can train
the architecture is settled first, before any stage runs. The stages are the package's own
functions, called with the stages' own options dataclasses (the same the ``datasets``,
``train`` and ``map`` commands build), so every stage option given to ``reproduce`` reaches its
stage; this module only decides what to run and reports it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from yof_darknet.core.errors import DarknetError, DatasetError, EvaluationError
from yof_darknet.datasets.options import DatasetsOptions
from yof_darknet.evaluate.options import MapOptions
from yof_darknet.training.options import TrainOptions

if TYPE_CHECKING:
    from yof_darknet.evaluate.faceap import Verdict
    from yof_darknet.evaluate.selection import Choice
    from yof_darknet.tools.darknet import Darknet

SAMPLE_BANNER = (
    "No dataset paths given (EXPW=, AFFWILD2=, AFFECTNET=, RAFDB=, IMAGES=): running on the "
    "EMBEDDED SAMPLE (drawn faces and two short videos). Its Table II shows that the pipeline "
    "works; it is not the paper's data and its numbers are not comparable with the paper's."
)


CONTROL_SUFFIX = "-control"
CONTROL_RECORD = "control.json"  # in a control's run folder: what it is and what it is set beside
BESIDE_NAME = "control.md"  # in a control's run folder: the recipe and its control side by side


@dataclass(frozen=True)
class ReproduceOptions:
    """What to reproduce and where. ``expw``/``affwild2`` None and no dataset folder in
    ``datasets`` (AffectNet, RAF-DB, your photos) = the embedded sample.

    ``datasets``, ``train`` and ``map`` are the stages' own options (the same dataclasses as
    the ``datasets``, ``train`` and ``map`` commands); ``train.profile`` None = ``sample`` on
    the sample, else ``paper``; ``train.name`` None = the profile's name.
    """

    expw: Path | None = None
    affwild2: Path | None = None
    data: Path | None = None  # converted dataset; default data/darknet (data/sample-darknet)
    weights_dir: Path = Path("weights")
    sample_dir: Path | None = None  # default: data/sample (data/sample-control)
    darknet: Path | None = None
    shuffle_labels: bool = False  # the permuted-label control (the recipe's, trained the same way)
    from_scratch: bool = False  # no pretrained weights, even for the paper profile
    datasets: DatasetsOptions = field(default_factory=DatasetsOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    map: MapOptions = field(default_factory=MapOptions)

    @property
    def on_sample(self) -> bool:
        return self.expw is None and self.affwild2 is None and not self.datasets.given

    @property
    def sample_name(self) -> str:
        return "sample-control" if self.shuffle_labels else "sample"

    @property
    def profile(self) -> str:
        return self.train.profile or ("sample" if self.on_sample else "paper")

    @property
    def arch(self) -> str:
        from yof_darknet.training.archs import DEFAULT_ARCH

        return self.train.arch or DEFAULT_ARCH

    @property
    def run_dir(self) -> Path:
        """``runs/<--run>``, else the profile's run (``runs/cpu``); the control's default is
        the recipe's name + ``-control`` (``runs/cpu-control``)."""
        name = replace(self.train, profile=self.profile).run_name
        if self.shuffle_labels and not self.train.name:
            name += CONTROL_SUFFIX
        return self.train.runs / name

    @property
    def partner_run_dir(self) -> Path:
        """The run this one is set beside: the control's recipe run, the recipe's control."""
        name = self.run_dir.name
        if not self.shuffle_labels:
            return self.run_dir.with_name(name + CONTROL_SUFFIX)
        if name.endswith(CONTROL_SUFFIX):
            return self.run_dir.with_name(name.removesuffix(CONTROL_SUFFIX))
        return self.train.runs / replace(self.train, profile=self.profile, name=None).run_name

    @property
    def data_dir(self) -> Path:
        """The converted dataset: ``--data``, else data/darknet (data/sample-darknet,
        data/sample-control-darknet on the sample). A control of a real dataset trains on a
        permuted copy of it, ``DATA-control``, and is scored on DATA's own test list."""
        default = f"data/{self.sample_name}-darknet" if self.on_sample else "data/darknet"
        return self.data or Path(default)


@dataclass
class Trained:
    """What ``prepare`` leaves: the model, and the dataset whose test list scores it."""

    run_dir: Path
    weights: Path
    cfg: Path
    obj_data: Path  # the true-label dataset (for a control too): score on its test list
    minutes: dict[str, float] = field(default_factory=dict)
    choice: Choice | None = None  # how ``weights`` were chosen (``--select``)


@dataclass
class ReproduceResult:
    run_dir: Path
    weights: Path
    cfg: Path
    table_md: str
    outputs: list[Path]
    minutes: dict[str, float] = field(default_factory=dict)
    verdict: Verdict | None = None  # what the model learned (None: no face AP)
    summary: list[str] = field(default_factory=list)  # the validation peak, the choice
    beside: str | None = None  # the recipe and its control side by side, when both are scored
    beside_path: Path | None = None  # where that is written (the control's control.md)


Echo = Callable[[str], None]


def _sample(opts: ReproduceOptions, echo: Echo) -> tuple[Path, Path]:
    """Write the embedded sample once (a marker records the seed and the control flag)."""
    from yof_darknet.core.fileio import atomic_write_text
    from yof_darknet.samples.write import write_sample

    sample_dir = opts.sample_dir or Path("data") / opts.sample_name
    marker = sample_dir / ".complete.json"
    seed = opts.datasets.seed
    wanted = {"seed": seed, "shuffle_labels": opts.shuffle_labels}
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        echo(f"sample: {sample_dir} already written")
    else:
        write_sample(sample_dir, seed=seed, shuffle_labels=opts.shuffle_labels)
        atomic_write_text(marker, json.dumps(wanted) + "\n")
        echo(f"sample: wrote {sample_dir}")
    return sample_dir / "ExpW", sample_dir / "AffWild2"


def validation_default(profile: str) -> str:
    """``--val-per-dataset`` where ``reproduce`` is not given one: none for the ``paper``
    profile, the datasets stage's ``auto`` for every other.

    The paper held out its test images and trained on all the others, with no validation set,
    and reported its final weights: a validation list could not change which weights its
    Table II scores, and would only take 2,500 images from its training set. Off, the paper's
    split is reproduced whole, training set included (and AlexeyAB's ``-map`` does not run:
    it would chart the test list)."""
    from yof_darknet.datasets.split import AUTO

    return "0" if profile == "paper" else AUTO


def _datasets(
    expw: Path | None, affwild2: Path | None, out: Path, opts: ReproduceOptions, echo: Echo
) -> Path:
    from yof_darknet.datasets.options import SAMPLE_TEST_IMAGES, TEST_PER_DATASET

    test = SAMPLE_TEST_IMAGES if opts.on_sample else TEST_PER_DATASET
    summary = opts.datasets.build(
        expw,
        affwild2,
        out,
        test_default=test,
        force_test_default=opts.on_sample,  # SAMPLE_TEST_IMAGES is sized on purpose
        val_default=validation_default(opts.profile),
    )
    totals = summary.stats["totals"]
    validation = summary.stats["validation"]
    val = (
        f"validation {totals['images']['val']} images (from training)"
        if validation["mode"] == "from_training"
        else f"validation off ({validation['why']})"
    )
    echo(
        f"datasets: train {totals['images']['train']} images, test {totals['images']['test']} "
        f"images, {val} in {summary.out}"
    )
    for message in summary.messages:
        echo(f"datasets: note: {message}")
    return summary.obj_data


def _pretrained(opts: ReproduceOptions, echo: Echo) -> Path | None:
    """The architecture's pretrained cut (yolov3-tiny.conv.15, which the paper fine-tunes;
    yolov4-tiny.conv.29...); None = from scratch (said, or refused)."""
    from yof_darknet.training.archs import get_arch
    from yof_darknet.training.download import fetch_pretrained
    from yof_darknet.training.profiles import SCRATCH_PROFILES

    if opts.from_scratch:
        echo("weights: --from-scratch: TRAINING FROM SCRATCH (no pretrained weights)")
        return None
    if opts.profile in SCRATCH_PROFILES:
        echo(
            f"weights: profile {opts.profile} trains from scratch by design (no pretrained weights)"
        )
        return None
    spec = get_arch(opts.arch).pretrained
    cut = opts.weights_dir / spec.cut_name
    if cut.is_file() and not (opts.weights_dir / spec.weights).exists():
        echo(f"weights: {cut}")  # placed by hand; train checks that it fits the cfg
        return cut
    try:
        found = fetch_pretrained(opts.weights_dir, arch=opts.arch)
    except DarknetError as exc:
        if opts.profile == "paper":
            raise DarknetError(
                f"{exc}. The paper's profile fine-tunes the pretrained {spec.cut_name}: put "
                f"the file in {opts.weights_dir}, or pass --from-scratch (make reproduce "
                "FROM_SCRATCH=1) to train from scratch on purpose"
            ) from exc
        echo(f"weights: pretrained weights unavailable, TRAINING FROM SCRATCH ({exc})")
        return None
    for note in found.notes:
        echo(f"weights: WARNING: {note}")
    echo(f"weights: {found.cut}")
    return found.cut


def _train(
    obj_data: Path, weights: Path | None, darknet: Darknet, opts: ReproduceOptions, echo: Echo
) -> Path:
    from yof_darknet.training.train import newest_weights, train
    from yof_darknet.training.validation import stopped_early

    run_dir = opts.run_dir
    final = sorted((run_dir / "weights").glob("*_final.weights"))
    if final:
        echo(f"train: {final[0]} exists, training already finished")
        return final[0]
    if (why := stopped_early(run_dir)) is not None:
        echo(f"train: stopped early ({why}); training already finished")
        newest = newest_weights(run_dir / "weights")
        assert newest is not None
        return newest
    resume = newest_weights(run_dir / "weights") is not None if run_dir.is_dir() else False
    echo(f"train: {'resuming' if resume else 'starting'} {run_dir}")
    options = replace(
        opts.train,
        profile=None if resume else opts.profile,
        arch=None if resume else opts.train.arch,
        weights=None if resume else weights,
        name=run_dir.name,
        resume=resume,
        max_batches=None if resume else opts.train.max_batches,
    )
    result = train(obj_data, options, darknet=darknet, echo=echo)
    if result.interrupted or result.weights is None:
        raise DarknetError(f"{run_dir}: training did not finish; run the same command to resume")
    return result.weights


def _choose(run_dir: Path, test_data: Path, opts: ReproduceOptions, echo: Echo) -> Choice:
    """The weights of Table II: ``--select``, else the profile's default; that default falls
    back to the final weights when the dataset has no validation list (an explicit ``best``
    is refused)."""
    from yof_darknet.evaluate.ap import EvalParams
    from yof_darknet.evaluate.selection import choose
    from yof_darknet.formats.objdata import read_obj_data
    from yof_darknet.training.profiles import default_select
    from yof_darknet.training.results import save_results

    params = EvalParams(opts.map.iou_or_default, opts.map.points_or_default)
    select = opts.map.select or default_select(opts.profile)
    test_list = read_obj_data(test_data).valid  # its name only: it is read after the choice
    score = opts.train.score_checkpoints is not False  # `final` scores only for the peak line
    echo(f"select: {select} ({'--select' if opts.map.select else f'profile {opts.profile}'})")
    try:
        choice = choose(run_dir, select, params, test_list=test_list, score=score, echo=echo)
    except DatasetError as exc:
        if opts.map.select is not None:
            raise
        echo(f"select: {exc}; Table II uses the final weights instead")
        choice = choose(run_dir, "final", params, test_list=test_list, score=score, echo=echo)
    save_results(run_dir)
    return choice


def _control(obj_data: Path, opts: ReproduceOptions, echo: Echo) -> Path:
    """The permuted-label copy of the converted dataset (``DATA-control``); its obj.data."""
    from yof_darknet.datasets.control import write_control

    out = Path(f"{opts.data_dir}{CONTROL_SUFFIX}")
    summary = write_control(obj_data, out, seed=opts.datasets.seed)
    echo(
        f"control: {summary.faces} training faces of {summary.images} images, labels permuted "
        f"across faces ({summary.moved} changed class) in {out}; scored on {obj_data}'s true "
        "test list"
    )
    return summary.obj_data


def _record_control(opts: ReproduceOptions, train_data: Path, true_data: Path) -> None:
    """Say in the run folder that it is a control, of what, and what it is set beside."""
    from yof_darknet.core.fileio import atomic_write_text

    record = {
        "control": "expression labels permuted across the training faces; scored on the true "
        "labels",
        "seed": opts.datasets.seed,
        "trained_on": str(train_data.resolve()),
        "scored_on": str(true_data.resolve()),
        "recipe_run": str(opts.partner_run_dir),
    }
    atomic_write_text(opts.run_dir / CONTROL_RECORD, json.dumps(record, indent=1) + "\n")


def prepare(opts: ReproduceOptions, echo: Echo = print) -> Trained:
    """Every stage but the scoring of the test list (darknet, sample, datasets, control,
    weights, train, the choice of the weights on the validation list), each skipping the work
    done; the chosen model and the true-label dataset that scores it."""
    from yof_darknet.formats.cfg import read_cfg
    from yof_darknet.tools.darknet import check_can_run, find_darknet
    from yof_darknet.training.archs import get_arch, run_arch

    minutes: dict[str, float] = {}
    clock = time.monotonic()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.monotonic()
        minutes[stage] = (now - clock) / 60
        clock = now

    darknet = find_darknet(opts.darknet)
    echo(f"darknet: {darknet.path} ({darknet.flavor} {darknet.version})")
    found = run_arch(opts.run_dir)
    if found and opts.train.arch and found != opts.train.arch:
        raise DarknetError(
            f"{opts.run_dir} holds a {found} run, not {opts.train.arch}: pick another --run"
        )
    arch = get_arch(found or opts.arch)
    check_can_run(darknet, read_cfg(arch.template), f"--arch {arch.name} ({arch.template.name})")
    expw, affwild2 = opts.expw, opts.affwild2
    if opts.on_sample:
        echo(SAMPLE_BANNER)
        expw, affwild2 = _sample(opts, echo)
    obj_data = _datasets(expw, affwild2, opts.data_dir, opts, echo)
    true_data = obj_data
    if opts.shuffle_labels and opts.on_sample:  # the control is judged on the TRUE labels
        true_opts = replace(opts, shuffle_labels=False, sample_dir=None, data=None)
        echo("control: scoring on the true-label sample (same images, same split)")
        true_data = _datasets(*_sample(true_opts, echo), true_opts.data_dir, true_opts, echo)
    elif opts.shuffle_labels:
        obj_data = _control(true_data, opts, echo)
    if opts.shuffle_labels:
        _record_control(opts, obj_data, true_data)
    lap("datasets")
    weights = _pretrained(opts, echo)
    lap("weights")
    _train(obj_data, weights, darknet, opts, echo)
    lap("train")
    choice = _choose(opts.run_dir, true_data, opts, echo)
    lap("select")
    cfg = opts.run_dir / arch.cfg_name
    return Trained(opts.run_dir, choice.weights, cfg, true_data, minutes, choice)


def _beside(opts: ReproduceOptions, own: dict, echo: Echo) -> tuple[str, Path] | None:
    """The recipe and its permuted-label control side by side, once both are scored (written
    to the control's ``control.md``); None while the other is missing."""
    from yof_darknet.core.fileio import atomic_write_text
    from yof_darknet.evaluate.sidebyside import read_record, same_test_list_problem, side_by_side

    partner = opts.partner_run_dir
    control_dir = opts.run_dir if opts.shuffle_labels else partner
    scored = partner / "map" / "table2.json"
    if not scored.is_file() or not (control_dir / CONTROL_RECORD).is_file():
        if opts.shuffle_labels:
            echo(f"control: no scored recipe run {partner} yet (reproduce it the same way, "
                 "without --shuffle-labels, to see both side by side)")  # fmt: skip
        return None
    try:
        other = read_record(scored)
    except EvaluationError as exc:
        echo(f"control: {partner} is not set beside {opts.run_dir}: {exc}")
        return None
    control, recipe = (own, other) if opts.shuffle_labels else (other, own)
    problem = same_test_list_problem([control, recipe])
    if problem is not None:
        echo(f"control: {partner} is not set beside {opts.run_dir}: {problem}")
        return None
    recipe_dir = partner if opts.shuffle_labels else opts.run_dir
    ratio = f"{recipe['map'] / control['map']:.2f}×" if control["map"] > 0 else "∞"
    markdown = (
        f"## Recipe ({recipe_dir}) vs its permuted-label control ({control_dir})\n\n"
        f"Expression mAP {recipe['map'] * 100:.2f} % against the control's "
        f"{control['map'] * 100:.2f} %: {ratio} the control's. Same images, boxes, recipe and "
        "test list; the control's training labels were permuted across faces.\n\n"
    )
    markdown += side_by_side({"control": [control], "recipe": [recipe]}, ratio=True)
    atomic_write_text(control_dir / BESIDE_NAME, markdown)
    return markdown, control_dir / BESIDE_NAME


def reproduce(opts: ReproduceOptions, echo: Echo = print) -> ReproduceResult:
    """Run every stage; return the run folder, the model and Table II (markdown)."""
    from yof_darknet.evaluate.run import write_outputs
    from yof_darknet.evaluate.selection import score_chosen
    from yof_darknet.evaluate.table import render_markdown, to_json

    trained = prepare(opts, echo)
    assert trained.choice is not None
    clock = time.monotonic()
    request = replace(opts.map, data=trained.obj_data, out=trained.run_dir / "map",
                      darknet=opts.darknet)  # fmt: skip
    outcome = score_chosen(request, trained.choice, trained.run_dir)
    outputs = write_outputs(outcome, request.out)
    minutes = {**trained.minutes, "map": (time.monotonic() - clock) / 60}
    beside, beside_path = _beside(opts, to_json(outcome.table), echo) or (None, None)
    face = outcome.table.face
    return ReproduceResult(
        trained.run_dir,
        trained.weights,
        trained.cfg,
        render_markdown(outcome.table),
        outputs,
        minutes,
        verdict=None if face is None else face.verdict,
        summary=trained.choice.lines(),
        beside=beside,
        beside_path=beside_path,
    )
