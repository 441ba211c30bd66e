"""Parameter types and options that several command modules share (keep this import-light).

``stage_options(Options)`` writes the click options of a stage's ``*Options`` dataclass from
its fields (``yof_darknet/core/options.py``); ``pick(Options, values)`` builds the dataclass
back from the command's keyword arguments. A command and ``reproduce`` both call them on the
same dataclass.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, TypeVar

import click

from yof_darknet.core.options import CliSpec, cli_spec


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
        settings: dict[str, Any] = {"help": spec.help, "metavar": spec.metavar}
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
