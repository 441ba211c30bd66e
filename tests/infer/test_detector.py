from __future__ import annotations

import itertools
import subprocess
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.boxes import iou_xyxy
from tests.support.model import TinyModel
from yof_darknet.core.errors import InferenceError
from yof_darknet.core.expressions import CLASSES
from yof_darknet.formats.names import resolve_names
from yof_darknet.infer.detector import Detection, Detector
from yof_darknet.infer.netcfg import opencv_cfg_text, read_net_spec
from yof_darknet.tools.netinput import darknet_input

Record = tuple[int, float, tuple[float, float, float, float]]
# a record of ours before NMS, with its unclipped box
Raw = tuple[Record, tuple[float, ...]]


def _darknet_valid(
    model: TinyModel, debian_darknet: Path, data: Path, cfg: Path
) -> dict[str, list[Record]]:
    """pjreddie's `detector valid` records: {image stem: [(class, prob, 1-based clipped box)]}."""
    results = data.parent / "results"
    results.mkdir(exist_ok=True)
    subprocess.run(
        [str(debian_darknet), "detector", "valid", str(data), str(cfg), str(model.weights)],
        cwd=data.parent,
        capture_output=True,
        check=True,
        timeout=300,
    )
    records: dict[str, list[Record]] = defaultdict(list)
    for class_id, name in enumerate(CLASSES):
        for line in (results / f"comp4_det_test_{name}.txt").read_text().splitlines():
            stem, prob, *box = line.split()
            records[stem].append((class_id, float(prob), tuple(float(v) for v in box)))
    return records


def _as_darknet_valid(det: Detection, width: int, height: int) -> Record:
    """Darknet valid's output for one detection: 1-based corners, clipped to [1, size]."""
    x1, y1, x2, y2 = det.xyxy
    return (
        det.class_id,
        det.score,
        (max(x1 + 1, 1.0), max(y1 + 1, 1.0), min(x2 + 1, width), min(y2 + 1, height)),
    )


def _box_difference(a: Record, b: Record) -> float:
    return float(np.abs(np.subtract(a[2], b[2])).max())


def _match(ours: list[Record], theirs: list[Record]):
    """Pair records of the same class with scores within 1e-3, closest boxes first (scores of
    neighbouring anchors can be nearly equal, so the order of the scores alone is not enough),
    then closest scores (a barely trained model predicts several boxes larger than the image,
    which valid's clipping turns into the same (1, 1, w, h) box).
    Returns (pairs, our unpaired records, darknet's unpaired records)."""
    candidates = sorted(
        (_box_difference(a, b), abs(a[1] - b[1]), i, j)
        for i, a in enumerate(ours)
        for j, b in enumerate(theirs)
        if a[0] == b[0] and abs(a[1] - b[1]) <= 1e-3
    )
    used_ours: set[int] = set()
    used_theirs: set[int] = set()
    pairs = []
    for _, _, i, j in candidates:
        if i not in used_ours and j not in used_theirs:
            used_ours.add(i)
            used_theirs.add(j)
            pairs.append((ours[i], theirs[j]))
    return (
        pairs,
        [r for i, r in enumerate(ours) if i not in used_ours],
        [r for j, r in enumerate(theirs) if j not in used_theirs],
    )


def _twin(record: Record, every: list[Raw]) -> tuple[float, ...] | None:
    """The unclipped box of ``record`` among our detections before NMS (same class, score
    within 1e-4, clipped box within 0.01 px), or None when we produce no such box."""
    for candidate, unclipped in every:
        if (
            candidate[0] == record[0]
            and abs(candidate[1] - record[1]) <= 1e-4
            and _box_difference(candidate, record) <= 0.01
        ):
            return unclipped
    return None


def _nms_flip(
    record: Record,
    other_side: list[Record],
    flipped: list[Record],
    every: list[Raw],
) -> bool:
    """Whether one side's NMS dropping ``record`` (kept by the other side) is explained: a box the
    dropping side kept, of the same class and no lower score, overlaps it by IoU > 0.45 (on the
    unclipped boxes, as darknet computes it) and is either at the threshold (IoU within 1e-3 of
    0.45) or itself one half of a near-tied pair (``flipped``: the two sides kept different
    boxes of a tie, so each suppressed different neighbours)."""
    box = _twin(record, every)
    if box is None:
        return False
    for kept in other_side:
        if kept[0] != record[0] or kept[1] < record[1] - 1e-4:
            continue
        kept_box = _twin(kept, every)
        overlap = iou_xyxy(kept_box, box) if kept_box is not None else 0.0
        if overlap > 0.45 - 1e-3 and (overlap < 0.45 + 1e-3 or kept in flipped):
            return True
    return False


