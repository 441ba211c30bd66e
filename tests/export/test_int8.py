"""int8 export: calibrated on the training list, loads in ONNX Runtime, and costs little mAP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.model import TinyModel
from yof_darknet.evaluate.run import MapRequest, run_map
from yof_darknet.export.quantize import cpu_has_vnni
from yof_darknet.export.run import ExportOptions, export_model
from yof_darknet.infer.detector import Detector
from yof_darknet.infer.engines import read_model_info


def _map(data: Path, model: Path) -> float:
    return run_map(MapRequest(data=data, engine="onnx", model=model)).table.combined.map


@pytest.fixture(scope="module")
def exported(tiny_model: TinyModel, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("int8")
    fp32 = root / "fp32.onnx"
    export_model(ExportOptions(tiny_model.cfg, tiny_model.weights, fp32))
    int8 = root / "int8.onnx"
    result = export_model(
        ExportOptions(tiny_model.cfg, tiny_model.weights, int8, int8=True,
                      calibrate=tiny_model.root / "train.txt", images=12)
    )  # fmt: skip
    assert result.calibrated_on == 12 and not result.skipped
    # every image the model saw or was validated on: 22 images, 33 shapes
    listing = root / "all.txt"
    images = tiny_model.train_images + tiny_model.valid_images
    listing.write_text("".join(f"{p}\n" for p in images))
    data = root / "all.data"
    data.write_text(tiny_model.data.read_text().replace(str(tiny_model.root / "valid.txt"),
                                                        str(listing)))  # fmt: skip
    return {"fp32": fp32, "int8": int8, "data": data}


def test_int8_records_its_quantization(exported: dict[str, Path]):
    info = read_model_info(exported["int8"])
    assert info.precision == "int8"
    q = info.quantization
    assert q["format"] == "QDQ" and q["calibration"] == "percentile"
    assert q["calibration_images"] == 12 and q["calibration_list"] == "train.txt"
    assert q["weight_bits"] == (8 if cpu_has_vnni() else 7)
    assert info.outputs == read_model_info(exported["fp32"]).outputs


def test_int8_runs_in_onnx_runtime_close_to_fp32(exported, tiny_model: TinyModel):
    import cv2

    fp32 = Detector(model=exported["fp32"])
    int8 = Detector(model=exported["int8"])
    assert int8.precision == "int8" and fp32.precision == "fp32"
    for path in tiny_model.valid_images:
        image = cv2.imread(str(path))
        a, _ = fp32.forward(image)
        b, _ = int8.forward(image)
        # class probabilities of the confident rows move by a few hundredths, not more.
        confident = a[:, 4] > 0.1
        assert np.abs(a[confident, 4:] - b[confident, 4:]).max() < 0.1


def test_int8_map_change_is_small(exported: dict[str, Path]):
    """mAP of the int8 model against fp32 on the 22 images, 33 shapes.

    The bound: one shape of 33 changing from found to missed moves its class's AP by up to
    1/(its 4-5 shapes), i.e. the mAP of 7 classes by up to ~3.5 points; we allow that one
    flip and no more (5 points). The issue's 0.5-point bound is checked in `make bench` on
    the 88 test images of the trained sample model, where one flip costs far less."""
    fp32, int8 = _map(exported["data"], exported["fp32"]), _map(exported["data"], exported["int8"])
    print(f"tiny model mAP fp32 {fp32:.4f}, int8 {int8:.4f}, change {100 * (int8 - fp32):+.2f}")
    assert fp32 > 0.2  # the bound means nothing on a model that finds nothing
    assert abs(int8 - fp32) <= 0.05
