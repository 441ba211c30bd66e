"""``ServeOptions``: every option of ``yof-darknet serve`` (its click options are generated from
these fields by ``cli/params.py``). Import-light: no ONNX or OpenCV here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yof_darknet.core.options import option

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


@dataclass(frozen=True)
class ServeOptions:
    """Options of ``yof-darknet serve`` (see its ``--help``)."""

    model: Path | None = option(
        None,
        "An ONNX model from `yof-darknet export` (fp32, or int8 from --int8 --calibrate).",
        path="file",
    )
    cfg: Path | None = option(
        None, "The Darknet cfg (with --weights, instead of --model).", path="file"
    )
    weights: Path | None = option(
        None,
        "Darknet .weights of --cfg: exported once to fp32 ONNX into .yof-onnx/ beside them, as "
        "`detect` does.",
        path="file",
    )
    run: Path | None = option(
        None,
        "A training run folder (runs/NAME): the page shows its Table II, training curves, PR "
        "curves and confusion matrix; without --model/--cfg, its cfg and final weights are "
        "the model.",
        path="dir",
    )
    size: int | tuple[int, int] | None = option(
        None,
        "Network input of --cfg/--weights, a multiple of 32 [default: the cfg's]; an exported "
        "--model keeps its own.",
        kind="size",
    )
    thresh: float = option(
        0.25,
        "The page's starting threshold (objectness x class probability), as `detect --thresh`.",
        min=0,
        max=1,
    )
    nms: float = option(
        0.45, "The page's starting per-class NMS IoU, as `detect --nms` (0: none).", min=0, max=1
    )
    host: str = option(
        DEFAULT_HOST,
        "Address to listen on. 127.0.0.1: this machine only (reach it from yours with "
        "ssh -L PORT:127.0.0.1:PORT); a browser allows the camera only on localhost or https.",
    )
    port: int = option(DEFAULT_PORT, "Port to listen on (0: any free port).", min=0, max=65535)
