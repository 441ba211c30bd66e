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
