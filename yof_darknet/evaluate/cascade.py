"""``yof-darknet evaluate-cascade``: the cascade scored like the single-stage detector.

* Table II: the cascade's detections (face score x class probability, one per (face, class)
  above ``detector map``'s 0.005) on the test list, scored by the same evaluator as
  ``map --engine opencv``, so the APs of both stand side by side;
* per-face accuracy: the classifier alone, on the ground-truth boxes (no face detector), overall,
  per class and as a confusion matrix (rows: truth, columns: prediction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yof_darknet.core.errors import EvaluationError
from yof_darknet.core.fileio import atomic_write_text
from yof_darknet.evaluate.ap import EvalParams
from yof_darknet.evaluate.inputs import check_test_images, detections_from_objects, image_sizes
from yof_darknet.evaluate.run import (
    MAP_NMS,
    MAP_THRESH,
    MapOutcome,
    evaluate_all,
    face_of,
    load_test_set,
)
from yof_darknet.evaluate.table import Table2
from yof_darknet.formats.imagefiles import read_image
from yof_darknet.formats.labels import label_path, read_labels
from yof_darknet.infer.cascade import Cascade
from yof_darknet.tools.faces import Face

METHOD_CASCADE = (
    "two-stage cascade: RetinaFace faces (score >= {face}) x the expression classifier's "
    "probabilities (OpenCV DNN), thresh 0.005, scored by our evaluator (AlexeyAB's `detector map` "
    "arithmetic)"
)


@dataclass(frozen=True)
class FaceAccuracy:
    """The classifier on ground-truth boxes: ``confusion[truth, predicted]`` counts."""

    names: list[str]
    confusion: np.ndarray

    @property
    def faces(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / self.faces) if self.faces else 0.0

    def per_class(self) -> dict[str, float | None]:
        """Recall of each class (correct / faces of that class); ``None`` without faces."""
        totals = self.confusion.sum(1)
        return {
            name: (float(self.confusion[i, i] / totals[i]) if totals[i] else None)
            for i, name in enumerate(self.names)
        }

    def to_json(self) -> dict:
        return {
            "faces": self.faces,
            "accuracy": round(self.accuracy, 4),
            "per_class": {
                k: None if v is None else round(v, 4) for k, v in self.per_class().items()
            },
            "confusion": self.confusion.tolist(),
            "names": self.names,
        }

    def render_markdown(self) -> str:
        lines = [
            f"## Per-face accuracy on ground-truth boxes: {self.accuracy * 100:.2f} % "
            f"of {self.faces} faces",
            "",
            "| Expression | Faces | Accuracy (%) |",
            "|---|---:|---:|",
        ]
        totals = self.confusion.sum(1)
        for (name, value), total in zip(self.per_class().items(), totals, strict=True):
            shown = "" if value is None else f"{value * 100:.2f}"
            lines.append(f"| {name} | {int(total)} | {shown} |")
        return "\n".join(lines) + "\n"


def ground_truth_faces(
    image: Path, width: int, height: int, classes: int
) -> tuple[list[Face], list[int]]:
    """The labelled boxes of ``image`` as pixel faces (score 1), and their classes."""
    faces, truth = [], []
    for label in read_labels(label_path(image), classes, error=EvaluationError):
        cx, cy, w, h = label.box
        box = (
            (cx - w / 2) * width,
            (cy - h / 2) * height,
            (cx + w / 2) * width,
            (cy + h / 2) * height,
        )
        faces.append(Face(box, 1.0))
        truth.append(label.class_id)
    return faces, truth


def face_accuracy(cascade: Cascade, images: list[Path], names: list[str]) -> FaceAccuracy:
    """Classify every ground-truth face of ``images`` with the cascade's classifier."""
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    for image_path in images:
        image = read_image(image_path)
        if image is None:
            raise EvaluationError(f"{image_path}: cannot read this test image")
        faces, truth = ground_truth_faces(image_path, image.shape[1], image.shape[0], len(names))
        if faces:
            predicted = cascade.classify(image, faces).argmax(1)
            np.add.at(confusion, (np.asarray(truth), predicted), 1)
    return FaceAccuracy(names, confusion)


@dataclass(frozen=True)
class CascadeOutcome:
    map: MapOutcome
    accuracy: FaceAccuracy


def evaluate_cascade(
    data: Path,
    cascade: Cascade,
    *,
    params: EvalParams | None = None,
) -> CascadeOutcome:
    """Table II of the cascade on ``data``'s test list and its per-face accuracy."""
    test = load_test_set(data)
    check_test_images(test.images, test.listing)
    if list(cascade.names) != list(test.names):
        raise EvaluationError(
            f"{test.obj.names}: the classifier's classes {cascade.names} are not the test set's "
            f"{test.names}"
        )
    sizes = image_sizes(test.images)
    found = cascade.detect_files(test.images, MAP_THRESH, MAP_NMS)
    dets = detections_from_objects(
        (i, d, (int(sizes[i, 0]), int(sizes[i, 1]))) for i, (_, d) in enumerate(found)
    )
    combined, per_dataset, scored = evaluate_all(test, dets, params or EvalParams())
    face = getattr(cascade.faces, "threshold", "the detector's threshold")
    # the class-agnostic face AP: RetinaFace's boxes, each with its best class score
    found_faces = face_of(scored, combined)
    table = Table2(combined, METHOD_CASCADE.format(face=face), None, per_dataset, found_faces)
    return CascadeOutcome(
        MapOutcome(table, scored), face_accuracy(cascade, test.images, test.names)
    )


def write_cascade_outputs(outcome: CascadeOutcome, out: Path) -> list[Path]:
    """Table II + report (as ``map``) and ``face_accuracy.{md,json}`` into ``out``."""
    from yof_darknet.evaluate.run import write_outputs

    written = write_outputs(outcome.map, out)
    for suffix, text in (
        (".md", outcome.accuracy.render_markdown()),
        (".json", json.dumps(outcome.accuracy.to_json(), indent=1) + "\n"),
    ):
        path = Path(out) / f"face_accuracy{suffix}"
        atomic_write_text(path, text)
        written.append(path)
    return written
