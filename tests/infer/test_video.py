from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.model import TinyModel
from yof_darknet.cli import main
from yof_darknet.infer.detector import Detection, Detector
from yof_darknet.infer.draw import draw_detections, draw_fps
from yof_darknet.infer.video import stream_detections

FRAMES = 12
FPS = 10.0


@pytest.fixture
def video(tmp_path: Path, tiny_model: TinyModel) -> Path:
    """A 12-frame MJPG video made of the validation images, alternating."""
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (96, 96))
    assert writer.isOpened()
    images = [cv2.imread(str(p)) for p in tiny_model.valid_images]
    for index in range(FRAMES):
        writer.write(images[index % len(images)])
    writer.release()
    return path


def _args(model: TinyModel, *extra: str) -> list[str]:
    return ["detect", *extra, "--weights", str(model.weights), "--cfg", str(model.cfg)]


def test_video_save_and_json_keep_every_frame(tiny_model: TinyModel, video: Path, tmp_path: Path):
    out, lines = tmp_path / "annotated", tmp_path / "dets.jsonl"
    args = _args(tiny_model, str(video), "--save", str(out), "--json", str(lines))
    result = CliRunner().invoke(main, [*args, "--thresh", "0.1"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(FRAMES))
    assert {r["source"] for r in records} == {str(video)}
    assert sum(len(r["detections"]) for r in records) > 0
    for record in records:
        for det in record["detections"]:
            assert set(det) == {"class", "score", "box"}
            assert 0 <= det["box"][0] <= det["box"][2] <= 96
    capture = cv2.VideoCapture(str(out / "clip.avi"))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    assert len(frames) == FRAMES
    assert frames[0].shape == (96, 96, 3)
    assert not list(out.glob(".*partial*"))


def test_smooth_json_has_track_ids(tiny_model: TinyModel, video: Path, tmp_path: Path):
    lines = tmp_path / "smooth.jsonl"
    args = _args(tiny_model, str(video), "--json", str(lines), "--smooth", "--thresh", "0.1")
    result = CliRunner().invoke(main, [*args, "--smooth-alpha", "0.3"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    assert len(records) == FRAMES
    assert all("track" in d for r in records for d in r["detections"])


def test_folder_is_recursive_sorted_and_saved_in_place(tiny_model: TinyModel, tmp_path: Path):
    folder = tmp_path / "photos"
    (folder / "b").mkdir(parents=True)
    image = cv2.imread(str(tiny_model.valid_images[1]))
    cv2.imwrite(str(folder / "b" / "one.png"), image)
    cv2.imwrite(str(folder / "a.jpg"), image)
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, _args(tiny_model, str(folder), "--save", str(out)))
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "broken.png" in result.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == ["a.jpg", "b/one.png"]
    assert cv2.imread(str(out / "b" / "one.png")).shape == image.shape


def test_default_output_is_json_on_stdout(tiny_model: TinyModel):
    image = str(tiny_model.valid_images[0])
    result = CliRunner().invoke(main, _args(tiny_model, image, "--thresh", "0.01"))
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[0])
    assert record["source"] == image and record["frame"] == 0 and record["detections"]


def test_show_without_display_exits_1_before_any_window(tiny_model: TinyModel):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    args = _args(tiny_model, str(tiny_model.valid_images[0]), "--show")
    done = subprocess.run(
        [sys.executable, "-m", "yof_darknet", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stderr
    assert "--show needs a display" in done.stderr


def test_bad_sources_are_one_line_errors(tiny_model: TinyModel, tmp_path: Path):
    runner = CliRunner()
    missing = runner.invoke(main, _args(tiny_model, str(tmp_path / "nope.jpg")))
    assert missing.exit_code == 1 and "no such file or folder" in missing.output
    (tmp_path / "x.csv").write_text("a")
    unknown = runner.invoke(main, _args(tiny_model, str(tmp_path / "x.csv")))
    assert unknown.exit_code == 1 and "unknown file type" in unknown.output
    camera = runner.invoke(main, _args(tiny_model, "57"))
    assert camera.exit_code == 1 and "camera 57" in camera.output


class _InstantCapture:
    """A capture that produces frames much faster than the network runs (a live camera)."""

    def __init__(self, frames: int) -> None:
        self.left = frames
        self.index = 0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.left == 0:
            return False, None
        self.left -= 1
        frame = np.full((96, 96, 3), self.index % 256, dtype=np.uint8)
        self.index += 1
        return True, frame


def test_live_sources_drop_stale_frames_files_do_not(tiny_model: TinyModel):
    detector = Detector(tiny_model.cfg, tiny_model.weights)
    kept = [
        f.index
        for f in stream_detections(_InstantCapture(100), detector, live=False, thresh=0.5, nms=0.45)
    ]
    assert kept == list(range(100))
    live = [
        f.index
        for f in stream_detections(_InstantCapture(100), detector, live=True, thresh=0.5, nms=0.45)
    ]
    assert live == sorted(set(live)) and live[-1] == 99
    assert len(live) < 100


def test_darknet_image_list_as_source(tiny_model: TinyModel, tmp_path: Path):
    listing = tmp_path / "test.txt"
    missing = tmp_path / "gone.png"
    listing.write_text("".join(f"{p}\n" for p in [*tiny_model.valid_images[:2], missing]))
    out, lines = tmp_path / "out", tmp_path / "d.jsonl"
    args = _args(tiny_model, str(listing), "--save", str(out), "--json", str(lines))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"skipped {missing}: missing or unreadable image" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["valid_000.png", "valid_001.png"]
    assert len(lines.read_text().splitlines()) == 2


def test_drawing_marks_the_boxes(tiny_model: TinyModel):
    image = np.full((200, 300, 3), 255, dtype=np.uint8)
    det = Detection(3, "happiness", 0.9, (50.0, 60.0, 150.0, 180.0))
    draw_detections(image, [det])
    assert (image[120, 50] != 255).any() and (image[120, 100] == 255).all()
    draw_fps(image, 12.5)
    assert (image[-40:, 5:80] != 255).any()  # bottom-left, clear of top labels


def _digest(paths: list[Path]) -> list[bytes]:
    return [path.read_bytes() for path in paths]


def test_save_and_json_never_replace_an_input(tiny_model: TinyModel, video: Path, tmp_path: Path):
    images = tmp_path / "photos"
    images.mkdir()
    for path in tiny_model.valid_images[:2]:
        (images / path.name).write_bytes(path.read_bytes())
    inputs = sorted(images.iterdir())
    protected = [*inputs, video, tiny_model.weights, tiny_model.cfg]
    before = _digest(protected)
    runner = CliRunner()
    linked = tmp_path / "linked"
    linked.symlink_to(images)
    for args in (
        _args(tiny_model, str(images), "--save", str(images)),  # annotated over the photos
        _args(tiny_model, str(images), "--save", str(linked)),  # the same, through a link
        _args(tiny_model, str(video), "--save", str(video.parent)),  # over the video
        _args(tiny_model, str(images), "--json", str(tiny_model.weights)),  # over the weights
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 1, result.output
        assert "refusing to replace the input" in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and "detect:" not in result.stderr  # nothing ran
    assert _digest(protected) == before
    assert sorted(images.iterdir()) == inputs
    result = runner.invoke(main, _args(tiny_model, str(images), "--save", str(images / "out")))
    assert result.exit_code == 0, result.output  # beside the inputs is fine
    assert _digest(protected) == before
