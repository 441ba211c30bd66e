"""CLI commands of the Darknet stage: doctor, cfg, anchors, weights, train."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from yof_darknet.cli.params import (
    DARKNET_OPTION,
    EXISTING_FILE,
    OUT_DIR,
    Option,
    pick,
    stage_options,
)
from yof_darknet.training.archs import ARCH_NAMES, DEFAULT_ARCH
from yof_darknet.training.options import TrainOptions
from yof_darknet.training.profiles import PROFILES

_DATA_OPTION = click.option(
    "--data",
    type=EXISTING_FILE,
    required=True,
    help="obj.data of the dataset",
)
_PROFILE_OPTION = click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default="paper",
    help="Training settings written into the cfg (batch, learning rate, iterations...).",
)
_ARCH_OPTION = click.option(
    "--arch",
    type=click.Choice(ARCH_NAMES),
    default=DEFAULT_ARCH,
    show_default=True,
    help="Network architecture (template written from AlexeyAB's cfg).",
)
_SET_OPTION = click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="cfg override, repeatable: width=320 (= net.width), yolo.thresh=0.001 (every [yolo])",
)


@click.command()
@DARKNET_OPTION
@click.option(
    "--affwild2/--no-affwild2",
    default=True,
    help="Check the face detector Aff-Wild2's conversion needs (the embedded sample has "
    "Aff-Wild2 videos too); --no-affwild2 for an ExpW-only run.",
)
def doctor(darknet_path: Path | None, affwild2: bool) -> None:
    """Show darknet (flavor, GPU, OpenCV), opencv-python, onnxruntime and the face detector."""
    from yof_darknet.workflows.doctor import run_checks

    checks = run_checks(darknet_path, affwild2=affwild2)
    shown: set[str] = set()
    for check in checks:
        mark = click.style("ok " if check.ok else "NO ", fg="green" if check.ok else "red")
        click.echo(f"{mark} {check.name}: {check.detail}")
        for fix in check.fixes:
            if fix not in shown:
                shown.add(fix)
                click.echo(f"    {'note' if check.ok else 'fix'}: {fix}")
    if all(check.ok for check in checks):
        click.secho("ready", fg="green")
    else:
        click.secho("not ready: apply the fixes above", fg="red")
        raise SystemExit(1)


@click.command()
@_DATA_OPTION
@_PROFILE_OPTION
@_ARCH_OPTION
@_SET_OPTION
@click.option(
    "--out-file",
    "out",
    cls=Option,
    renamed=("--out",),
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The cfg file to write.",
)
def cfg(data: Path, profile: str, arch: str, settings: tuple[str, ...], out: Path) -> None:
    """Write the run cfg: cfg/ARCH.cfg (yolov3-tiny: Table I) + profile + classes of --data."""
    from yof_darknet.core.fileio import atomic_write_text, protected
    from yof_darknet.formats.objdata import read_obj_data
    from yof_darknet.training.profiles import generate_cfg

    classes = read_obj_data(data).classes
    with protected(data):  # --out may not replace the obj.data it reads
        atomic_write_text(out, generate_cfg(classes, profile, settings, arch=arch))
    click.echo(f"{out}: {arch}, profile {profile}, {classes} classes")


@click.command()
@_DATA_OPTION
@click.option(
    "--num",
    type=click.IntRange(min=1),
    help="number of anchors [default: the --cfg's (9 for 3-head networks), else 6]",
)
@click.option(
    "--size", type=click.IntRange(min=32), help="Network size [default: --cfg's, else 416]."
)
@click.option("--restarts", type=click.IntRange(min=1), default=10, help="k-means restarts.")
@click.option(
    "--cfg", "cfg_path", type=EXISTING_FILE, help="The run cfg: its anchor count and size."
)
@click.option("--apply", is_flag=True, help="write the anchors into --cfg")
def anchors(
    data: Path,
    num: int | None,
    size: int | None,
    restarts: int,
    cfg_path: Path | None,
    apply: bool,
) -> None:
    """k-means (1 - IoU) anchors of the training boxes; --apply writes them into --cfg."""
    from yof_darknet.formats.cfg import net_int, read_cfg, yolo_heads
    from yof_darknet.training.anchors import apply_anchors, compute_anchors

    if apply and cfg_path is None:
        raise click.UsageError("--apply needs --cfg")
    if num is None and cfg_path is not None:
        sections = read_cfg(cfg_path)
        heads = yolo_heads(sections)
        num = int(sections[heads[0]].get("num", "6") or 6) if heads else 6
    num = num or 6
    if size is not None:
        wh = (size, size)
    elif cfg_path is not None:
        sections = read_cfg(cfg_path)
        wh = (net_int(sections, "width"), net_int(sections, "height"))
    else:
        wh = (416, 416)
    report = compute_anchors(data, num, wh, restarts=restarts)
    text = ",  ".join(f"{w},{h}" for w, h in report.anchors_wh)
    click.echo(f"anchors = {text}")
    click.echo(
        f"mean IoU {report.mean_iou:.4f} (default yolov3-tiny anchors: "
        f"{report.default_mean_iou:.4f}) over {report.boxes} boxes at {wh[0]}x{wh[1]}"
    )
    if report.missing_labels or report.skipped_boxes:
        click.echo(
            f"skipped: {report.missing_labels} images without a label file, "
            f"{report.skipped_boxes} zero-size boxes"
        )
    if apply and cfg_path is not None:
        apply_anchors(cfg_path, report.anchors_wh)
        click.echo(f"{cfg_path}: anchors written")


@click.command()
@click.option(
    "--out",
    type=OUT_DIR,
    default=Path("weights"),
    help="Folder of the downloaded and cut weights (where `train` looks for them).",
)
@_ARCH_OPTION
@click.option(
    "--inspect",
    type=EXISTING_FILE,
    help="only print this weights file's header (with --cfg: warn if already fully trained)",
)
@click.option(
    "--cfg", "cfg_path", type=EXISTING_FILE, help="--inspect: the cfg the weights belong to."
)
def weights(out: Path, arch: str, inspect: Path | None, cfg_path: Path | None) -> None:
    """Download ARCH's COCO weights (SHA-256 checked, resumable) and cut the pretrained layers
    (yolov3-tiny.conv.15; yolov4-tiny.conv.29, yolov7-tiny.conv.87)."""
    from yof_darknet.formats.weights import finished_message, read_header

    if inspect is not None:
        header = read_header(inspect)
        click.echo(
            f"{inspect}: version {header.major}.{header.minor}.{header.revision}, "
            f"seen {header.seen} images"
        )
        message = finished_message(inspect, cfg_path) if cfg_path else None
        if message:
            click.secho(f"warning: {message}", fg="yellow", err=True)
        return
    from yof_darknet.training.download import fetch_pretrained

    found = fetch_pretrained(out, arch=arch)
    for note in found.notes:
        click.secho(f"warning: {note}", fg="yellow", err=True)
    click.echo(f"{found.weights}\n{found.cut}")


@click.command()
@_DATA_OPTION
@stage_options(TrainOptions)
@DARKNET_OPTION
def train(data: Path, darknet_path: Path | None, **given: Any) -> None:
    """Train with darknet in runs/NAME (cfg, obj.data, train.log, results.csv/png, weights/)."""
    from yof_darknet.tools.darknet import find_darknet
    from yof_darknet.training.train import resume_hint
    from yof_darknet.training.train import train as run_training

    options = pick(TrainOptions, given)
    darknet = find_darknet(darknet_path)
    click.echo(f"darknet: {darknet.path} ({darknet.flavor})", err=True)
    result = run_training(data, options, darknet=darknet)
    state = "interrupted" if result.interrupted else "done"
    click.echo(f"{state} at iteration {result.iterations}: {result.run_dir}")
    if result.weights is not None:
        click.echo(f"weights: {result.weights}")
    if result.interrupted:
        click.echo(resume_hint(data, result.run_dir, Path(options.runs)))
        raise SystemExit(130)


COMMANDS: list[click.Command] = [doctor, cfg, anchors, weights, train]
