"""Parameter types and options that several command modules share (keep this import-light)."""

from __future__ import annotations

import math
from pathlib import Path

import click

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
OUT_DIR = click.Path(file_okay=False, path_type=Path)

DARKNET_OPTION = click.option(
    "--darknet",
    "darknet_path",
    type=click.Path(path_type=Path),
    help="darknet binary (default: $DARKNET, third_party/darknet/darknet, then PATH).",
)


class FiniteFloat(click.FloatRange):
    """A float option that must be a finite number (click's ranges let ``nan`` through: every
    comparison with it is false), optionally within a range."""

    name = "number"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number
