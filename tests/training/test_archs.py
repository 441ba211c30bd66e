"""Every ``--arch`` template through every consumer: the generated cfg (classes, filters, anchors,
profile), OpenCV's Darknet importer, the weights arithmetic, the pretrained cut, the ONNX export
and our decoding (against OpenCV's own [yolo] layer, scale_x_y and new_coords included), the
pjreddie refusal, and a real Debian darknet training of yolov3-tiny-3l."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner

from tests.support.archs import (
    FIXTURES,
    TOP,
    VALID_NMS,
    VALID_THRESH,
    Record,
    read_records,
    write_inputs,
)
from tests.support.darknet import make_dataset
from tests.support.skips import NO_ALEXEYAB, alexeyab_darknet
from yof_darknet.cli import main
from yof_darknet.core.errors import DarknetError
from yof_darknet.core.expressions import CLASSES
from yof_darknet.core.fileio import sha256_file
from yof_darknet.export.run import ExportOptions, export_model
from yof_darknet.formats.cfg import parse_cfg, read_cfg, set_classes, yolo_heads
from yof_darknet.formats.maplog import parse_map_blocks, parse_map_output
from yof_darknet.formats.modelinfo import head_specs
from yof_darknet.formats.trainlog import parse_train_line
from yof_darknet.formats.weights import (
    check_complete,
    layer_param_counts,
    network_bflops,
    read_header,
)
from yof_darknet.infer.detector import Detection, Detector
from yof_darknet.infer.engines import OpenCVEngine, read_model_info
from yof_darknet.infer.netcfg import opencv_cfg_text
from yof_darknet.infer.weightsfile import write_random_weights
from yof_darknet.infer.yolo import decode_heads
from yof_darknet.tools.darknet import flavor_problems, probe
from yof_darknet.tools.netinput import darknet_input
from yof_darknet.training.anchors import choose_anchors
from yof_darknet.training.archs import ARCHS, DEFAULT_ARCH, get_arch, run_arch
from yof_darknet.training.download import coco_bytes
from yof_darknet.training.options import TrainOptions
from yof_darknet.training.profiles import PROFILES, generate_cfg, profile_settings
from yof_darknet.training.train import prepare_run, train
from yof_darknet.workflows.doctor import check_archs
from yof_darknet.workflows.pipeline import ReproduceOptions, reproduce

# Layers (0..N-1, as darknet numbers them when it loads the cfg) and heads of AlexeyAB's cfgs.
LAYERS = {"yolov3-tiny": 24, "yolov3-tiny-3l": 31, "yolov4-tiny": 38, "yolov4-tiny-3l": 45,
          "yolov7-tiny": 99}  # fmt: skip
HEADS = {"yolov3-tiny": 2, "yolov3-tiny-3l": 3, "yolov4-tiny": 2, "yolov4-tiny-3l": 3,
         "yolov7-tiny": 3}  # fmt: skip
ALEXEYAB_ONLY = {"yolov4-tiny", "yolov4-tiny-3l", "yolov7-tiny"}
NET = 128


def test_the_archs_are_the_ones_documented():
    assert set(ARCHS) == set(LAYERS) and DEFAULT_ARCH == "yolov3-tiny"
    assert get_arch(None).template.name == "yolov3-tiny.cfg"
    with pytest.raises(DarknetError, match="unknown architecture 'yolov9'"):
        get_arch("yolov9")


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_generated_cfg_has_classes_filters_anchors_and_the_profile(arch: str, profile: str):
    sections = parse_cfg(generate_cfg(7, profile, arch=arch))
    heads = yolo_heads(sections)
    assert len(heads) == HEADS[arch] and len(sections) - 1 == LAYERS[arch]
    for index in heads:
        head = sections[index]
        assert head.get("classes") == "7"
        assert int(head.get("num")) == 3 * len(heads) == len(head.ints("anchors")) // 2
        assert int(sections[index - 1].get("filters")) == (7 + 5) * len(head.ints("mask"))
    masks = sorted(m for index in heads for m in sections[index].ints("mask"))
    assert masks == list(range(3 * len(heads)))  # every anchor used once (yolov4-tiny's 1,2,3 not)
    for key, value in profile_settings(profile, arch).items():
        name, _, option = key.rpartition(".")
        targets = [s for s in sections if s.name == (name or "net")]
        assert targets and all(s.get(option) == value for s in targets), key


def test_cfg_command_writes_the_arch(tiny_data: Path, tmp_path: Path):
    out = tmp_path / "v7.cfg"
    args = ["cfg", "--data", str(tiny_data), "--arch", "yolov7-tiny", "--out-file", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "yolov7-tiny, profile paper, 7 classes" in result.output
    assert len(yolo_heads(read_cfg(out))) == 3


def _random_model(arch: str, tmp_path: Path, images: list[np.ndarray]) -> tuple[Path, Path, str]:
    text = generate_cfg(7, "sample", [f"width={NET}", f"height={NET}"], arch=arch)
    cfg = tmp_path / get_arch(arch).cfg_name
    cfg.write_text(text)
    weights = tmp_path / get_arch(arch).final_weights
    floats = write_random_weights(cfg, weights, seed=5, calibrate=images)
    assert floats == sum(layer_param_counts(read_cfg(cfg)))
    assert weights.stat().st_size == read_header(weights).size + 4 * floats
    check_complete(weights, read_cfg(cfg), cfg)
    return cfg, weights, text


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_opencv_reads_every_arch_with_the_expected_layers(arch: str, tmp_path: Path):
    cfg, weights, _ = _random_model(arch, tmp_path, [])
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    numbered = {int(m[1]) for n in net.getLayerNames() if (m := re.search(r"_(\d+)$", n))}
    assert numbered == set(range(LAYERS[arch]))  # OpenCV names its layers by darknet's index
    heads = [i - 1 for i in yolo_heads(read_cfg(cfg))]  # section index - [net]
    assert list(net.getUnconnectedOutLayersNames()) == [f"yolo_{i}" for i in heads]


def test_weights_arithmetic_matches_the_released_files():
    """The released COCO files' sizes, as public download code pins them, equal 20 header bytes
    plus every layer of the 80-class cfg (grouped routes included)."""
    for arch in ("yolov3-tiny", "yolov4-tiny"):
        spec = get_arch(arch).pretrained
        assert coco_bytes(spec) == spec.size, arch


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_the_pretrained_cut_is_the_class_independent_backbone(arch: str):
    spec = get_arch(arch).pretrained
    ours = read_cfg(get_arch(arch).template)
    coco = read_cfg(get_arch(arch).template)
    set_classes(coco, 80)
    counts, coco_counts = layer_param_counts(ours), layer_param_counts(coco)
    assert counts[: spec.layers] == coco_counts[: spec.layers]  # the cut fits any class count
    source = layer_param_counts(read_cfg(get_arch(spec.source_arch).template))
    assert counts[: spec.layers] == source[: spec.layers]  # 3l shares its parent's cut
    assert spec.cut_name.endswith(f".conv.{spec.layers}")


def test_anchors_follow_the_heads_of_each_arch(tiny_data: Path, tmp_path: Path):
    """k-means gives as many anchors as the heads take, the smallest to the finest head (the
    last of yolov3-tiny, the first of yolov7-tiny); with fewer boxes than anchors, ``auto``
    keeps the architecture's defaults and ``kmeans`` says why it cannot."""
    data = make_dataset(tmp_path / "set", count=24)
    for arch in ("yolov3-tiny", "yolov7-tiny"):
        run = tmp_path / arch
        cfg, obj = prepare_run(data, run, profile="sample", arch=arch)
        assert cfg.name == f"{arch}.cfg" and run_arch(run) == arch
        choose_anchors(obj, cfg, "kmeans", arch)
        record = json.loads((run / "anchors.json").read_text())
        assert len(record["anchors"]) == 3 * HEADS[arch] == len(record["default"])
        heads = [read_cfg(cfg)[i] for i in yolo_heads(read_cfg(cfg))]
        finest = heads[-1] if arch == "yolov3-tiny" else heads[0]
        assert finest.ints("mask") == [0, 1, 2]
    cfg, obj = prepare_run(tiny_data, tmp_path / "few", profile="sample", arch="yolov7-tiny")
    assert "defaults at 96x96" in choose_anchors(obj, cfg, "auto", "yolov7-tiny")  # 8 boxes
    with pytest.raises(DarknetError, match="8 boxes are too few for 9 anchors"):
        choose_anchors(obj, cfg, "kmeans", "yolov7-tiny")


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_export_equals_opencv_and_our_decoding_equals_opencvs_yolo_layer(arch: str, tmp_path: Path):
    rng = np.random.default_rng(11)
    images = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(2)]
    cfg, weights, text = _random_model(arch, tmp_path, images)
    onnx = tmp_path / "model.onnx"
    export_model(ExportOptions(cfg, weights, onnx, bn_flavor="pjreddie"))  # OpenCV's folding
    info = read_model_info(onnx)
    heads = head_specs(parse_cfg(text))
    assert info.heads == tuple(heads) and len(info.outputs) == HEADS[arch]
    assert {h.new_coords for h in heads} == {arch == "yolov7-tiny"}
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    patched = opencv_cfg_text(text)  # thresh=0: OpenCV's [yolo] keeps every row
    engine = OpenCVEngine(darknet_cfg=patched.encode(), weights=weights)
    net = cv2.dnn.readNetFromDarknet(
        np.frombuffer(patched.encode(), np.uint8), np.fromfile(weights, np.uint8)
    )
    for image in images:
        blob, _ = darknet_input(image, NET, NET, letter_box=False)
        ours = session.run(list(info.outputs), {"images": blob})
        theirs = engine.run(blob)
        for a, b in zip(ours, theirs, strict=True):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)
        rows = decode_heads(theirs, heads, NET, NET)[0]
        net.setInput(blob)
        region = net.forward(net.getUnconnectedOutLayersNames())
        reference = np.concatenate([r.reshape(-1, r.shape[-1]) for r in region])
        assert rows.shape == reference.shape
        assert rows[:, 2:4].std(axis=0).min() > 0  # boxes of different sizes, not saturated
        np.testing.assert_allclose(rows, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_pjreddie_cannot_run_the_yolov4_and_yolov7_layers(arch: str):
    problems = flavor_problems("pjreddie", read_cfg(get_arch(arch).template))
    assert bool(problems) == (arch in ALEXEYAB_ONLY)
    assert not flavor_problems("alexeyab", read_cfg(get_arch(arch).template))
    if arch.startswith("yolov4"):
        assert any(p.startswith("grouped [route] groups=2") for p in problems)
        assert any(p.startswith("[yolo] scale_x_y=1.05") for p in problems)
    if arch == "yolov7-tiny":
        assert any(p.startswith("[yolo] new_coords=1") for p in problems)


def test_debian_darknet_refuses_before_anything_runs(
    debian_darknet: Path, tiny_data: Path, tmp_path: Path, monkeypatch
):
    darknet = probe(debian_darknet)
    runs = tmp_path / "runs"
    options = TrainOptions(profile="sample", arch="yolov4-tiny", max_batches=2, runs=runs)
    with pytest.raises(DarknetError, match=r"grouped \[route\].*`make darknet`"):
        train(tiny_data, options, darknet=darknet, progress=False)
    assert not runs.exists()
    assert options.run_name == "sample-yolov4-tiny"
    monkeypatch.chdir(tmp_path)
    opts = ReproduceOptions(darknet=debian_darknet, train=TrainOptions(arch="yolov7-tiny"))
    with pytest.raises(DarknetError, match=r"new_coords=1.*`make darknet`"):
        reproduce(opts, echo=lambda _: None)
    assert not (tmp_path / "data").exists()  # not even the sample was written
    check = check_archs(debian_darknet)
    assert "pjreddie trains yolov3-tiny, yolov3-tiny-3l; NOT yolov4-tiny" in check.detail
    assert "make darknet" in check.fixes[0]


@pytest.mark.slow
def test_debian_darknet_trains_yolov3_tiny_3l(debian_darknet: Path, tiny_data: Path, tmp_path):
    settings = ("width=64", "height=64", "batch=2", "subdivisions=1", "burn_in=1")
    options = TrainOptions(
        profile="sample", arch="yolov3-tiny-3l", max_batches=2, overrides=settings,
        runs=tmp_path, anchors="default",
    )  # fmt: skip
    result = train(tiny_data, options, darknet=probe(debian_darknet), progress=False)
    run = tmp_path / "sample-yolov3-tiny-3l"
    assert result.run_dir == run and not result.interrupted and result.iterations == 2
    assert result.weights == run / "weights" / "yolov3-tiny-3l_final.weights"
    cfg = run / "yolov3-tiny-3l.cfg"
    check_complete(result.weights, read_cfg(cfg), cfg)  # darknet wrote all 3 heads' layers
    assert read_header(result.weights).iterations(2) == 2
    printed = re.findall(r"^\s*\d+ yolo\s*$", (run / "train.log").read_text(), re.MULTILINE)
    assert len(printed) == 3  # darknet built the three heads


# The training schedule (the sample's rate, lowered for three archs, and its length, shortened,
# after the recording) does not change detections.
_SCHEDULE = ("learning_rate=", "max_batches=", "steps=")


def _inference(cfg_text: str) -> list[str]:
    return [line for line in cfg_text.splitlines() if not line.startswith(_SCHEDULE)]


def _as_valid(det: Detection, width: int, height: int) -> Record:
    """AlexeyAB valid's record of a detection: 1-based corners clipped to [1, size]."""
    x1, y1, x2, y2 = det.xyxy
    box = (max(x1 + 1, 1.0), max(y1 + 1, 1.0), min(x2 + 1, width), min(y2 + 1, height))
    return det.class_id, det.score, box


def _best(records: list[Record], class_id: int) -> list[Record]:
    return sorted((r for r in records if r[0] == class_id), key=lambda r: -r[1])[:TOP]


@pytest.mark.parametrize("engine", ["ort", "opencv"])
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_detections_equal_alexeyabs_detector_valid(arch: str, engine: str, tmp_path: Path):
    """AlexeyAB's own `detector valid` on each architecture (recorded: tests/support/archs.py),
    against our pre-processing, engines, decoding (scale_x_y, new_coords) and NMS, record by
    record: the same boxes, scores within 1e-4, corners within 0.01 px."""
    fixture = FIXTURES / arch
    recorded = (fixture / get_arch(arch).cfg_name).read_text()
    assert _inference(recorded) == _inference(generate_cfg(7, "sample", arch=arch)), (
        "the template changed: record again with `python -m tests.support.archs --darknet D`"
    )
    cfg, weights, images = write_inputs(arch, tmp_path, recorded)
    assert (
        sha256_file(weights) == json.loads((fixture / "record.json").read_text())["weights_sha256"]
    )
    expected = read_records(fixture / "valid.txt")
    detector = Detector(cfg, weights, engine=engine, bn_flavor="alexeyab")
    compared = 0
    for path in images:
        image = cv2.imread(str(path))
        height, width = image.shape[:2]
        found = detector.detect(image, VALID_THRESH, VALID_NMS)
        ours = [_as_valid(d, width, height) for d in found]
        for class_id in range(7):
            mine, theirs = _best(ours, class_id), _best(expected[path.stem], class_id)
            assert len(mine) == len(theirs) == TOP, (path.stem, class_id)
            edge = theirs[-1][1]  # the TOP-th score: a near-tie there may go either way
            for a, b in zip(mine, theirs, strict=True):
                if abs(a[1] - edge) < 1e-4:
                    continue
                assert abs(a[1] - b[1]) < 1e-4, (path.stem, class_id, a, b)
                assert np.abs(np.subtract(a[2], b[2])).max() < 0.01, (path.stem, class_id, a, b)
                compared += 1
    assert compared > 150


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_bflops_equal_what_alexeyabs_darknet_prints(arch: str):
    fixture = FIXTURES / arch
    printed = json.loads((fixture / "record.json").read_text())["total_bflops"]
    ours = network_bflops(read_cfg(fixture / get_arch(arch).cfg_name))
    assert round(ours, 3) == printed


def test_map_with_debian_darknet_refuses_yolov7_tiny(debian_darknet: Path, tmp_path: Path):
    cfg, weights, _ = write_inputs("yolov7-tiny", tmp_path)
    args = ["map", "--data", str(tmp_path / "obj.data"), "--weights", str(weights), "--cfg",
            str(cfg), "--darknet", str(debian_darknet), "--out", str(tmp_path / "map")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "new_coords=1" in result.output and "--engine opencv" in result.output
    assert not (tmp_path / "map").exists()
    scored = CliRunner().invoke(main, [*args[:-4], "--engine", "opencv", "--out", args[-1]])
    assert scored.exit_code == 0, scored.output


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_alexeyabs_training_and_map_logs_of_every_arch_parse(arch: str):
    """AlexeyAB's output on each architecture (loss lines of CIoU heads, nms_kind lines, three
    heads): the training's last iterations and its -map block, and `detector map` on the final
    weights, which is the same evaluation and so the same mAP."""
    fixture = FIXTURES / arch
    tail = (fixture / "train.tail.txt").read_text()
    lines = [line for raw in tail.splitlines() if (line := parse_train_line(raw))]
    assert lines and lines[-1].iteration == 100
    during = parse_map_blocks(tail)[-1]
    after = parse_map_output((fixture / "map.stdout.txt").read_text())
    assert len(after.classes) == 7 and [c.name for c in after.classes] == list(CLASSES)
    assert during.map == pytest.approx(after.map, abs=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(alexeyab_darknet() is None, reason=NO_ALEXEYAB)
@pytest.mark.parametrize("arch", ["yolov4-tiny", "yolov7-tiny"])
def test_alexeyab_trains_the_yolov4_and_yolov7_templates(arch: str, tiny_data: Path, tmp_path):
    darknet = probe(alexeyab_darknet())
    assert darknet.flavor == "alexeyab"
    settings = ("width=64", "height=64", "batch=2", "subdivisions=1", "burn_in=1",
                "learning_rate=0.001")  # fmt: skip
    options = TrainOptions(
        profile="sample", arch=arch, max_batches=3, overrides=settings, runs=tmp_path,
        anchors="default",
    )  # fmt: skip
    result = train(tiny_data, options, darknet=darknet, progress=False)
    run = tmp_path / f"sample-{arch}"
    assert result.weights == run / "weights" / f"{arch}_final.weights"
    check_complete(result.weights, read_cfg(run / f"{arch}.cfg"), run / f"{arch}.cfg")
    log = (run / "train.log").read_text()
    assert log.splitlines()[0].endswith("-dont_show -map")
    assert f"nms_kind: {'greedynms' if arch == 'yolov4-tiny' else 'diounms'}" in log
    rows = (run / "results.csv").read_text().splitlines()
    assert rows[-1].split(",")[0] == "3" and rows[-1].split(",")[-1] != ""  # mAP at the end


def test_the_sample_profile_lowers_the_rate_only_where_it_diverged():
    rates = {arch: profile_settings("sample", arch)["learning_rate"] for arch in ARCHS}
    assert rates == {
        "yolov3-tiny": "0.005",
        "yolov3-tiny-3l": "0.001",
        "yolov4-tiny": "0.001",
        "yolov4-tiny-3l": "0.001",
        "yolov7-tiny": "0.005",
    }
    assert {profile_settings("paper", arch)["learning_rate"] for arch in ARCHS} == {"0.001"}
