"""``yof-darknet crops``: the face crops of a converted dataset, for Darknet's ``classifier``.

For every labelled face of the detector's train and test lists, the box grown by ``margin`` x
its width (height) on each side (``faces.crop_box``) is cut out and resized to ``size`` x
``size``. ``OUT/`` then holds::

    labels.txt                        the class names, in class-id order
    train.list, test.list             crop paths relative to OUT/ (darknet runs with cwd OUT/)
    train/<class>/<000001>.png        the crops of the detector's train list
    test/<class>/<000001>.png         the crops of its test list
    crops.json                        margin, size, counts, and each crop's source image and box

Darknet's classifiers find a crop's class by ``strstr(path, label)`` for every label and need
exactly one match (``fill_truth``: "Too many or too few labels" otherwise). So the class is the
folder name, crop files are numbered (never named after the source image, whose ExpW name such as
``disgusted_man_3.jpg`` may hold another class's name), the listed paths are relative (a user's
folder such as ``/home/fear/`` must not match), and every path is checked before it is written.
The split is the detector's: a face of a test image is never a training crop (checked too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.fileio import atomic_write_bytes, atomic_write_text
from yof_darknet.core.progress import Progress
from yof_darknet.formats.imagefiles import read_image
from yof_darknet.formats.labels import label_path, read_labels
from yof_darknet.formats.objdata import read_obj_data
from yof_darknet.formats.safenames import name_problem
from yof_darknet.tools.faces import DEFAULT_CROP_MARGIN, face_crop

SPLITS = {"train": "train", "test": "valid"}  # crop split -> obj.data list key
DEFAULT_MARGIN = DEFAULT_CROP_MARGIN
DEFAULT_SIZE = 64


@dataclass
class CropSummary:
    out: Path
    crops: dict[str, int] = field(default_factory=dict)  # split -> crops
    per_class: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class -> n
    skipped: list[str] = field(default_factory=list)


def matching_labels(path: str, labels: list[str]) -> list[str]:
    """The labels Darknet's ``fill_truth`` finds in ``path`` (``strstr`` on each label).

    >>> matching_labels("train/fear/000001.png", ["anger", "fear"])
    ['fear']
    """
    return [label for label in labels if label in path]


def check_label_names(labels: list[str], where: Path) -> None:
    """Each label is a safe name (it becomes a folder in the paths Darknet is handed:
    ``formats.safenames``), and none contains another (``strstr`` would find both in the
    longer one's paths)."""
    for label in labels:
        problem = name_problem(label)
        if problem is not None:
            raise DatasetError(
                f"{where}: class name {label!r} {problem}; it names the crops' folder in the "
                "lists Darknet's classifier reads, so rename the class"
            )
        inside = [other for other in labels if other != label and other in label]
        if inside:
            raise DatasetError(
                f"{where}: class name {label!r} contains {inside[0]!r}; Darknet's classifier "
                "finds classes by substring, so rename one of them"
            )


def check_disjoint(train: list[Path], test: list[Path]) -> None:
    """No test image is a training image, so no test face is ever a training crop."""
    leaked = {str(p.resolve()) for p in train} & {str(p.resolve()) for p in test}
    if leaked:
        raise DatasetError(
            f"{len(leaked)} image(s) are in both the train and the test list (first: "
            f"{sorted(leaked)[0]}); the classifier would be tested on faces it trained on"
        )


def write_crops(
    data: Path,
    out: Path,
    *,
    margin: float = DEFAULT_MARGIN,
    size: int = DEFAULT_SIZE,
    progress: bool = True,
) -> CropSummary:
    """Write the crops of ``data`` (an obj.data) into ``out`` as the module describes."""
    if margin < 0 or size < 8:
        raise DatasetError(f"margin {margin} must be >= 0 and size {size} >= 8")
    obj = read_obj_data(data)
    names = obj.read_names()
    check_label_names(names, obj.names)
    lists = {split: obj.read_list(key) for split, key in SPLITS.items()}
    base = Path(data).resolve().parent
    lists = {s: [p if p.is_absolute() else base / p for p in ps] for s, ps in lists.items()}
    check_disjoint(lists["train"], lists["test"])
    summary = CropSummary(Path(out))
    record: dict[str, object] = {"margin": margin, "size": size, "source": str(data)}
    for split, images in lists.items():
        listed, origins = _write_split(
            obj.classes, names, images, Path(out), split, margin, size, summary, progress
        )
        atomic_write_text(Path(out) / f"{split}.list", "".join(f"{p}\n" for p in listed))
        record[split] = origins
        summary.crops[split] = len(listed)
    atomic_write_text(Path(out) / "labels.txt", "".join(f"{n}\n" for n in names))
    record["per_class"] = summary.per_class
    atomic_write_text(Path(out) / "crops.json", json.dumps(record, indent=1) + "\n")
    return summary


def _write_split(
    classes: int,
    names: list[str],
    images: list[Path],
    out: Path,
    split: str,
    margin: float,
    size: int,
    summary: CropSummary,
    progress: bool,
) -> tuple[list[str], list[dict[str, object]]]:
    listed: list[str] = []
    origins: list[dict[str, object]] = []
    counts = dict.fromkeys(names, 0)
    with Progress(f"crops {split}", total=len(images), unit="img", enabled=progress) as bar:
        for image_path in bar.iterate(images):
            image = read_image(image_path)
            if image is None:
                summary.skipped.append(f"{image_path}: missing or unreadable image")
                continue
            height, width = image.shape[:2]
            labels = read_labels(label_path(image_path), classes)
            for face, label in enumerate(labels):
                cx, cy, w, h = label.box
                xyxy = (
                    (cx - w / 2) * width,
                    (cy - h / 2) * height,
                    (cx + w / 2) * width,
                    (cy + h / 2) * height,
                )
                name = names[label.class_id]
                relative = f"{split}/{name}/{len(listed) + 1:06d}.png"
                found = matching_labels(relative, names)
                assert found == [name], (relative, found)  # the layout guarantees one match
                ok, png = cv2.imencode(".png", face_crop(image, xyxy, margin, size))
                if not ok:
                    raise DatasetError(
                        f"{image_path}: OpenCV cannot encode the crop of face {face}"
                    )
                target = out / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(target, png.tobytes())
                listed.append(relative)
                origins.append({"crop": relative, "image": str(image_path), "face": face})
                counts[name] += 1
    summary.per_class[split] = counts
    return listed, origins
