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
- where the dataset has a validation list (``val=``): ``OUT/val.txt`` and ``val=``, its images
  placed the same way under ``OUT/val-permuted/`` with their labels permuted across the
  validation faces (a permutation of its own), so that the control chooses its weights
  (``--select best``) as the recipe does, on labels like the ones it learned, never on the true
  ones;
- ``OUT/control.json``: the seed, the source, the faces per class and how many moved class.

Re-running rewrites the same files (the permutation depends only on the seed and the labels).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.fileio import atomic_write_text, place_image, protected, read_lines
from yof_darknet.core.owned import ensure_real_folder
from yof_darknet.formats.imagefiles import read_list
from yof_darknet.formats.labels import check_label_path, darknet_path_problem
from yof_darknet.formats.objdata import VAL_KEY, ObjData, obj_data_text, read_obj_data

CONTROL_RECORD = "control.json"
VAL_STREAM = 1  # the validation faces' permutation: default_rng((seed, VAL_STREAM))
VAL_FOLDER = "val-permuted"  # apart: an image in both lists keeps its training labels


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


def _val_lines(obj: ObjData, base: Path) -> tuple[Path, list[Path]] | None:
    """The validation list (obj.data ``val=``) and its images; None without one."""
    value = obj.extra.get(VAL_KEY)
    if not value:
        return None
    path = Path(value) if Path(value).is_absolute() else base / value
    if not path.is_file():
        raise DatasetError(f"{obj.source}: val = {value}: validation list not found")
    return path, [p if p.is_absolute() else base / p for p in map(Path, read_list(path))]


def _target(image: Path, root: Path, out: Path, listing: Path) -> Path:
    """Where the control lists ``image``: the same path under ``out`` as under ``root``."""
    try:
        relative = Path(os.path.abspath(image)).relative_to(root)
    except ValueError:
        raise DatasetError(
            f"{listing}: {image} lies outside the dataset folder {root}; the control copies "
            "the layout of `yof-darknet datasets` (images under the folder of obj.data)"
        ) from None
    return out / relative


def _read_faces(images: list[Path], classes: int, listing: Path) -> list[list[list[str]]]:
    """The label lines of each image, split into fields (validated: class within range)."""
    faces = []
    for image in images:
        label = check_label_path(image)
        if not label.is_file():
            raise DatasetError(f"{label}: label of {image} not found (listed in {listing})")
        rows = [line.split() for line in read_lines(label)]
        for number, row in enumerate(rows, start=1):
            if len(row) != 5 or not row[0].isdigit() or not 0 <= int(row[0]) < classes:
                raise DatasetError(
                    f"{label}:{number}: expected 'class cx cy w h', got {' '.join(row)!r}"
                )
        faces.append(rows)
    return faces


def _permuted_copy(
    listing: Path,
    listed: list[Path],
    paths: tuple[Path, Path, int],
    seed: int | tuple[int, int],
) -> tuple[dict[Path, Path], np.ndarray, np.ndarray]:
    """Place the images ``listed`` by ``listing`` under ``out`` (``paths``: the dataset's
    folder, ``out``, the class count) with their labels' classes permuted across all their
    faces (seeded); where each went, the labels and the permuted labels."""
    root, out, classes = paths
    images = list(dict.fromkeys(listed))
    faces = _read_faces(images, classes, listing)
    labels = np.array([int(row[0]) for rows in faces for row in rows], dtype=int)
    permuted = np.random.default_rng(seed).permutation(labels)
    targets = {image: _target(image, root, out, listing) for image in images}
    at = 0
    for image, rows in zip(images, faces, strict=True):
        target = targets[image]
        check_label_path(target)
        place_image(Path(os.path.realpath(image)), target)
        lines = [" ".join([str(permuted[at + i]), *row[1:]]) for i, row in enumerate(rows)]
        at += len(rows)
        atomic_write_text(target.with_suffix(".txt"), "".join(f"{x}\n" for x in lines))
    return targets, labels, permuted


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
    base = Path(obj_data).resolve().parent
    listed = _image_lines(obj, base)
    validation = _val_lines(obj, base)
    with protected(root):
        paths = (root, out, obj.classes)
        targets, labels, permuted = _permuted_copy(obj.train, listed, paths, seed)
        if validation is not None:  # its own permutation: each list keeps its class counts
            val_seed = (seed, VAL_STREAM)
            val_paths = (root, out / VAL_FOLDER, obj.classes)
            val_targets, *_ = _permuted_copy(*validation, val_paths, val_seed)
    train = out / "train.txt"
    atomic_write_text(train, "".join(f"{targets[image]}\n" for image in listed))
    extra = {}
    if validation is not None:
        val = out / "val.txt"
        atomic_write_text(val, "".join(f"{val_targets[image]}\n" for image in validation[1]))
        extra[VAL_KEY] = str(val)
    names = out / "obj.names"
    atomic_write_text(names, "".join(f"{name}\n" for name in obj.read_names()))
    backup = ensure_real_folder(out / "backup")
    control = ObjData(obj.classes, train, obj.valid, names, backup, extra)
    atomic_write_text(out / "obj.data", obj_data_text(control))
    counts = np.bincount(labels, minlength=obj.classes)
    summary = ControlSummary(
        out / "obj.data", len(targets), int(labels.size), int((labels != permuted).sum())
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
        "validation_list": None if validation is None else str(validation[0]),
    }
    atomic_write_text(out / CONTROL_RECORD, json.dumps(record, indent=1) + "\n")
    return summary
