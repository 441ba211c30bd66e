"""Stage options as dataclasses whose fields say how they are given on the command line.

A stage's ``*Options`` dataclass is the one definition of its options: ``cli/params.py`` turns
its fields into click options (name, type, range, choices, help), so that the stage's command and
``reproduce`` can never differ on a name, a range or a default.

>>> from dataclasses import dataclass, fields
>>> @dataclass(frozen=True)
... class Example:
...     stride: int = option(1, "Use every N-th frame.", min=1)
>>> cli_spec(fields(Example)[0]).flag, cli_spec(fields(Example)[0]).min
('--stride', 1)
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class CliSpec:
    """How a field is written on the command line (``flag`` defaults to ``--field-name``)."""

    help: str
    flag: str = ""
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    choices: tuple[Any, ...] = ()
    path: str = ""  # "file" or "dir" (must exist), "out" (a folder to write), "any"
    kind: str = ""  # a parameter type of cli/params.py by name ("size": 416 or 416x320)
    metavar: str | None = None
    multiple: bool = False  # repeatable; the field is a tuple
    aliases: tuple[str, ...] = ()  # more names of the same option
    # old flags and old choices (old -> new) still accepted for one release, with a warning
    renamed: tuple[str, ...] = ()
    renamed_choices: tuple[tuple[str, str], ...] = ()


def option(default: Any, help: str, **cli: Any) -> Any:
    """A dataclass field with its command-line description (see ``CliSpec``); a ``default`` of
    ``dataclasses.MISSING`` makes a required field and a required option."""
    return field(default=default, metadata={"cli": CliSpec(help, **cli)})


def cli_spec(item: Field) -> CliSpec | None:
    """The field's ``CliSpec`` (``--name`` filled in), None for a field with no option."""
    spec = item.metadata.get("cli")
    if spec is None:
        return None
    if spec.flag:
        return spec
    return replace(spec, flag="--" + item.name.replace("_", "-"))
