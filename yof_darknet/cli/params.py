"""Parameter types and options that several command modules share (keep this import-light).

``stage_options(Options)`` writes the click options of a stage's ``*Options`` dataclass from
its fields (``yof_darknet/core/options.py``); ``pick(Options, values)`` builds the dataclass
back from the command's keyword arguments. A command and ``reproduce`` both call them on the
same dataclass.

Renamed spellings keep working for one release, each with one line on stderr naming the new one
(``warn_renamed``): an old flag (``Option(renamed=...)``, rewritten by ``rename_args`` before
click parses), an old choice (``RenamedChoice``) and an old command (``RENAMED_COMMANDS``).
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, TypeVar

import click

from yof_darknet.core.options import CliSpec, cli_spec

PROG = "yof-darknet"

# old command -> (new command, what the old one meant in the new one's terms)
RENAMED_COMMANDS = {"evaluate-cascade": ("map", "map --cascade")}


def warn_renamed(old: str, new: str) -> None:
    """The one line that names the new spelling of a renamed command, option or choice."""
    click.echo(f"{PROG}: {old} is now {new}", err=True)


class Option(click.Option):
    """A click option that also accepts its old flags (``renamed``), hidden from the help."""

    def __init__(self, *args: Any, renamed: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renamed = tuple(renamed)


def rename_args(command: click.Command, args: list[str]) -> list[str]:
    """``args`` with the old flags of ``command``'s options replaced by the new ones (``--old
    V`` and ``--old=V``), warning once per flag; nothing after ``--`` is touched."""
    new_flag = {
        old: param.opts[0] for param in command.params for old in getattr(param, "renamed", ())
    }
    rewritten: list[str] = []
    for index, arg in enumerate(args):
        if arg == "--":
            return rewritten + args[index:]
        flag, equals, value = arg.partition("=")
        if flag in new_flag:
            warn_renamed(flag, new_flag[flag])
            arg = new_flag[flag] + equals + value
        rewritten.append(arg)
    return rewritten


class RenamedChoice(click.Choice):
    """A choice that also takes the old names of its choices (``renamed``: old -> new), with a
    warning naming the new one."""

    def __init__(self, choices: Sequence[Any], renamed: Mapping[str, str]) -> None:
        super().__init__(choices)
        self.renamed = dict(renamed)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and value in self.renamed:
            flag = param.opts[0] if param is not None else ""
            new = self.renamed[value]
            warn_renamed(f"{flag} {value}".strip(), f"{flag} {new}".strip())
            value = new
        return super().convert(value, param, ctx)


class OutputFolder(click.Path):
    """An output folder: nothing there yet, or a folder (``fileio.check_output_folder``: a
    file, a FIFO or a device in its place is refused before any work)."""

    def __init__(self) -> None:
        super().__init__(file_okay=False, path_type=Path)

    def convert(self, value, param, ctx):
        from yof_darknet.core.fileio import OutputError, check_output_folder

        path = super().convert(value, param, ctx)
        assert isinstance(path, Path)  # path_type=Path
        try:
            check_output_folder(path)
        except OutputError as exc:
            self.fail(str(exc), param, ctx)
        return path


EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
OUT_DIR = OutputFolder()
ANY_PATH = click.Path(path_type=Path)
_PATHS = {"file": EXISTING_FILE, "dir": EXISTING_DIR, "out": OUT_DIR, "any": ANY_PATH}

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

    def _describe_range(self) -> str:
        # click writes "x<=None" for a range with neither bound: a finite number is all it is
        if self.min is None and self.max is None:
            return ""
        return super()._describe_range()

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


EXPW_OPTION = click.option(
    "--expw",
    type=EXISTING_DIR,
    help="ExpW folder (label/label.lst + image/origin/); reproduce without any dataset folder: "
    "the embedded sample.",
)
AFFWILD2_OPTION = click.option(
    "--affwild2",
    type=EXISTING_DIR,
    help="Aff-Wild2 folder (annotations/EXPR_* of any ABAW release + videos in any subfolder).",
)


class SizeType(click.ParamType):
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


class WorkersType(click.ParamType):
    """A count of 1 or more, or ``auto``: one per CPU this task was given (``cluster.py``)."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        from yof_darknet.tools.cluster import AUTO, available_cpus

        if isinstance(value, int) and value >= 1:
            return value
        if value == AUTO:
            return available_cpus()
        try:
            workers = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r}: give a number or auto", param, ctx)
        if workers < 1:
            self.fail(f"{workers}: use 1 or more", param, ctx)
        return workers


class GpusType(click.ParamType):
    """darknet's ``-gpus`` list (``0,1``), or ``auto``: every GPU this job was given."""

    name = "0,1|auto"

    def convert(self, value, param, ctx):
        from yof_darknet.tools.cluster import AUTO, visible_gpus

        if value != AUTO:
            return value
        gpus = visible_gpus()
        click.echo(f"--gpus auto: {gpus}", err=True)
        return gpus


_KINDS = {"size": SizeType(), "workers": WorkersType(), "gpus": GpusType()}

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _base_type(hint: Any) -> Any:
    """``int`` of ``int | None``; ``str`` of ``tuple[str, ...]``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is tuple:
        hint = typing.get_args(hint)[0]
    return hint


def _click_type(spec: CliSpec, hint: Any) -> Any:
    base = _base_type(hint)
    if spec.kind:
        return _KINDS[spec.kind]
    if spec.choices and spec.renamed_choices:
        return RenamedChoice(spec.choices, dict(spec.renamed_choices))
    if spec.choices:
        return click.Choice(spec.choices)
    if spec.path:
        return _PATHS[spec.path]
    if base is float:  # finite always: click's ranges let nan through
        return FiniteFloat(spec.min, spec.max, min_open=spec.min_open, max_open=spec.max_open)
    if base is int and (spec.min is not None or spec.max is not None):
        low, high = (None if v is None else int(v) for v in (spec.min, spec.max))
        return click.IntRange(low, high)
    return base


def stage_options(
    cls: type,
    *,
    only: Collection[str] = (),
    skip: Collection[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> Callable[[F], F]:
    """A decorator adding the click options of ``cls``'s fields (all, or ``only``, less ``skip``),
    in field order; ``defaults`` replaces a field's default for this command."""
    hints = typing.get_type_hints(cls)
    decorators = []
    for item in fields(cls):
        spec = cli_spec(item)
        if spec is None or item.name in skip or (only and item.name not in only):
            continue
        default = (defaults or {}).get(item.name, item.default)
        kind = _click_type(spec, hints[item.name])
        settings: dict[str, Any] = {
            "help": spec.help,
            "metavar": spec.metavar,
            "cls": Option,
            "renamed": spec.renamed,
        }
        if default is MISSING:
            settings.update(type=kind, required=True)
        elif kind is bool and "/" in spec.flag:  # --x/--no-x: None when neither is given
            settings.update(default=default)
        elif kind is bool:
            settings.update(is_flag=True, default=bool(default))
        elif spec.multiple:
            settings.update(type=kind, multiple=True, default=tuple(default or ()))
        else:
            settings.update(type=kind, default=default, show_default=default is not None)
        decorators.append(click.option(spec.flag, *spec.aliases, item.name, **settings))

    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def pick(cls: type[T], values: Mapping[str, Any], **extra: Any) -> T:
    """``cls`` from the command's keyword arguments that name its fields, plus ``extra``."""
    names = {item.name for item in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in values.items() if k in names}, **extra)
