"""CLI commands of this stage: ``export``; see yof_darknet/cli/__init__.py."""

from __future__ import annotations

from typing import Any

import click

from yof_darknet.cli.params import pick, stage_options
from yof_darknet.export.options import ExportOptions


@click.command("export")
@stage_options(ExportOptions)
def export(**given: Any) -> None:
    """Convert a Darknet cfg + weights to ONNX (fp32, or int8 with --int8 --calibrate LIST) for
    `detect --model` and `map --engine onnx`. The model records the cfg and weights sha256,
    network size, letterbox setting, class names and the [yolo] heads' anchors."""
    from yof_darknet.export.run import export_model

    result = export_model(pick(ExportOptions, given))
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
