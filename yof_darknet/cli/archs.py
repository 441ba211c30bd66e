"""`yof-darknet compare-archs`: one table, one row per architecture (what `make compare-archs`
runs)."""

from __future__ import annotations

from pathlib import Path

import click

from yof_darknet.cli.params import EXISTING_FILE, OUT_DIR
from yof_darknet.training.archs import ARCH_NAMES
from yof_darknet.training.profiles import PROFILES


@click.command("compare-archs")
@click.option(
    "--arch",
    "archs",
    type=click.Choice(ARCH_NAMES),
    multiple=True,
    help="Architectures to compare (repeatable) [default: all].",
)
@click.option("--size", type=click.IntRange(min=32), default=416, show_default=True,
              help="Network width and height of the BFLOPs and the timing.")  # fmt: skip
@click.option("--data", type=EXISTING_FILE, help="obj.data whose test list scores trained runs.")
@click.option("--runs", type=OUT_DIR, default=Path("runs"), show_default=True,
              help="Folder of the run folders.")  # fmt: skip
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="sample",
              show_default=True, help="The runs to look for: runs/PROFILE[-ARCH].")  # fmt: skip
@click.option("--rounds", type=click.IntRange(min=1), default=20, show_default=True,
              help="Timed frames per architecture and engine.")  # fmt: skip
@click.option("--threads", type=click.IntRange(min=1), help="Threads per engine.")
@click.option("--out", type=OUT_DIR, default=Path("runs/compare-archs"), show_default=True,
              help="Output folder (compare-archs.md, compare-archs.json).")  # fmt: skip
def compare_archs(
    archs: tuple[str, ...],
    size: int,
    data: Path | None,
    runs: Path,
    profile: str,
    rounds: int,
    threads: int | None,
    out: Path,
) -> None:
    """Parameters, BFLOPs, CPU FPS per engine and (for trained runs, with --data) mAP of each
    architecture, in one run."""
    from yof_darknet.workflows.archcompare import ArchCompareOptions, compare_archs, render_archs

    options = ArchCompareOptions(
        archs=archs or ARCH_NAMES, size=size, runs=runs, profile=profile, data=data,
        rounds=rounds, threads=threads, out=out,
    )  # fmt: skip
    rows = compare_archs(options, echo=lambda line: click.echo(line, err=True))
    click.echo(render_archs(rows, options), nl=False)
    click.echo(f"wrote {out / 'compare-archs.md'} and {out / 'compare-archs.json'}", err=True)


COMMANDS: list[click.Command] = [compare_archs]
