"""The Aff-Wild2 part of the embedded sample: short videos of real faces in the ABAW 2020 layout.

Two public-domain portraits shipped in ``yof_darknet/assets/faces`` (see SOURCES.md there) are
moved and scaled over a smooth background:

- ``videos/batch1/101-30-240x180.avi`` (MJPG, 24 frames): one person (Eileen Collins), labelled by
  ``annotations/EXPR_Set/Training_Set/101-30-240x180.txt`` with a ``-1`` stretch;
- ``videos/batch2/102-25-320x180.mp4`` (mp4v, 20 frames): two people, Eileen Collins on the left
  and Grace Hopper on the right (she leaves for the last 4 frames), labelled by
  ``Validation_Set/102-25-320x180_left.txt`` and ``_right.txt``; the right file has one line more
  than the video has frames, the off-by-one of the real dataset.

Each person keeps one expression, the one the photo shows (Eileen Collins smiles: Happiness;
Grace Hopper: Neutral), so that a detector trained on the sample can learn these frames: labels
that change while the same photo only moves would be noise.

``sample_truth`` gives the face box of every placed photo, frame by frame, for the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yof_darknet.core.fileio import atomic_path, atomic_write_bytes, atomic_write_text

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "faces"
HEADER = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise"
PHOTOS = ("eileen_collins", "grace_hopper")
# Face box (x1, y1, x2, y2) in each shipped photo, found by RetinaFace at full size.
PHOTO_FACES: dict[str, tuple[float, float, float, float]] = {
    "eileen_collins": (52.5, 40.5, 147.9, 162.2),
    "grace_hopper": (37.5, 44.6, 146.7, 177.7),
}


@dataclass(frozen=True)
class Person:
    """One person of a sample video: which photo, where it travels, and its annotation lines."""

    side: str  # "main" (unsuffixed annotation), "left" or "right"
    photo: str
    start_xy: tuple[int, int]
    end_xy: tuple[int, int]
    scales: tuple[float, float]  # photo scale at the first and last frame
    labels: tuple[int, ...]  # Aff-Wild2 ids, one per annotation line (may exceed the frames)
    present: int  # the photo is shown in frames [0, present)


@dataclass(frozen=True)
class SampleVideo:
    stem: str
    batch: str
    split: str
    suffix: str
    fourcc: str
    fps: int
    size: tuple[int, int]  # (width, height)
    frames: int
    persons: tuple[Person, ...]


VIDEOS = (
    SampleVideo(
        stem="101-30-240x180",
        batch="batch1",
        split="Training_Set",
        suffix=".avi",
        fourcc="MJPG",
        fps=30,
        size=(240, 180),
        frames=24,
        persons=(
            Person(
                side="main",
                photo="eileen_collins",
                start_xy=(8, 20),
                end_xy=(100, 8),
                scales=(0.6, 0.75),
                labels=(4,) * 6 + (-1,) * 4 + (4,) * 14,
                present=24,
            ),
        ),
    ),
    SampleVideo(
        stem="102-25-320x180",
        batch="batch2",
        split="Validation_Set",
        suffix=".mp4",
        fourcc="mp4v",
        fps=25,
        size=(320, 180),
        frames=20,
        persons=(
            Person(
                side="left",
                photo="eileen_collins",
                start_xy=(4, 30),
                end_xy=(36, 22),
                scales=(0.55, 0.65),
                labels=(-1,) * 3 + (4,) * 17,
                present=20,
            ),
            Person(
                side="right",
                photo="grace_hopper",
                start_xy=(200, 20),
                end_xy=(180, 32),
                scales=(0.65, 0.6),
                labels=(0,) * 6 + (-1,) * 3 + (0,) * 7 + (-1,) * 4 + (0,),
                present=16,
            ),
        ),
    ),
)


def _annotation_stem(video: SampleVideo, person: Person) -> str:
    return video.stem if person.side == "main" else f"{video.stem}_{person.side}"


def _photo(name: str) -> np.ndarray:
    import cv2

    path = ASSETS / f"{name}.jpg"
    image = cv2.imread(str(path))
    if image is None:
        raise OSError(f"{path} is missing or not a readable JPEG; reinstall yof-darknet")
    return image


def _placement(person: Person, frame: int, frames: int) -> tuple[int, int, float]:
    """Top-left corner and scale of ``person``'s photo in ``frame`` (linear motion)."""
    t = frame / max(1, frames - 1)
    x = round(person.start_xy[0] + t * (person.end_xy[0] - person.start_xy[0]))
    y = round(person.start_xy[1] + t * (person.end_xy[1] - person.start_xy[1]))
    return x, y, person.scales[0] + t * (person.scales[1] - person.scales[0])


