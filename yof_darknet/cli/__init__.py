"""The `yof-darknet` command line: a thin click layer over the package's functions.

Each command module (datasets, darknet, evaluate, infer) exposes ``COMMANDS``; heavy libraries
(cv2, onnxruntime, matplotlib) are imported inside the commands so that ``--help`` stays fast.
"""

from __future__ import annotations

import click

from yof_darknet import __version__
from yof_darknet.errors import YofError


class _Group(click.Group):
    """Turns a user-fixable error into one red line and exit code 1, instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except YofError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(1)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)
@click.version_option(__version__, prog_name="yof-darknet")
def main() -> None:
    """You Only Feel Once: facial-expression detection with YOLOv3-tiny and Darknet."""


def _register() -> None:
    from yof_darknet.cli import cascade, darknet, datasets, evaluate, infer, pipeline

    for module in (datasets, darknet, evaluate, infer, pipeline, cascade):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
