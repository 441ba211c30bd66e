"""`make reproduce`: every stage of the paper, in order, each skipping the work already done.

sample (only without dataset paths) → datasets → pretrained weights (when they can be had) →
cfg + anchors → train → map → Table II. The stages are the package's own functions, called with
the same defaults as their commands; this module only decides what to run and reports it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from yof_darknet.errors import DarknetError

if TYPE_CHECKING:
    from yof_darknet.formats.binary import Darknet

SAMPLE_BANNER = (
    "No dataset paths given (EXPW=, AFFWILD2=): running on the EMBEDDED SAMPLE (drawn faces and "
    "two short videos). Its Table II shows that the pipeline works; it is not the paper's data "
    "and its numbers are not comparable with the paper's."
)
SAMPLE_TEST_IMAGES = 80


@dataclass(frozen=True)
class ReproduceOptions:
    """What to reproduce and where. ``expw``/``affwild2`` None = the embedded sample."""

    expw: Path | None = None
    affwild2: Path | None = None
    profile: str | None = None  # default: "sample" on the sample, else "paper"
    run: str | None = None  # default: the profile's name
    data: Path | None = None  # converted dataset; default data/darknet (data/sample-darknet)
    runs: Path = Path("runs")
    weights_dir: Path = Path("weights")
    sample_dir: Path | None = None  # default: data/sample (data/sample-control)
    darknet: Path | None = None
    test_per_dataset: int | None = None  # default: 2500, or SAMPLE_TEST_IMAGES on the sample
    seed: int = 0
    shuffle_labels: bool = False  # the permuted-label control (sample only)
    overrides: tuple[str, ...] = ()  # cfg `--set key=value` on top of the profile
    max_batches: int | None = None  # shorter training (steps move to 80 % and 90 %)

    @property
    def on_sample(self) -> bool:
        return self.expw is None and self.affwild2 is None

    @property
    def sample_name(self) -> str:
        return "sample-control" if self.shuffle_labels else "sample"


@dataclass
class ReproduceResult:
    run_dir: Path
    weights: Path
    cfg: Path
    table_md: str
    outputs: list[Path]
    minutes: dict[str, float] = field(default_factory=dict)


Echo = Callable[[str], None]


def _sample(opts: ReproduceOptions, echo: Echo) -> tuple[Path, Path]:
    """Write the embedded sample once (a marker records the seed and the control flag)."""
    from yof_darknet.datasets.sample import write_sample
    from yof_darknet.fileio import atomic_write_text

    sample_dir = opts.sample_dir or Path("data") / opts.sample_name
    marker = sample_dir / ".complete.json"
    wanted = {"seed": opts.seed, "shuffle_labels": opts.shuffle_labels}
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        echo(f"sample: {sample_dir} already written")
    else:
        write_sample(sample_dir, seed=opts.seed, shuffle_labels=opts.shuffle_labels)
        atomic_write_text(marker, json.dumps(wanted) + "\n")
        echo(f"sample: wrote {sample_dir}")
    return sample_dir / "ExpW", sample_dir / "AffWild2"


def _data_dir(opts: ReproduceOptions) -> Path:
    default = f"data/{opts.sample_name}-darknet" if opts.on_sample else "data/darknet"
    return opts.data or Path(default)


def _datasets(
    expw: Path | None, affwild2: Path | None, out: Path, opts: ReproduceOptions, echo: Echo
) -> Path:
    from yof_darknet.datasets.build import affwild2_job, build_datasets, expw_job

    jobs = []
    if expw is not None:
        jobs.append(expw_job(expw))
    if affwild2 is not None:
        jobs.append(affwild2_job(affwild2))
    test = opts.test_per_dataset
    if test is None:
        test = SAMPLE_TEST_IMAGES if opts.on_sample else 2500
    summary = build_datasets(jobs, out, test_per_dataset=test, seed=opts.seed, progress=True)
    totals = summary.stats["totals"]
    echo(
        f"datasets: train {totals['images']['train']} images, test {totals['images']['test']} "
        f"images in {summary.out}"
    )
    for message in summary.messages:
        echo(f"datasets: note: {message}")
    return summary.obj_data


def _pretrained(opts: ReproduceOptions, echo: Echo) -> Path | None:
    from yof_darknet.darknet.download import CONV15_NAME, fetch_pretrained

    conv15 = opts.weights_dir / CONV15_NAME
    if conv15.is_file():
        echo(f"weights: {conv15}")
        return conv15
    try:
        found = fetch_pretrained(opts.weights_dir)
    except DarknetError as exc:
        echo(f"weights: pretrained weights unavailable, TRAINING FROM SCRATCH ({exc})")
        return None
    echo(f"weights: {found.conv15}")
    return found.conv15


def _cfg(obj_data: Path, profile: str, overrides: tuple[str, ...], echo: Echo) -> Path:
    """The run cfg of ``profile`` with k-means anchors at its network size, beside obj.data."""
    from yof_darknet.darknet.anchors import apply_anchors, compute_anchors
    from yof_darknet.darknet.profiles import generate_cfg
    from yof_darknet.fileio import atomic_write_text
    from yof_darknet.formats.cfg import net_int, read_cfg
    from yof_darknet.formats.objdata import read_obj_data

    cfg = obj_data.parent / f"yolov3-tiny.{profile}.cfg"
    atomic_write_text(cfg, generate_cfg(read_obj_data(obj_data).classes, profile, overrides))
    sections = read_cfg(cfg)
    size = (net_int(sections, "width", 416), net_int(sections, "height", 416))
    report = compute_anchors(obj_data, 6, size)
    apply_anchors(cfg, report.anchors_wh)
    anchors = ", ".join(f"{w},{h}" for w, h in report.anchors_wh)
    echo(
        f"anchors: {anchors} at {size[0]}x{size[1]} (mean IoU {report.mean_iou:.3f}, "
        f"default anchors {report.default_mean_iou:.3f})"
    )
    return cfg


def _train(
    obj_data: Path,
    cfg: Path,
    weights: Path | None,
    profile: str,
    darknet: Darknet,
    opts: ReproduceOptions,
    echo: Echo,
) -> Path:
    from yof_darknet.darknet.train import newest_weights, train

    run_dir = opts.runs / (opts.run or profile)
    final = sorted((run_dir / "weights").glob("*_final.weights"))
    if final:
        echo(f"train: {final[0]} exists, training already finished")
        return final[0]
    resume = newest_weights(run_dir / "weights") is not None if run_dir.is_dir() else False
    echo(f"train: {'resuming' if resume else 'starting'} {run_dir}")
    result = train(
        obj_data,
        profile=profile,
        cfg=None if resume else cfg,
        weights=None if resume else weights,
        name=opts.run or profile,
        resume=resume,
        max_batches=None if resume else opts.max_batches,
        darknet=darknet,
        runs_dir=opts.runs,
    )
    if result.interrupted or result.weights is None:
        raise DarknetError(f"{run_dir}: training did not finish; run the same command to resume")
    return result.weights


def reproduce(opts: ReproduceOptions, echo: Echo = print) -> ReproduceResult:
    """Run every stage; return the run folder, the model and Table II (markdown)."""
    from yof_darknet.darknet.train import CFG_NAME
    from yof_darknet.evaluate.run import MapRequest, run_map, write_outputs
    from yof_darknet.evaluate.table import render_markdown
    from yof_darknet.formats.binary import find_darknet

    minutes: dict[str, float] = {}
    clock = time.monotonic()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.monotonic()
        minutes[stage] = (now - clock) / 60
        clock = now

    darknet = find_darknet(opts.darknet)
    echo(f"darknet: {darknet.path} ({darknet.flavor} {darknet.version})")
    profile = opts.profile or ("sample" if opts.on_sample else "paper")
    expw, affwild2 = opts.expw, opts.affwild2
    if opts.on_sample:
        echo(SAMPLE_BANNER)
        expw, affwild2 = _sample(opts, echo)
    elif opts.shuffle_labels:
        raise DarknetError("the permuted-label control runs on the embedded sample only")
    obj_data = _datasets(expw, affwild2, _data_dir(opts), opts, echo)
    lap("datasets")
    weights = _pretrained(opts, echo)
    cfg = _cfg(obj_data, profile, opts.overrides, echo)
    lap("cfg")
    model = _train(obj_data, cfg, weights, profile, darknet, opts, echo)
    lap("train")
    run_dir = opts.runs / (opts.run or profile)
    run_cfg = run_dir / CFG_NAME
    if opts.shuffle_labels:  # the control is judged on the sample's TRUE labels
        true_opts = replace(opts, shuffle_labels=False, sample_dir=None, data=None)
        echo("control: scoring on the true-label sample (same images, same split)")
        obj_data = _datasets(*_sample(true_opts, echo), _data_dir(true_opts), true_opts, echo)
    outcome = run_map(
        MapRequest(
            data=obj_data, weights=model, cfg=run_cfg, out=run_dir / "map", darknet=opts.darknet
        )
    )
    outputs = write_outputs(outcome, run_dir / "map")
    lap("map")
    return ReproduceResult(
        run_dir, model, run_cfg, render_markdown(outcome.table), outputs, minutes
    )
