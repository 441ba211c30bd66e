"""`make reproduce`: every stage of the paper, in order, each skipping the work already done.

sample (only without dataset paths) → datasets → pretrained weights → train (cfg of the
architecture and profile, anchors rule; checkpoints scored on the validation list as they are
saved) → the weights chosen (``--select``: best on validation, or final) → map of the test list,
once → Table II, face AP and the verdict. Whether the darknet found can train
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

from yof_darknet.darknet.options import TrainOptions
from yof_darknet.datasets.options import DatasetsOptions
from yof_darknet.errors import DarknetError, DatasetError
from yof_darknet.evaluate.options import MapOptions

if TYPE_CHECKING:
    from yof_darknet.evaluate.faceap import Verdict
    from yof_darknet.evaluate.selection import Choice
    from yof_darknet.formats.binary import Darknet

SAMPLE_BANNER = (
    "No dataset paths given (EXPW=, AFFWILD2=): running on the EMBEDDED SAMPLE (drawn faces and "
    "two short videos). Its Table II shows that the pipeline works; it is not the paper's data "
    "and its numbers are not comparable with the paper's."
)


@dataclass(frozen=True)
class ReproduceOptions:
    """What to reproduce and where. ``expw``/``affwild2`` None = the embedded sample.

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
    shuffle_labels: bool = False  # the permuted-label control (sample only)
    from_scratch: bool = False  # no pretrained weights, even for the paper profile
    datasets: DatasetsOptions = field(default_factory=DatasetsOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    map: MapOptions = field(default_factory=MapOptions)

    @property
    def on_sample(self) -> bool:
        return self.expw is None and self.affwild2 is None

    @property
    def sample_name(self) -> str:
        return "sample-control" if self.shuffle_labels else "sample"

    @property
    def profile(self) -> str:
        return self.train.profile or ("sample" if self.on_sample else "paper")

    @property
    def arch(self) -> str:
        from yof_darknet.darknet.archs import DEFAULT_ARCH

        return self.train.arch or DEFAULT_ARCH

    @property
    def run_dir(self) -> Path:
        return self.train.runs / replace(self.train, profile=self.profile).run_name


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


Echo = Callable[[str], None]


def _sample(opts: ReproduceOptions, echo: Echo) -> tuple[Path, Path]:
    """Write the embedded sample once (a marker records the seed and the control flag)."""
    from yof_darknet.datasets.sample import write_sample
    from yof_darknet.fileio import atomic_write_text

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


def _data_dir(opts: ReproduceOptions) -> Path:
    default = f"data/{opts.sample_name}-darknet" if opts.on_sample else "data/darknet"
    return opts.data or Path(default)


def _datasets(
    expw: Path | None, affwild2: Path | None, out: Path, opts: ReproduceOptions, echo: Echo
) -> Path:
    from yof_darknet.datasets.options import SAMPLE_TEST_IMAGES, TEST_PER_DATASET

    test = SAMPLE_TEST_IMAGES if opts.on_sample else TEST_PER_DATASET
    summary = opts.datasets.build(expw, affwild2, out, test_default=test)
    totals = summary.stats["totals"]
    echo(
        f"datasets: train {totals['images']['train']} images, test {totals['images']['test']} "
        f"images in {summary.out}"
    )
    for message in summary.messages:
        echo(f"datasets: note: {message}")
    return summary.obj_data


def _pretrained(opts: ReproduceOptions, echo: Echo) -> Path | None:
    """The architecture's pretrained cut (yolov3-tiny.conv.15, which the paper fine-tunes;
    yolov4-tiny.conv.29...); None = from scratch (said, or refused)."""
    from yof_darknet.darknet.archs import get_arch
    from yof_darknet.darknet.download import fetch_pretrained

    if opts.from_scratch:
        echo("weights: --from-scratch: TRAINING FROM SCRATCH (no pretrained weights)")
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
    from yof_darknet.darknet.train import newest_weights, train
    from yof_darknet.darknet.validation import stopped_early

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
    from yof_darknet.darknet.profiles import default_select
    from yof_darknet.darknet.results import save_results
    from yof_darknet.evaluate.ap import EvalParams
    from yof_darknet.evaluate.selection import choose
    from yof_darknet.formats.objdata import read_obj_data

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


def reproduce(opts: ReproduceOptions, echo: Echo = print) -> ReproduceResult:
    """Run every stage; return the run folder, the model and Table II (markdown)."""
    from yof_darknet.darknet.archs import get_arch, run_arch
    from yof_darknet.evaluate.run import write_outputs
    from yof_darknet.evaluate.selection import score_chosen
    from yof_darknet.evaluate.table import render_markdown
    from yof_darknet.formats.binary import check_can_run, find_darknet
    from yof_darknet.formats.cfg import read_cfg

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
    elif opts.shuffle_labels:
        raise DarknetError("the permuted-label control runs on the embedded sample only")
    obj_data = _datasets(expw, affwild2, _data_dir(opts), opts, echo)
    lap("datasets")
    weights = _pretrained(opts, echo)
    lap("weights")
    _train(obj_data, weights, darknet, opts, echo)
    lap("train")
    run_dir = opts.run_dir
    run_cfg = run_dir / arch.cfg_name
    if opts.shuffle_labels:  # the control is judged on the sample's TRUE labels
        true_opts = replace(opts, shuffle_labels=False, sample_dir=None, data=None)
        echo("control: scoring on the true-label sample (same images, same split)")
        obj_data = _datasets(*_sample(true_opts, echo), _data_dir(true_opts), true_opts, echo)
    choice = _choose(run_dir, obj_data, opts, echo)
    lap("select")
    request = replace(opts.map, data=obj_data, out=run_dir / "map", darknet=opts.darknet)
    outcome = score_chosen(request, choice, run_dir)
    outputs = write_outputs(outcome, request.out)
    lap("map")
    face = outcome.table.face
    return ReproduceResult(
        run_dir, choice.weights, run_cfg, render_markdown(outcome.table), outputs, minutes,
        None if face is None else face.verdict, choice.lines(),
    )  # fmt: skip
