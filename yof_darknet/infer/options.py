"""``DetectOptions``: every option of ``yof-darknet detect`` (its click options are generated
from these fields by ``cli/params.py``). Import-light: no OpenCV here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yof_darknet.options import option


@dataclass
class DetectOptions:
    """Every option of ``detect`` (its click options are generated from these fields)."""

    source: str  # the command's argument
    weights: Path | None = option(None, "Darknet .weights file.", path="file")
    cfg: Path | None = option(None, "The Darknet cfg the weights belong to.", path="file")
    cascade: str | None = option(
        None,
        "Two stages instead of --cfg/--weights: RetinaFace faces, then this expression "
        "classifier (`yof-darknet train-classifier`) on each face; score = face x class "
        "probability.",
        metavar="CLASSIFIER_CFG:WEIGHTS",
    )
    names: Path | None = option(
        None,
        "Class names, one per line [default: the names= of an obj.data beside the cfg, an "
        "obj.names beside the cfg or weights, else the 7 expressions].",
        path="file",
    )
    thresh: float = option(
        0.25,
        "Report (box, class) pairs whose objectness x class probability exceeds this.",
        min=0,
        max=1,
    )
    nms: float = option(
        0.45,
        "Per-class NMS: drop a box overlapping a better one by more than this IoU (0: none).",
        min=0,
        max=1,
    )
    size: int | tuple[int, int] | None = option(
        None, "Network input, a multiple of 32 [default: the cfg's].", kind="size"
    )
    show: bool = option(False, "Window with boxes and FPS; q or Esc quits.")
    save: Path | None = option(
        None,
        "Folder for the annotated images (same relative paths) or video (same fps and size).",
        path="out",
    )
    json: str | None = option(None, "One JSON object per frame per line.", metavar="FILE|-")
    smooth: bool = option(False, "Track faces and smooth their class scores (EMA).")
    smooth_alpha: float = option(
        0.5, "Weight of the newest frame in the moving average.", min=0, max=1, min_open=True
    )
    threads: int | None = option(None, "OpenCV CPU threads.", min=1)
