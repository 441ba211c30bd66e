"""``detect --temporal`` and ``--timeline`` with the session's trained tiny model on a video."""

from __future__ import annotations

import csv
import doctest
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.model import TinyModel
from yof_darknet.cli import main
from yof_darknet.core.expressions import CLASSES
from yof_darknet.infer import timeline

FRAMES = 16
FPS = 8.0


@pytest.fixture
def drifting(tmp_path: Path, tiny_model: TinyModel) -> Path:
    """16 frames of two validation images, each shown for 8 frames drifting 1 px per frame."""
    path = tmp_path / "drift.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (96, 96))
    assert writer.isOpened()
    images = [cv2.imread(str(p)) for p in tiny_model.valid_images[:2]]
    for index in range(FRAMES):
        image = images[index // 8]
        step = np.float32([[1, 0, index % 8], [0, 1, 0]])
        writer.write(cv2.warpAffine(image, step, (96, 96), borderMode=cv2.BORDER_REPLICATE))
    writer.release()
    return path


def _detect(model: TinyModel, video: Path, *extra: str):
    args = ["detect", str(video), "--weights", str(model.weights), "--cfg", str(model.cfg)]
    return CliRunner().invoke(main, [*args, "--thresh", "0.1", *extra])


def _tracked(lines: Path) -> list[tuple[int, int, str]]:
    """(frame, track, class) of every detection of a ``--json`` file."""
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(FRAMES)), "one record per frame"
    return [(r["frame"], d["track"], d["class"]) for r in records for d in r["detections"]]


def test_doctests():
    assert doctest.testmod(timeline).failed == 0


@pytest.mark.parametrize("model", ["ema", "centred", "viterbi"])
def test_timeline_has_one_row_per_frame_per_track(
    tiny_model: TinyModel, drifting: Path, tmp_path: Path, model: str
):
    out, lines, saved = tmp_path / "tl", tmp_path / "d.jsonl", tmp_path / "annotated"
    result = _detect(
        tiny_model, drifting, "--temporal", model, "--timeline", str(out), "--json", str(lines),
        "--save", str(saved), "--penalty", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    tracked = _tracked(lines)
    assert tracked, "the tiny model finds its shapes"
    csvs = sorted(out.glob("drift_track*.csv"))
    assert {p.stem for p in csvs} == {f"drift_track{t}" for _, t, _ in tracked}
    assert sorted(out.glob("*.png")) == [p.with_suffix(".png") for p in csvs]
    from_csv = []
    for path in csvs:
        rows = list(csv.DictReader(path.open()))
        frames = [int(r["frame"]) for r in rows]
        assert frames == sorted(set(frames)), "one row per frame of the track"
        assert list(rows[0]) == ["frame", "time_s", "x1", "y1", "x2", "y2", *CLASSES, "label"]
        for row in rows:
            assert float(row["time_s"]) == pytest.approx(int(row["frame"]) / FPS, abs=1e-3)
            track = int(path.stem.removeprefix("drift_track"))
            from_csv.append((int(row["frame"]), track, row["label"]))
        assert cv2.imread(str(path.with_suffix(".png"))) is not None
    # the labels the JSON and the annotated video show are the timeline's smoothed labels
    assert sorted(from_csv) == sorted(tracked)
    capture = cv2.VideoCapture(str(saved / "drift.avi"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES


def test_offline_models_relabel_but_keep_every_frame_and_face(
    tiny_model: TinyModel, drifting: Path, tmp_path: Path
):
    runs = {}
    for model in ("none", "viterbi"):
        lines = tmp_path / f"{model}.jsonl"
        timeline_dir = tmp_path / f"tl-{model}"
        extra = ("--penalty", "1000") if model == "viterbi" else ()
        result = _detect(tiny_model, drifting, "--temporal", model, "--timeline",
                         str(timeline_dir), "--json", str(lines), *extra)  # fmt: skip
        assert result.exit_code == 0, result.output
        runs[model] = timeline_dir
    raw = {p.name: list(csv.DictReader(p.open())) for p in runs["none"].glob("*.csv")}
    decoded = {p.name: list(csv.DictReader(p.open())) for p in runs["viterbi"].glob("*.csv")}
    assert raw.keys() == decoded.keys()
    for name, rows in decoded.items():
        assert [r["frame"] for r in rows] == [r["frame"] for r in raw[name]]
        assert len({r["label"] for r in rows}) == 1, "a huge penalty: one label per track"
        for row, frame_by_frame in zip(rows, raw[name], strict=True):
            assert row[CLASSES[0]] == frame_by_frame[CLASSES[0]], "probabilities are the frames'"


def test_offline_models_refuse_live_sources_and_images(tiny_model: TinyModel):
    camera = _detect(tiny_model, Path("0"), "--temporal", "centred")
    assert camera.exit_code == 1 and "use --temporal ema" in camera.output
    image = _detect(tiny_model, tiny_model.valid_images[0], "--temporal", "viterbi")
    assert image.exit_code == 1 and "need a video" in image.output
