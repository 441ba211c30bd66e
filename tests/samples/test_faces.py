"""The drawn faces carry their class in the strokes only: no other cue predicts the expression.

Each test measures the written images (not the generator's internals), so a class-tied colour,
size, place, count or background would fail them again whatever code put it there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from yof_darknet.core.expressions import CLASSES
from yof_darknet.samples.faces import draw_face, face_colour
from yof_darknet.samples.write import write_expw_sample

IMAGES = 300
CHANCE = 1 / len(CLASSES)
# Accuracy a classifier may reach by luck on ~400 faces at chance (1/7 = 0.14): 0.25 is more
# than five standard deviations above it, and a class-tied cue gives 0.9 or more.
AT_CHANCE = 0.25


@dataclass(frozen=True)
class DrawnFace:
    label: int
    box: tuple[int, int, int, int]  # l, t, r, b as annotated (may cross the border)
    side: int
    fill: np.ndarray  # median BGR of the face's fill (its ink and eye whites left out)
    background: np.ndarray  # mean BGR of the image outside every face box
    faces_in_image: int
    image: np.ndarray  # the whole BGR image the face is in

    def crop(self) -> np.ndarray:
        left, top, right, bottom = self.box
        return self.image[max(top, 0) : bottom, max(left, 0) : right]


def _face_boxes(root: Path) -> dict[str, list[tuple[int, tuple[int, int, int, int]]]]:
    """The face rows of ``label.lst``: score above 50 and a box of positive size."""
    faces: dict[str, dict[int, tuple[int, tuple[int, int, int, int]]]] = {}
    for line in (root / "label" / "label.lst").read_text().splitlines():
        name, face_id, top, left, right, bottom, score, label = line.split(" ")
        box = (int(left), int(top), int(right), int(bottom))
        if float(score) > 50 and box[2] > box[0] and box[3] > box[1]:
            faces.setdefault(name, {})[int(face_id)] = (int(label), box)
    return {name: list(by_id.values()) for name, by_id in faces.items()}


def _inner(shape: tuple[int, int], box: tuple[int, int, int, int], radius: float) -> np.ndarray:
    """Mask of the ellipse inscribed in ``box``, shrunk to ``radius`` of its size."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    rx, ry = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < radius**2


def _faces(root: Path) -> list[DrawnFace]:
    out = []
    for name, boxes in sorted(_face_boxes(root).items()):
        image = cv2.imread(str(root / "image" / "origin" / name))
        side = image.shape[0]
        boxes = [(label, b) for label, b in boxes if b[0] < side and b[1] < side]  # not wholly out
        if not boxes:
            continue
        outside = np.ones(image.shape[:2], bool)
        for _, (left, top, right, bottom) in boxes:
            outside[max(top, 0) : bottom, max(left, 0) : right] = False
        background = image[outside].mean(axis=0)
        for label, box in boxes:
            pixels = image[_inner(image.shape[:2], box, 0.8)]
            bright = cv2.cvtColor(pixels[None], cv2.COLOR_BGR2HSV)[0][:, 2] > 120  # not ink
            white = (pixels.min(axis=1) > 240) & (np.ptp(pixels, axis=1) < 12)  # eye whites
            fill = np.median(pixels[bright & ~white], axis=0)
            out.append(DrawnFace(label, box, side, fill, background, len(boxes), image))
    return out


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> list[DrawnFace]:
    root = tmp_path_factory.mktemp("cues") / "ExpW"
    write_expw_sample(root, seed=0, images=IMAGES)
    found = _faces(root)
    assert len(found) > 350
    return found


def _labels(faces: list[DrawnFace]) -> np.ndarray:
    return np.array([face.label for face in faces])


def _standard(features: np.ndarray) -> np.ndarray:
    return (features - features.mean(axis=0)) / (features.std(axis=0) + 1e-9)


