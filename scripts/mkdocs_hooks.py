"""mkdocs hooks: tables generated from the code at build time, so the docs cannot repeat them.

A page asks for one with a marker line: ``<!-- generated: profiles -->`` (the training profiles
of ``yof_darknet/training/profiles.py``) or ``<!-- generated: make-targets -->`` (every Makefile
target with its ``##`` comment). An unknown marker fails the build.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)
TARGET = re.compile(r"^([a-z][\w-]*)\s*:[^=#]*##\s*(.+)$")


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|")


def profiles_table() -> str:
    """One row per profile, one column per setting any profile sets, then its adjustments."""
    from yof_darknet.training.profiles import ARCH_SETTINGS, FLAVOR_SETTINGS, PROFILES

    keys: list[str] = []
    for settings in PROFILES.values():
        keys += [k for k in settings if k not in keys]
    lines = [
        "| profile | " + " | ".join(f"`{k}`" for k in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for name, settings in PROFILES.items():
        cells = [_cell(settings.get(k, "")) for k in keys]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    adjusted = [
        f"`{profile}` with `{what}`: " + ", ".join(f"`{k}={v}`" for k, v in settings.items())
        for table in (ARCH_SETTINGS, FLAVOR_SETTINGS)
        for (profile, what), settings in table.items()
    ]
    if adjusted:
        lines += ["", "Adjusted for one architecture or darknet flavor (the run cfg says so):", ""]
        lines += [f"- {line}" for line in adjusted]
    return "\n".join(lines)


def make_targets_table() -> str:
    """Every ``target: ... ## comment`` line of the Makefile, in its order."""
    rows = []
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = TARGET.match(line)
        if match:
            rows.append(f"| `make {match[1]}` | {_cell(match[2].strip())} |")
    return "\n".join(["| target | what it does |", "|---|---|", *rows])


GENERATORS = {"profiles": profiles_table, "make-targets": make_targets_table}


def on_page_markdown(markdown: str, page, config, files) -> str:
    def replace(match: re.Match) -> str:
        name = match[1]
        if name not in GENERATORS:
            raise ValueError(f"{page.file.src_path}: unknown generated table {name!r}")
        return GENERATORS[name]()

    return MARKER.sub(replace, markdown)
