"""The permuted-label control of a converted dataset (``reproduce --shuffle-labels --expw DIR``).

The same training images and boxes as the dataset, with the expression labels permuted across
every training face (one seeded permutation, so each class keeps its number of faces). A detector
trained on it can learn where faces are but not which expression they show: scored on the TRUE
test list, it gives what "learned nothing about expressions" scores with this recipe, the level
the real run must clear.

``write_control(obj_data, out, seed)`` reads the dataset ``obj_data`` names (never writing
there) and writes into ``out``:

- ``OUT/<path of each training image under the dataset's folder>``: a link to the image (the
  file itself, links resolved), and its label beside it, the boxes of the original label with
  the permuted classes;
- ``OUT/train.txt`` (the original's lines, re-pointed, repeats of ``--balance`` included),
  ``OUT/obj.names``, ``OUT/obj.data`` whose ``valid=`` is the dataset's own (true) test list;
- ``OUT/control.json``: the seed, the source, the faces per class and how many moved class.

Re-running rewrites the same files (the permutation depends only on the seed and the labels).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yof_darknet.errors import DatasetError
from yof_darknet.fileio import atomic_write_text, place_image, protected, read_lines
from yof_darknet.formats.labels import check_label_path, darknet_path_problem
from yof_darknet.formats.objdata import ObjData, obj_data_text, read_obj_data
from yof_darknet.owned import ensure_real_folder

CONTROL_RECORD = "control.json"


@dataclass(frozen=True)
class ControlSummary:
    obj_data: Path  # the control's obj.data (train = permuted, valid = the true test list)
    images: int  # distinct training images
    faces: int  # training faces (each got a permuted label)
    moved: int  # faces whose label changed class


def _image_lines(obj: ObjData, base: Path) -> list[Path]:
    """The training list's images, a relative path taken from obj.data's folder."""
    listed = [p if p.is_absolute() else base / p for p in obj.read_list("train")]
    if not listed:
        raise DatasetError(f"{obj.train}: the training list is empty; nothing to permute")
    return listed


def _target(image: Path, root: Path, out: Path, obj: ObjData) -> Path:
    """Where the control lists ``image``: the same path under ``out`` as under ``root``."""
    try:
        relative = Path(os.path.abspath(image)).relative_to(root)
    except ValueError:
        raise DatasetError(
            f"{obj.train}: {image} lies outside the dataset folder {root}; the control copies "
            "the layout of `yof-darknet datasets` (images under the folder of obj.data)"
        ) from None
    return out / relative


def _read_faces(images: list[Path], classes: int) -> list[list[list[str]]]:
    """The label lines of each image, split into fields (validated: class within range)."""
    faces = []
    for image in images:
        label = check_label_path(image)
        if not label.is_file():
            raise DatasetError(f"{label}: label of {image} not found (listed in the train list)")
        rows = [line.split() for line in read_lines(label)]
        for number, row in enumerate(rows, start=1):
            if len(row) != 5 or not row[0].isdigit() or not 0 <= int(row[0]) < classes:
                raise DatasetError(
                    f"{label}:{number}: expected 'class cx cy w h', got {' '.join(row)!r}"
                )
        faces.append(rows)
    return faces


def write_control(obj_data: Path, out: Path, seed: int = 0) -> ControlSummary:
    """Write the control of the dataset ``obj_data`` into ``out`` (see the module's doc)."""
    obj = read_obj_data(obj_data)
    if obj.valid is None:
        raise DatasetError(f"{obj_data}: no valid= test list; the control is scored on it")
    root = Path(os.path.realpath(Path(obj_data).parent))
    out = Path(os.path.abspath(out))
    if out == root or out.is_relative_to(root) or root.is_relative_to(out):
        raise DatasetError(f"{out}: the control's folder must lie outside the dataset {root}")
    problem = darknet_path_problem(out)
    if problem is not None:
        raise DatasetError(f"{out}: {problem}")
    listed = _image_lines(obj, Path(obj_data).resolve().parent)
    images = list(dict.fromkeys(listed))
    with protected(root):
        faces = _read_faces(images, obj.classes)
        labels = np.array([int(row[0]) for rows in faces for row in rows], dtype=int)
        permuted = np.random.default_rng(seed).permutation(labels)
        targets = {image: _target(image, root, out, obj) for image in images}
        at = 0
        for image, rows in zip(images, faces, strict=True):
            target = targets[image]
            check_label_path(target)
            place_image(Path(os.path.realpath(image)), target)
            lines = [" ".join([str(permuted[at + i]), *row[1:]]) for i, row in enumerate(rows)]
            at += len(rows)
            atomic_write_text(target.with_suffix(".txt"), "".join(f"{x}\n" for x in lines))
    train = out / "train.txt"
    atomic_write_text(train, "".join(f"{targets[image]}\n" for image in listed))
    names = out / "obj.names"
    atomic_write_text(names, "".join(f"{name}\n" for name in obj.read_names()))
    control = ObjData(obj.classes, train, obj.valid, names, ensure_real_folder(out / "backup"))
    atomic_write_text(out / "obj.data", obj_data_text(control))
    counts = np.bincount(labels, minlength=obj.classes)
    summary = ControlSummary(
        out / "obj.data", len(images), int(labels.size), int((labels != permuted).sum())
    )
    record = {
        "control": "expression labels permuted across the training faces",
        "source": str(Path(obj_data).resolve()),
        "seed": seed,
        "images": summary.images,
        "faces": summary.faces,
        "faces_moved_class": summary.moved,
        "faces_per_class": dict(zip(obj.read_names(), counts.tolist(), strict=True)),
        "test_list": str(obj.valid),
    }
    atomic_write_text(out / CONTROL_RECORD, json.dumps(record, indent=1) + "\n")
    return summary
