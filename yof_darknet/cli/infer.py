"""CLI commands of this stage: ``detect``; see yof_darknet/cli/__init__.py."""

from __future__ import annotations

from typing import Any

import click

from yof_darknet.cli.params import pick, stage_options
from yof_darknet.infer.options import DetectOptions


@click.command("detect")
@click.argument("sources", metavar="SOURCE...", nargs=-1, required=True)
@stage_options(DetectOptions)
def detect(sources: tuple[str, ...], **given: Any) -> None:
    """Detect expressions in SOURCE: an image, a folder (recursive), an image list (.txt, as
    darknet's test.txt), a video file, a camera index (0) or a stream URL. Without
    --show/--save/--json, JSON lines go to stdout. Several videos, cameras or streams run at
    once (decoding, pre-processing and the network overlapped; JSON lines only)."""
    from yof_darknet.infer.run import run_detect

    if (
        given["cascade"] is None
        and given["model"] is None
        and None in (given["weights"], given["cfg"])
    ):
        raise click.UsageError("give --weights and --cfg, or --model, or --cascade")
    if not (given["show"] or given["save"] or given["json"] or given["timeline"]):
        given["json"] = "-"
    if len(sources) > 1:
        _detect_streams(sources, given)
        return
    source = sources[0]
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


def _detect_streams(sources: tuple[str, ...], given: dict[str, Any]) -> None:
    import numpy as np

    from yof_darknet.infer.streams import run_detect_streams

    stats, engine = run_detect_streams(pick(DetectOptions, given, source=sources[0]), sources)
    for name, frames, latencies, dropped in zip(
        sources, stats.frames, stats.latencies, stats.dropped, strict=True
    ):
        latency = (
            f"latency median {1000 * np.median(latencies):.1f} ms, p95 "
            f"{1000 * np.percentile(latencies, 95):.1f} ms" if latencies else "no frame"
        )  # fmt: skip
        click.echo(f"{name}: {frames} frame(s), {latency}"
                   + (f", {dropped} dropped" if dropped else ""), err=True)  # fmt: skip
    click.echo(
        f"detect: {len(sources)} sources, {sum(stats.frames)} frame(s) in {stats.seconds:.1f} s, "
        f"{stats.fps:.1f} FPS together ({engine})",
        err=True,
    )
    if given["json"] not in (None, "-"):
        click.echo(f"json: {given['json']}", err=True)


COMMANDS: list[click.Command] = [detect]
