"""With OpenCV 5 (no Darknet importer) detection still works through ONNX Runtime, OpenCV 5's
ONNX reader runs the fp32 export, and `--engine opencv` on cfg + weights says what to install.

OpenCV 5 lives in its own environment (.venv-cv5, made by `make test`) that borrows the rest of
the packages from this one; OpenCV 5 comes first on its path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.model import TinyModel
from tests.support.skips import NO_OPENCV5
from yof_darknet.export.run import ExportOptions, export_model

CV5 = ROOT / ".venv-cv5" / "bin" / "python"


def _yof_with_opencv5(*args: str) -> subprocess.CompletedProcess[str]:
    site = [p for p in sys.path if p.endswith("site-packages")]
    bootstrap = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); sys.path += {site!r}; "
        "import cv2; assert cv2.__version__.startswith('5.'), cv2.__version__; "
        "from yof_darknet.cli import main; main()"
    )
    return subprocess.run(
        [str(CV5), "-c", bootstrap, *args], capture_output=True, text=True, timeout=300
    )


def _opencv5_version() -> str:
    done = subprocess.run(
        [str(CV5), "-c", "import cv2; print(cv2.__version__)"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture(scope="module")
def fp32_model(tiny_model: TinyModel, tmp_path_factory) -> Path:
    if not CV5.is_file():
        pytest.skip(f"{NO_OPENCV5}: {CV5} (`make test` creates it: opencv-python-headless 5)")
    model = tmp_path_factory.mktemp("cv5") / "tiny.onnx"
    export_model(ExportOptions(tiny_model.cfg, tiny_model.weights, model))
    return model


def _same_printed_score(a: float, b: float) -> bool:
    """`detect --json` prints scores with 4 decimals: two scores a few 1e-6 apart can print
    one step (1e-4) apart, never more."""
    return round(abs(a - b), 6) <= 1e-4


def _detections(done: subprocess.CompletedProcess[str]) -> list[dict]:
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)["detections"]


def test_detect_with_opencv5(tiny_model: TinyModel, fp32_model: Path):
    image = str(tiny_model.valid_images[0])
    ort = _detections(_yof_with_opencv5("detect", image, "--model", str(fp32_model),
                                        "--thresh", "0.05"))  # fmt: skip
    assert ort
    here = subprocess.run(
        [sys.executable, "-m", "yof_darknet", "detect", image, "--model", str(fp32_model),
         "--thresh", "0.05"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ort == _detections(here)  # same detections under OpenCV 4 and 5
    reader = _detections(_yof_with_opencv5("detect", image, "--model", str(fp32_model),
                                           "--engine", "opencv", "--thresh", "0.05"))  # fmt: skip
    assert [d["class"] for d in reader] == [d["class"] for d in ort]
    for a, b in zip(reader, ort, strict=True):
        assert _same_printed_score(a["score"], b["score"]), (a, b)
    refused = _yof_with_opencv5("detect", image, "--cfg", str(tiny_model.cfg), "--weights",
                                str(tiny_model.weights), "--engine", "opencv")  # fmt: skip
    assert refused.returncode == 1
    # names the OpenCV 5 release this environment holds (pip's newest 5.x: 5.0, then 5.1, ...)
    version = _opencv5_version()
    assert version.startswith("5.")
    assert f"OpenCV {version} has no Darknet importer" in refused.stderr, refused.stderr
    assert "use --engine ort" in refused.stderr


def test_doctor_with_opencv5_lists_what_runs(fp32_model: Path):
    done = _yof_with_opencv5("doctor")
    assert "ort (ONNX Runtime: CPU)" in done.stdout
    assert "opencv (ONNX reader only" in done.stdout
    assert "no Darknet importer (removed in OpenCV 5)" in done.stdout


def test_the_cascade_runs_with_opencv5(tiny_classifier, fp32_model: Path):
    """RetinaFace and the expression classifier both on ONNX Runtime: the cascade needs no
    Darknet importer, and finds the same faces and scores under OpenCV 4 and 5."""
    image = str(ROOT / "yof_darknet" / "assets" / "faces" / "grace_hopper.jpg")
    cascade = f"{tiny_classifier.cfg}:{tiny_classifier.weights}"
    five = _detections(_yof_with_opencv5("detect", image, "--cascade", cascade, "--thresh", "0"))
    here = subprocess.run(
        [sys.executable, "-m", "yof_darknet", "detect", image, "--cascade", cascade,
         "--thresh", "0"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    four = _detections(here)
    assert five and [d["class"] for d in five] == [d["class"] for d in four]
    for a, b in zip(five, four, strict=True):
        assert _same_printed_score(a["score"], b["score"]), (a, b)
