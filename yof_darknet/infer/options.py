"""``DetectOptions``: every option of ``yof-darknet detect`` (its click options are generated
from these fields by ``cli/params.py``). Import-light: no OpenCV here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yof_darknet.core.engines import NETWORK_ENGINES, ORT
from yof_darknet.core.options import option

# the models of infer/temporal.py (kept here too: this module stays import-light)
TEMPORAL_MODELS = ("none", "ema", "centred", "viterbi")


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
    model: Path | None = option(
        None,
        "An ONNX model from `yof-darknet export` (fp32 or int8); --cfg/--weights optional "
        "[default: --cfg + --weights exported once into .yof-onnx/ beside the weights].",
        path="file",
    )
    engine: str = option(
        ORT,
        "ort: ONNX Runtime; opencv: OpenCV DNN's Darknet importer (opencv-python<5), or its "
        "ONNX reader with an fp32 --model. With --cascade: the classifier's engine.",
        choices=NETWORK_ENGINES,
    )
    device: str = option(
        "auto",
        "cuda: ONNX Runtime's CUDA provider (onnxruntime-gpu) or OpenCV's CUDA backend; "
        "auto: CUDA when there.",
        choices=("auto", "cpu", "cuda"),
    )
    batch: int = option(
        1, "Video files: frames per network run (a GPU gains from 4-8; CPUs from 1).", min=1
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
    smooth: bool = option(False, "Track faces and smooth their scores: --temporal ema.")
    temporal: str | None = option(
        None,
        "Track faces and relabel each track: ema (causal, live too), centred or viterbi (video "
        "files: the whole video is read before anything is written) [default: none, or ema "
        "with --smooth].",
        choices=TEMPORAL_MODELS,
    )
    smooth_alpha: float = option(
        0.5, "ema: weight of the newest frame in the moving average.", min=0, max=1, min_open=True
    )
    sigma: float = option(
        3.0, "centred: standard deviation of the Gaussian window, in frames.", min=0, min_open=True
    )
    box: int = option(
        0, "centred: a box window of this many frames instead of the Gaussian (0: Gaussian).", min=0
    )
    penalty: float = option(
        2.0, "viterbi: log-probability cost of one label change (0: frame by frame).", min=0
    )
    timeline: Path | None = option(
        None,
        "Folder for one CSV and one PNG per face track: probabilities and label over time.",
        path="out",
    )
    threads: int | None = option(None, "Engine CPU threads.", min=1)
    workers: int = option(
        1,
        "Several sources: network workers, each running whole frames with its share of "
        "--threads (2 on 2 cores: more frames per second, each a little later).",
        min=1,
    )
    no_spin: bool = option(
        False,
        "ONNX Runtime: idle threads sleep between the operators of a frame instead of spinning "
        "(better when other busy processes share the cores; on a quiet machine spinning is "
        "faster).",
    )