def _nearest_centroid_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out accuracy of the nearest class mean (features standardised)."""
    x = _standard(features)
    hits = 0
    for i in range(len(labels)):
        rest = np.arange(len(labels)) != i
        centroids = np.array([x[rest & (labels == c)].mean(axis=0) for c in range(len(CLASSES))])
        hits += int(np.argmin(((centroids - x[i]) ** 2).sum(axis=1)) == labels[i])
    return hits / len(labels)


def _knn_accuracy(features: np.ndarray, labels: np.ndarray, k: int = 9) -> float:
    """Leave-one-out accuracy of a k-nearest-neighbour vote (features standardised)."""
    x = _standard(features)
    distance = ((x[:, None] - x[None]) ** 2).sum(axis=-1)
    np.fill_diagonal(distance, np.inf)
    nearest = np.argsort(distance, axis=1)[:, :k]
    votes = [np.bincount(labels[n], minlength=len(CLASSES)).argmax() for n in nearest]
    return float(np.mean(np.array(votes) == labels))


def _geometry(face: DrawnFace) -> list[float]:
    left, top, right, bottom = face.box
    side = face.side
    return [
        (right - left) / side,
        (bottom - top) / side,
        (bottom - top) / (right - left),
        (left + right) / 2 / side,
        (top + bottom) / 2 / side,
        side,
        face.faces_in_image,
    ]


CUES = {
    "face colour": lambda face: face.fill,
    "size, shape, place and count": _geometry,
    "background": lambda face: face.background,
    "all of them": lambda face: [*face.fill, *_geometry(face), *face.background],
}


@pytest.mark.parametrize("cue", CUES)
def test_no_cue_but_the_strokes_predicts_the_class(faces: list[DrawnFace], cue: str) -> None:
    features = np.array([CUES[cue](face) for face in faces], dtype=float)
    labels = _labels(faces)
    assert _nearest_centroid_accuracy(features, labels) < AT_CHANCE, cue
    assert _knn_accuracy(features, labels) < AT_CHANCE, cue


def test_face_colours_spread_alike_over_every_class(faces: list[DrawnFace]) -> None:
    """Each class's fill colours cover the same range: mean and spread as the whole sample's."""
    fills = np.array([face.fill for face in faces])
    labels = _labels(faces)
    overall_mean, overall_std = fills.mean(axis=0), fills.std(axis=0)
    assert (overall_std > 30).all()  # colours vary a lot, on every channel
    for c in range(len(CLASSES)):
        mine = fills[labels == c]
        standard_error = overall_std / np.sqrt(len(mine))
        assert (np.abs(mine.mean(axis=0) - overall_mean) < 4 * standard_error).all(), CLASSES[c]
        assert (np.abs(mine.std(axis=0) / overall_std - 1) < 0.35).all(), CLASSES[c]


def test_the_strokes_alone_tell_the_class(faces: list[DrawnFace]) -> None:
    """Grey crops of whole faces, brightness and contrast normalised: their class is plain."""
    whole = [f for f in faces if min(f.box) >= 0 and max(f.box[2:]) <= f.side]
    crops = []
    for face in whole:
        grey = cv2.resize(cv2.cvtColor(face.crop(), cv2.COLOR_BGR2GRAY), (24, 24)).astype(float)
        crops.append(((grey - grey.mean()) / grey.std()).ravel())
    assert len(whole) > 100  # most faces are large (60-90 % of the side): many cross the border
    assert _nearest_centroid_accuracy(np.array(crops), _labels(whole)) > 0.9


def test_each_face_is_drawn_with_its_annotated_expression(faces: list[DrawnFace]) -> None:
    """Redrawing the face with every class: the annotated class matches the pixels best."""
    for face in faces:
        mask = _inner(face.image.shape[:2], face.box, 0.8)
        fill = tuple(int(v) for v in face.fill)
        errors = []
        for label in range(len(CLASSES)):
            drawn = np.empty_like(face.image)
            drawn[:] = fill
            draw_face(drawn, face.box, label, fill)
            errors.append(np.abs(drawn[mask].astype(float) - face.image[mask]).mean())
        assert int(np.argmin(errors)) == face.label, (face.box, errors)


def test_face_colour_is_any_hue_and_leaves_the_ink_visible() -> None:
    rng = np.random.default_rng(0)
    colours = np.array([face_colour(rng) for _ in range(500)], dtype=np.uint8)
    hsv = cv2.cvtColor(colours[None], cv2.COLOR_BGR2HSV)[0]
    assert np.histogram(hsv[:, 0], bins=6, range=(0, 180))[0].min() > 50  # every hue
    assert hsv[:, 2].min() >= 145  # far brighter than the ink (20)
    assert (hsv[:, 1] < 40).sum() > 50 and (hsv[:, 1] > 120).sum() > 50  # greyish to vivid