def _assert_same_records(detector: Detector, images: list[Path], expected) -> int:
    """Our records equal darknet's, up to NMS ties and scores at valid's threshold: scores
    within 1e-4 and boxes within 0.01 px of the network input (the engines compute at the
    network's size; an image twice that size doubles their differences in its own pixels), as
    in tests/infer/test_engines.py. Measured on the recorded model (tests/fixtures/model,
    2026-12-07), ORT / OpenCV: net size, scores 9.5e-7 / 1.0e-5 apart, boxes 0.0003 / 0.0036
    px; letterboxed other sizes, 0.0006 / 0.0051 px of the network input (OpenCV: 0.0107 px of
    the 200x120 image). Darknet prints 6 decimals (5e-7). What decides it is the batch-norm
    epsilon: folding AlexeyAB's sqrt(var + 1e-5) instead of pjreddie's sqrt(var) + 1e-6 moves
    scores by up to 4e-4 and boxes by 0.08 px (the looser 1e-3 this test had hid wrong pairs:
    boxes larger than the image all clip to (1, 1, w, h), so pairs are now matched on the score
    too).

    A record only one side has must be explained, not just tolerated: its score is at valid's
    threshold, or the other side's NMS dropped it for a reason :func:`_nms_flip` checks on our
    boxes before NMS. (CI once met one: with OpenCV's scores our NMS dropped a box at IoU
    0.450024 with a kept one of its class, which darknet's float32 boxes left at or under 0.45.)"""
    total = 0
    worst_score = worst_box = 0.0
    worst_pair = None
    spec = detector.spec
    for path in images:
        image = cv2.imread(str(path))
        height, width = image.shape[:2]
        to_net = (spec.width / width, spec.height / height)  # image px -> network input px
        if spec.letter_box:
            to_net = (min(to_net),) * 2
        ours = [_as_darknet_valid(d, width, height) for d in detector.detect(image, 0.005, 0.45)]
        theirs = expected[path.stem]
        pairs, only_ours, only_theirs = _match(ours, theirs)
        every = [  # our boxes before NMS, to explain the unpaired records (rare)
            (_as_darknet_valid(d, width, height), d.xyxy) for d in detector.detect(image, 0.005, 0)
        ] if only_ours or only_theirs else []  # fmt: skip
        # two overlapping boxes with (nearly) tied scores: NMS keeps either one.
        ties = [(a, b) for a, b in pairs if _box_difference(a, b) > 1.0]
        for a, b in ties:
            assert abs(a[1] - b[1]) < 1e-4 and iou_xyxy(a[2], b[2]) > 0.45, (path, ties)
        # a score within 1e-4 of valid's 0.005 threshold may fall on either side of it.
        unexplained = [
            r for r in only_theirs
            if abs(r[1] - 0.005) >= 1e-4 and not _nms_flip(r, ours, [a for a, _ in ties], every)
        ] + [
            r for r in only_ours
            if abs(r[1] - 0.005) >= 1e-4 and not _nms_flip(r, theirs, [b for _, b in ties], every)
        ]  # fmt: skip
        assert not unexplained, (path, unexplained, only_ours, only_theirs, ties)
        unpaired = only_ours + only_theirs
        assert len(ties) + len(unpaired) <= 3, (path, ties, unpaired)
        for a, b in pairs:
            if _box_difference(a, b) <= 1.0:
                if abs(a[1] - b[1]) > worst_score:
                    worst_score, worst_pair = abs(a[1] - b[1]), (path.name, a, b)
                apart = np.abs(np.subtract(a[2], b[2])) * np.tile(to_net, 2)
                worst_box = max(worst_box, float(apart.max()))
        total += len(pairs)
    assert worst_score <= 1e-4 and worst_box <= 0.01, (worst_score, worst_box, worst_pair)
    return total


@pytest.mark.parametrize("engine", ["ort", "opencv"])
def test_detections_equal_darknet_valid(tiny_model: TinyModel, debian_darknet: Path, engine):
    """Net-sized images: no resize, so darknet's letterbox and our plain resize agree."""
    expected = _darknet_valid(tiny_model, debian_darknet, tiny_model.data, tiny_model.cfg)
    detector = Detector(tiny_model.cfg, tiny_model.weights, tiny_model.names, engine=engine)
    assert _assert_same_records(detector, tiny_model.valid_images, expected) > 100


