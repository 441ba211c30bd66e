"""CLI commands of this stage: ``export``; see yof_darknet/cli/__init__.py."""

from __future__ import annotations

import contextlib
from typing import Any

import click

from yof_darknet.cli.params import pick, stage_options
from yof_darknet.export.options import ExportOptions


@click.command("export")
@stage_options(ExportOptions)
def export(**given: Any) -> None:
    """Convert a Darknet cfg + weights to ONNX (fp32, or int8 with --int8 --calibrate LIST) for
    `detect --model` and `map --engine ort`. The model records the cfg and weights sha256,
    network size, letterbox setting, class names and the [yolo] heads' anchors."""
    from yof_darknet.core.fileio import STREAM, check_output_file
    from yof_darknet.core.owned import output_lock
    from yof_darknet.export.run import export_model
    from yof_darknet.tools.cluster import sigterm_interrupts

    options = pick(ExportOptions, given)
    try:
        with contextlib.ExitStack() as held, sigterm_interrupts():
            if check_output_file(options.out) != STREAM:
                held.enter_context(output_lock(options.out, folder=False))
            result = export_model(options)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the temporary files are gone with it
        click.secho(
            f"interrupted: {options.out} not written (no temporary file is left)",
            fg="yellow",
            err=True,
        )
        raise SystemExit(130) from None
    for reason in result.skipped:
        click.echo(f"skipped {reason}", err=True)
    info = result.info
    detail = f"{info.width}x{info.height}, {len(info.names)} classes, BN {info.bn_flavor}"
    if info.precision == "int8":
        q = info.quantization
        detail += (
            f", int8 {q['weight_bits']}-bit weights, {q['calibration']} calibration on "
            f"{result.calibrated_on} image(s)"
        )
    click.echo(f"wrote {result.out} ({detail})", err=True)


COMMANDS: list[click.Command] = [export]