def _scaled_size(photo_hw: tuple[int, int], scale: float) -> tuple[int, int]:
    height, width = photo_hw
    return max(1, round(width * scale)), max(1, round(height * scale))


def sample_truth(
    videos: Sequence[SampleVideo] = VIDEOS,
) -> dict[str, dict[str, list[tuple[float, float, float, float] | None]]]:
    """Video stem → side → per decoded frame, the face box (xyxy px) of the placed photo or None."""
    truth: dict[str, dict[str, list[tuple[float, float, float, float] | None]]] = {}
    for video in videos:
        sides = truth.setdefault(video.stem, {})
        for person in video.persons:
            photo_hw = _photo(person.photo).shape[:2]
            boxes: list[tuple[float, float, float, float] | None] = []
            for frame in range(video.frames):
                if frame >= person.present:
                    boxes.append(None)
                    continue
                x, y, scale = _placement(person, frame, video.frames)
                new_w, new_h = _scaled_size(photo_hw, scale)
                sx, sy = new_w / photo_hw[1], new_h / photo_hw[0]
                fx1, fy1, fx2, fy2 = PHOTO_FACES[person.photo]
                boxes.append((x + fx1 * sx, y + fy1 * sy, x + fx2 * sx, y + fy2 * sy))
            sides[person.side] = boxes
    return truth


def _background(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A smooth colour gradient with soft low-frequency blotches: nothing face-like."""
    import cv2

    width, height = size
    low = rng.uniform(60, 200, size=(3, 4, 3)).astype(np.float32)
    image = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(image, 0, 255).astype(np.uint8)


def _frame(
    video: SampleVideo, frame: int, background: np.ndarray, photos: dict[str, np.ndarray]
) -> np.ndarray:
    import cv2

    image = background.copy()
    width, height = video.size
    for person in video.persons:
        if frame >= person.present:
            continue
        photo = photos[person.photo]
        x, y, scale = _placement(person, frame, video.frames)
        # bilinear: what the sample's recorded results were made with (an INTER_AREA meant
        # here was passed as OpenCV's dst argument and never applied)
        scaled = cv2.resize(
            photo, _scaled_size(photo.shape[:2], scale), interpolation=cv2.INTER_LINEAR
        )
        h = min(scaled.shape[0], height - y)
        w = min(scaled.shape[1], width - x)
        image[y : y + h, x : x + w] = scaled[:h, :w]
    return image


def write_sample_video(video: SampleVideo, path: Path, rng: np.random.Generator) -> None:
    """Render ``video`` (moving photos over a background drawn from ``rng``) to ``path``."""
    import cv2

    photos = {person.photo: _photo(person.photo) for person in video.persons}
    background = _background(video.size, rng)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.unlink(missing_ok=True)  # OpenCV would write through a link left there
        fourcc = cv2.VideoWriter.fourcc(*video.fourcc)
        writer = cv2.VideoWriter(str(tmp), fourcc, video.fps, video.size)
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot write {video.fourcc} video {path}")
        for frame in range(video.frames):
            writer.write(_frame(video, frame, background, photos))
        writer.release()


def write_video_tree(out_dir: Path, video: SampleVideo, rng: np.random.Generator) -> None:
    """Write ``video`` and its annotation files into the ABAW 2020 layout under ``out_dir``."""
    write_sample_video(video, out_dir / "videos" / video.batch / f"{video.stem}{video.suffix}", rng)
    for person in video.persons:
        lines = [HEADER, *(str(label) for label in person.labels)]
        annotation = (
            out_dir / "annotations" / "EXPR_Set" / video.split
            / f"{_annotation_stem(video, person)}.txt"
        )  # fmt: skip
        atomic_write_text(annotation, "\n".join(lines) + "\n")


def write_affwild2_sample(out_dir: Path, seed: int = 0) -> None:
    """Write the sample in the ABAW 2020 layout under ``out_dir`` (``videos/``, ``annotations/``).

    ``seed`` picks the backgrounds; the faces' paths (and so ``sample_truth``) do not depend on it.
    """
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    for video in VIDEOS:
        write_video_tree(out_dir, video, rng)
    atomic_write_bytes(out_dir / "SOURCES.md", (ASSETS / "SOURCES.md").read_bytes())
