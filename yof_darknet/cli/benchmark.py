"""CLI commands of the benchmark: ``benchmark``; see yof_darknet/cli/__init__.py."""

from __future__ import annotations

from typing import Any

import click

from yof_darknet.cli.params import pick, stage_options
from yof_darknet.workflows.benchmark.options import BenchmarkOptions


@click.command("benchmark")
@stage_options(BenchmarkOptions)
def benchmark(**given: Any) -> None:
    """Time every engine x precision x network size on this machine, frame by frame and
    interleaved, with this CPU's measured fp32 and int8 peaks, mAP on --data's test list and a
    stream test: OUT/benchmark.md (the table), .json and .png."""
    from yof_darknet.workflows.benchmark.report import render_markdown
    from yof_darknet.workflows.benchmark.run import run_benchmark

    report = run_benchmark(pick(BenchmarkOptions, given), echo=lambda m: click.echo(m, err=True))
    click.echo(render_markdown(report), nl=False)


COMMANDS: list[click.Command] = [benchmark]
