"""Parameter types and options that several command modules share (keep this import-light)."""

from __future__ import annotations

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


class NetSize(click.ParamType):
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