@pytest.mark.parametrize("engine", ["ort", "opencv"])
def test_letterboxed_other_sizes_equal_darknet_valid(
    tiny_model: TinyModel, debian_darknet: Path, tmp_path: Path, engine: str
):
    """Wide, tall, larger and smaller images through darknet's own resize and letterbox:
    pjreddie always letterboxes; our detector does when the cfg says letter_box=1."""
    source = cv2.imread(str(tiny_model.valid_images[1]))
    images = []
    for width, height in ((150, 96), (96, 140), (200, 120), (64, 80)):
        path = tmp_path / f"sized_{width}x{height}.png"
        cv2.imwrite(str(path), cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA))
        images.append(path)
    listing = tmp_path / "sized.txt"
    listing.write_text("".join(f"{p}\n" for p in images))
    data = tmp_path / "sized.data"
    data.write_text(
        tiny_model.data.read_text().replace(str(tiny_model.root / "valid.txt"), str(listing))
    )
    cfg = tmp_path / "letterbox.cfg"
    cfg.write_text(tiny_model.cfg.read_text().replace("[net]\n", "[net]\nletter_box=1\n", 1))
    expected = _darknet_valid(tiny_model, debian_darknet, data, cfg)
    detector = Detector(cfg, tiny_model.weights, tiny_model.names, engine=engine)
    assert detector.spec.letter_box
    assert _assert_same_records(detector, images, expected) > 50


def test_detect_files_matches_detect(tiny_model: TinyModel):
    detector = Detector(tiny_model.cfg, tiny_model.weights)
    paths = tiny_model.valid_images[:3]
    got = list(detector.detect_files(paths, thresh=0.1))
    assert [p for p, _ in got] == paths
    for path, dets in got:
        assert dets == detector.detect(cv2.imread(str(path)), thresh=0.1)
    with pytest.raises(InferenceError, match="cannot read"):
        list(detector.detect_files([tiny_model.root / "missing.png"]))


def test_threshold_and_nms_semantics(tiny_model: TinyModel):
    detector = Detector(tiny_model.cfg, tiny_model.weights, size=128)
    image = cv2.imread(str(tiny_model.valid_images[0]))
    low = detector.detect(image, thresh=0.005, nms=0.45)
    high = detector.detect(image, thresh=0.2, nms=0.45)
    assert [d for d in low if d.score > 0.2] == high
    assert all(a.score >= b.score for a, b in itertools.pairwise(low))
    every = detector.detect(image, thresh=0.005, nms=0)
    assert len(every) >= len(low)


def test_names_and_size_errors(tiny_model: TinyModel, tmp_path: Path):
    assert resolve_names(None, tiny_model.cfg, tiny_model.weights) == list(CLASSES)
    assert resolve_names(["a", "b"], tiny_model.cfg, tiny_model.weights) == ["a", "b"]
    run = tmp_path / "run"
    run.mkdir()
    (run / "names.txt").write_text("".join(f"c{i}\n" for i in range(7)))
    (run / "obj.data").write_text("classes=7\ntrain=train.txt\nnames=names.txt\n")
    assert resolve_names(None, run / "x.cfg", tiny_model.weights)[6] == "c6"
    assert resolve_names(None, tmp_path / "x.cfg", tmp_path / "x.weights") == list(CLASSES)
    with pytest.raises(InferenceError, match="classes=7 but 2 class names"):
        Detector(tiny_model.cfg, tiny_model.weights, ["a", "b"])
    with pytest.raises(InferenceError, match="multiple of 32"):
        Detector(tiny_model.cfg, tiny_model.weights, size=100)
    with pytest.raises(InferenceError, match="weights file not found"):
        Detector(tiny_model.cfg, tmp_path / "none.weights")
    truncated = tmp_path / "short.weights"
    truncated.write_bytes(tiny_model.weights.read_bytes()[:5000])
    with pytest.raises(
        InferenceError, match=r"holds 1245 weights but .* needs \d+; these weights belong"
    ):
        Detector(tiny_model.cfg, truncated)


def test_opencv_cfg_copy_leaves_the_user_cfg_alone(tiny_model: TinyModel):
    text = tiny_model.cfg.read_text()
    spec = read_net_spec(tiny_model.cfg, text)
    assert (spec.width, spec.height, spec.classes, spec.yolo_layers) == (96, 96, 7, 2)
    assert not spec.letter_box
    patched = opencv_cfg_text(text, (320, 224))
    assert patched.count("thresh=0\n") == 2
    assert "width=320" in patched and "height=224" in patched
    assert tiny_model.cfg.read_text() == text
    with pytest.raises(InferenceError, match="no \\[yolo\\] section"):
        read_net_spec(tiny_model.cfg, "[net]\nwidth=96\nheight=96\n[maxpool]\nsize=2\n")


def test_letterbox_places_the_image_like_darknet():
    image = np.full((50, 100, 3), 255, dtype=np.uint8)
    blob, placement = darknet_input(image, 64, 64, letter_box=True)
    assert blob.shape == (1, 3, 64, 64)
    assert (placement.new_w, placement.new_h) == (64, 32)
    assert blob[0, :, :16].max() == pytest.approx(0.5)
    assert blob[0, :, 16:48].min() == pytest.approx(1.0)
