"""The `yof-darknet` command line: a thin click layer over the package's functions.

Each command module (datasets, darknet, evaluate, infer, export) exposes ``COMMANDS``; heavy
libraries (cv2, onnxruntime, matplotlib) are imported inside the commands so that ``--help`` stays
fast.
"""

from __future__ import annotations

import errno

import click

from yof_darknet import __version__
from yof_darknet.cli.params import RENAMED_COMMANDS, rename_args, warn_renamed
from yof_darknet.core.errors import YofError

# File-system failures a user fixes outside the program (space, quota, permissions).
_FILE_SYSTEM = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some of your quota or write elsewhere",
    errno.EFBIG: "the file system (or a file-size limit) takes no file this large",
    errno.EROFS: "write to a file system that is not read-only",
    errno.EACCES: "check the permissions",
    errno.EPERM: "check the permissions",
}


class _Group(click.Group):
    """Turns a user-fixable error into one red line and exit code 1, instead of a traceback.

    A full disk (or quota, permissions...) is one of them: every output is written to a
    temporary file and renamed when complete, so nothing half-written is left and a re-run
    resumes from the finished files.
    """

    def resolve_command(self, ctx: click.Context, args: list[str]):
        """The command of ``args[0]`` (an old name: its new command, with a warning) and its
        arguments, old option names replaced by the new ones."""
        if args and args[0] in RENAMED_COMMANDS:
            new, meaning = RENAMED_COMMANDS[args[0]]
            warn_renamed(args[0], meaning)
            args = [new, *args[1:]]
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            rest = rename_args(command, rest)
        return name, command, rest

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except YofError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(1)
        except OSError as exc:
            if exc.errno not in _FILE_SYSTEM:
                raise
            where = exc.filename or "a file being written"
            click.secho(
                f"error: {where}: {exc.strerror}; {_FILE_SYSTEM[exc.errno]}, then run the same "
                "command again (finished outputs are kept, no half-written file is left)",
                fg="red",
                err=True,
            )
            ctx.exit(1)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)
@click.version_option(__version__, prog_name="yof-darknet")
def main() -> None:
    """You Only Feel Once: facial-expression detection with YOLOv3-tiny and Darknet."""


def _register() -> None:
    from yof_darknet.cli import (
        archs,
        benchmark,
        cascade,
        darknet,
        datasets,
        evaluate,
        export,
        infer,
        pipeline,
        serve,
        video,
    )

    modules = (datasets, darknet, evaluate, infer, export, video, pipeline, cascade, archs)
    for module in (*modules, serve, benchmark):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
