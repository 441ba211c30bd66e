"""CLI command ``serve``; see yof_darknet/cli/__init__.py."""

from __future__ import annotations

from typing import Any

import click

from yof_darknet.cli.params import pick, stage_options
from yof_darknet.serve.options import ServeOptions


@click.command("serve")
@stage_options(ServeOptions)
@click.option("--verbose", is_flag=True, help="Print every request.")
def serve(verbose: bool, **given: Any) -> None:
    """Serve a page that runs the model in the browser (ONNX Runtime Web: WebGPU, else WASM)
    on the webcam or on a dropped image or video, with the same pre-processing, decoding and
    NMS as `detect`; with --run, the run's Table II and curves. Ctrl-C stops."""
    from yof_darknet.serve.run import start

    demo = start(pick(ServeOptions, given), verbose=verbose)
    info = demo.model.info
    click.echo(
        f"serve: {demo.model.source} ({info.precision}, {info.width}x{info.height}, "
        f"{len(info.names)} classes), onnxruntime-web {demo.runtime.version}",
        err=True,
    )
    click.echo(f"serve: open {demo.server.url}  (Ctrl-C stops)", err=True)
    click.echo(f"serve: {demo.ssh_hint()}", err=True)
    try:
        demo.server.serve_forever()
    except KeyboardInterrupt:
        click.echo("serve: stopped", err=True)
    finally:
        demo.server.server_close()


COMMANDS: list[click.Command] = [serve]
