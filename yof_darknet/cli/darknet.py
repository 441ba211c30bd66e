"""CLI commands of this stage; see yof_darknet/cli/__init__.py."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
