"""CLI commands of this stage: ``detect``; see yof_darknet/cli/__init__.py."""

from __future__ import annotations

from typing import Any

import click

from yof_darknet.cli.params import pick, stage_options
from yof_darknet.infer.options import DetectOptions


@click.command("detect")
@click.argument("source")
@stage_options(DetectOptions)
def detect(source: str, **given: Any) -> None:
    """Detect expressions in SOURCE: an image, a folder (recursive), an image list (.txt, as
    darknet's test.txt), a video file, a camera index (0) or a stream URL. Without
    --show/--save/--json, JSON lines go to stdout."""
    from yof_darknet.infer.run import run_detect

    if (
        given["cascade"] is None
        and given["model"] is None
        and None in (given["weights"], given["cfg"])
    ):
        raise click.UsageError("give --weights and --cfg, or --model, or --cascade")
    if not (given["show"] or given["save"] or given["json"] or given["timeline"]):
        given["json"] = "-"
    options = pick(DetectOptions, given, source=source)
    try:
        summary = run_detect(options)
    except KeyboardInterrupt:  # before the first frame: nothing was written
        click.secho("interrupted before any output was written", fg="yellow", err=True)
        raise SystemExit(130) from None
    for reason in summary.skipped:
        click.echo(f"skipped {reason}", err=True)
    for note in summary.notes:
        click.secho(f"note: {note}", fg="yellow", err=True)
    if summary.nonfinite:
        click.secho(
            f"note: dropped {summary.nonfinite} box(es) holding NaN or infinite numbers: the "
            "model is broken (diverged training?); use earlier weights",
            fg="yellow",
            err=True,
        )
    click.echo(
        f"detect: {summary.frames} frame(s), {summary.detections} detection(s), "
        f"{summary.fps:.1f} FPS ({summary.engine}, {summary.backend})",
        err=True,
    )
    if options.save is not None and not summary.interrupted:
        click.echo(f"annotated: {options.save}", err=True)
    if options.json not in (None, "-") and not summary.interrupted:
        click.echo(f"json: {options.json}", err=True)
    if options.timeline is not None and not summary.interrupted:
        click.echo(f"timelines: {options.timeline}", err=True)
    if summary.interrupted:
        left = ", ".join(str(p) for p in summary.partial) or "no unfinished file"
        click.secho(
            f"interrupted after {summary.frames} frame(s): partial outputs (up to the stop): "
            f"{left}; run again for complete ones",
            fg="yellow",
            err=True,
        )
        raise SystemExit(130)


COMMANDS: list[click.Command] = [detect]
