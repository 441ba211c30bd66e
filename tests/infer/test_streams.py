"""Several sources at once: every frame of every video file, each source's frames in order,
decoding, pre-processing and the network in their own threads; live sources drop frames."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.model import TinyModel
from yof_darknet.cli import main
from yof_darknet.infer.detector import Detector
from yof_darknet.infer.streams import StreamStats, run_streams

FRAMES = 9


def _clip(path: Path, images: list[Path], shift: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 96))
    assert writer.isOpened()
    for index in range(FRAMES + shift):
        writer.write(cv2.imread(str(images[(index + shift) % len(images)])))
    writer.release()
    return path


@pytest.fixture
def clips(tmp_path: Path, tiny_model: TinyModel) -> list[Path]:
    """Two MJPG clips of the validation images, of FRAMES and FRAMES + 2 frames."""
    return [_clip(tmp_path / f"clip{i}.avi", tiny_model.valid_images, 2 * i) for i in range(2)]


def test_detect_on_two_videos_keeps_every_frame_of_each(
    tiny_model: TinyModel, clips: list[Path], tmp_path: Path
):
    """Two network workers (of one thread each): each source's frames all there, in order."""
    lines = tmp_path / "dets.jsonl"
    args = ["detect", *map(str, clips), "--cfg", str(tiny_model.cfg), "--weights",
            str(tiny_model.weights), "--json", str(lines), "--thresh", "0.1",
            "--workers", "2"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    for clip, count in zip(clips, (FRAMES, FRAMES + 2), strict=True):
        frames = [r["frame"] for r in records if r["source"] == str(clip)]
        assert frames == list(range(count))
    assert "2 sources" in result.output and "FPS together" in result.output
    assert sum(len(r["detections"]) for r in records) > 0


@pytest.mark.parametrize("workers", [1, 2])
def test_streams_find_what_one_frame_at_a_time_finds(
    tiny_model: TinyModel, clips: list[Path], workers: int
):
    """Each stream's frames in order and as ``detect`` finds them, with one network worker
    and with two (frames then finish out of order and are put back in order)."""
    detector = Detector(tiny_model.cfg, tiny_model.weights)
    pool = [detector] + [Detector(tiny_model.cfg, tiny_model.weights, threads=1)] * (workers - 1)
    stats = StreamStats([0, 0], [[], []], [0, 0])
    captures = [cv2.VideoCapture(str(c)) for c in clips]
    frames = list(run_streams(captures, pool, stats=stats))
    for stream in (0, 1):
        indices = [f.index for f in frames if f.stream == stream]
        assert indices == list(range(len(indices)))
    found = {(f.stream, f.index): f.detections for f in frames}
    assert stats.frames == [FRAMES, FRAMES + 2] and stats.fps > 0
    assert all(len(lat) == n for lat, n in zip(stats.latencies, stats.frames, strict=True))
    capture = cv2.VideoCapture(str(clips[1]))
    for index in range(FRAMES + 2):
        image = capture.read()[1]
        assert found[1, index] == detector.detect(image)


class _InstantCapture:
    """A camera that gives frames far faster than the network runs."""

    def __init__(self, frames: int) -> None:
        self.left, self.index = frames, 0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.left == 0:
            return False, None
        self.left, self.index = self.left - 1, self.index + 1
        return True, np.full((96, 96, 3), self.index % 256, dtype=np.uint8)


def test_live_streams_drop_frames_files_do_not(tiny_model: TinyModel):
    detector = Detector(tiny_model.cfg, tiny_model.weights)
    stats = StreamStats([0, 0], [[], []], [0, 0])
    frames = list(run_streams([_InstantCapture(200), _InstantCapture(50)], detector,
                              live=[True, False], stats=stats))  # fmt: skip
    live = [f.index for f in frames if f.stream == 0]
    assert live == sorted(live) and stats.dropped[0] > 0 and len(live) + stats.dropped[0] == 200
    assert [f.index for f in frames if f.stream == 1] == list(range(50))


def test_several_sources_refuse_what_needs_one(tiny_model: TinyModel, clips: list[Path]):
    base = ["detect", *map(str, clips), "--cfg", str(tiny_model.cfg), "--weights",
            str(tiny_model.weights)]  # fmt: skip
    saved = CliRunner().invoke(main, [*base, "--save", "out"])
    assert saved.exit_code == 1 and "--save" in saved.output and "JSON lines only" in saved.output
    image = CliRunner().invoke(main, [*base, str(tiny_model.valid_images[0])])
    assert image.exit_code == 1 and "must be videos" in image.output
