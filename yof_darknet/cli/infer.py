"""CLI commands of this stage: ``detect``; see yof_darknet/cli/__init__.py."""

from __future__ import annotations

from pathlib import Path

import click

from yof_darknet.cli.params import EXISTING_FILE, OUT_DIR


class _Size(click.ParamType):
    """``416`` (square) or ``416x320`` (width x height)."""

    name = "N|WxH"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, tuple)):
            return value
        parts = str(value).lower().split("x")
        if len(parts) in (1, 2) and all(p.isdigit() for p in parts):
            numbers = [int(p) for p in parts]
            return numbers[0] if len(numbers) == 1 else (numbers[0], numbers[1])
        self.fail(f"{value!r} is not a size like 416 or 416x320", param, ctx)


@click.command("detect")
@click.argument("source")
@click.option("--weights", type=EXISTING_FILE, help="Darknet .weights file.")
@click.option("--cfg", type=EXISTING_FILE, help="The Darknet cfg the weights belong to.")
@click.option(
    "--cascade",
    metavar="CLASSIFIER_CFG:WEIGHTS",
    help="Two stages instead of --cfg/--weights: RetinaFace faces, then this expression "
    "classifier (`yof-darknet train-classifier`) on each face; score = face x class probability.",
)
@click.option(
    "--names",
    type=EXISTING_FILE,
    help="Class names, one per line [default: the names= of an obj.data beside the cfg, an "
    "obj.names beside the cfg or weights, else the 7 expressions].",
)
@click.option(
    "--thresh",
    type=click.FloatRange(0, 1),
    default=0.25,
    help="Report (box, class) pairs whose objectness x class probability exceeds this.",
)
@click.option(
    "--nms",
    type=click.FloatRange(0, 1),
    default=0.45,
    help="Per-class NMS: drop a box overlapping a better one by more than this IoU (0: none).",
)
@click.option("--size", type=_Size(), help="Network input, a multiple of 32 [default: the cfg's].")
@click.option("--show", is_flag=True, help="Window with boxes and FPS; q or Esc quits.")
@click.option(
    "--save",
    type=OUT_DIR,
    help="Folder for the annotated images (same relative paths) or video (same fps and size).",
)
@click.option("--json", "json_out", metavar="FILE|-", help="One JSON object per frame per line.")
@click.option("--smooth", is_flag=True, help="Track faces and smooth their class scores (EMA).")
@click.option(
    "--smooth-alpha",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.5,
    help="Weight of the newest frame in the moving average.",
)
@click.option("--threads", type=click.IntRange(min=1), help="OpenCV CPU threads.")
def detect(
    source: str,
    weights: Path | None,
    cfg: Path | None,
    cascade: str | None,
    names: Path | None,
    thresh: float,
    nms: float,
    size: int | tuple[int, int] | None,
    show: bool,
    save: Path | None,
    json_out: str | None,
    smooth: bool,
    smooth_alpha: float,
    threads: int | None,
) -> None:
    """Detect expressions in SOURCE: an image, a folder (recursive), an image list (.txt, as
    darknet's test.txt), a video file, a camera index (0) or a stream URL. Without
    --show/--save/--json, JSON lines go to stdout."""
    from yof_darknet.infer.run import DetectOptions, run_detect

    if not (show or save or json_out):
        json_out = "-"
    options = DetectOptions(
        source,
        weights,
        cfg,
        names,
        thresh,
        nms,
        size,
        show,
        save,
        json_out,
        smooth,
        smooth_alpha,
        threads,
        cascade,
    )
    summary = run_detect(options)
    for reason in summary.skipped:
        click.echo(f"skipped {reason}", err=True)
    click.echo(
        f"detect: {summary.frames} frame(s), {summary.detections} detection(s), "
        f"{summary.fps:.1f} FPS ({summary.backend})",
        err=True,
    )
    if save is not None:
        click.echo(f"annotated: {save}", err=True)
    if json_out not in (None, "-"):
        click.echo(f"json: {json_out}", err=True)


COMMANDS: list[click.Command] = [detect]
