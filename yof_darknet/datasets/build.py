"""The ``datasets`` stage: run the converters, split, write the lists, obj.data and stats.json.

Plugging in a converter
-----------------------
A converter is a function ``convert(out_dir: Path, *, progress: bool) -> ConversionResult``
(``yof_darknet.datasets.stats``). ``out_dir`` is ``OUT/<name>/``; the converter

- places each kept image there (``writer.place_image``, symlink or ``copy``) and writes its label
  beside it (``writer.atomic_write_text``, lines from ``writer.label_line``), checking every
  image path with ``writer.check_label_path``;
- counts every face it read exactly once: ``stats.add(KEPT, class_ids)`` or
  ``stats.add("<reason>", class_ids)`` (``NO_CLASS`` for faces without one of our classes);
  dataset-specific notes go in ``stats.details`` (JSON-serialisable);
- returns ``ConversionResult(items, stats)`` with one ``Item(image, dataset=<name>, group,
  classes)`` per placed image: ``group`` is what a split may not cut (the image for ExpW; the
  frame or the video for Aff-Wild2), ``classes`` the class id of each line of its label;
- raises ``DatasetError`` (file, line, fix) for input it cannot use at all.

``datasets.jobs`` binds a raw folder and its options into a ``DatasetJob`` (``expw_job``,
``affwild2_job``, ``affectnet_job``, ``rafdb_job``, ``own_job``); the CLI and ``make reproduce``
hand one per dataset to ``build_datasets``::

    jobs = [expw_job(expw_dir, min_face_score=50), affwild2_job(affwild2_dir, options)]
    summary = build_datasets(jobs, out, test_per_dataset=2500, seed=0, options={...})

``build_datasets`` refuses an OUT whose paths Darknet would rewrite or that overlaps a raw folder,
runs the converters, deletes images and ``.txt`` files under ``OUT/<name>/`` that this run did
not produce (``DatasetJob.prune``), splits each dataset (its own held-out set where it has one,
``split.held_out_split``, else ``split.split_items``; then ``split.draw_validation`` from its
training part), and writes ``train.txt``, ``test.txt``,
``test_<name>.txt``, ``val.txt`` and ``val_<name>.txt`` (when validation took any image),
``obj.names`` (the jobs' classes: our 7, or a user's own list), ``obj.data`` (``val = <val.txt>``
beside Darknet's keys), ``ultralytics.yaml`` (the same lists for Ultralytics, when there is a
validation list) and ``stats.json``, as one unit. Nothing under a raw folder is ever written.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.expressions import CLASSES
from yof_darknet.core.fileio import atomic_write_text, protected, unlink_owned
from yof_darknet.core.owned import (
    ensure_real_folder,
    output_lock,
    prune_owned,
    replace_together,
    sweep_temporaries,
)
from yof_darknet.datasets.balance import class_faces, oversample
from yof_darknet.datasets.items import Item
from yof_darknet.datasets.jobs import DatasetJob
from yof_darknet.datasets.jobs import affwild2_job as affwild2_job  # where tests look for them
from yof_darknet.datasets.jobs import expw_job as expw_job
from yof_darknet.datasets.split import (
    VAL_AUTO,
    Split,
    ValSize,
    draw_validation,
    held_out_split,
    split_items,
)
from yof_darknet.datasets.stats import ConversionResult
from yof_darknet.formats.labels import IMAGE_SUFFIXES, darknet_path_problem, label_path_problem
from yof_darknet.formats.objdata import ObjData, obj_data_text
from yof_darknet.formats.ultralytics import ultralytics_yaml

STATS_VERSION = 1


@dataclass
class BuildSummary:
    """Where things were written, each dataset's split note, and the stats.json content."""

    out: Path
    lists: dict[str, Path]
    obj_data: Path
    stats_path: Path
    messages: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def check_out_dir(out: Path, raws: Sequence[Path], names: Sequence[str]) -> None:
    """Refuse an OUT folder Darknet would misread or that shares files with a raw folder.

    Every path is resolved first, so ``OUT/<name>`` being a link into the raw data (or the raw
    data a link into OUT) is seen for what it is.
    """
    problem = darknet_path_problem(out)
    if problem is not None:
        raise DatasetError(f"--out {out}: {problem}")
    for name in names:
        problem = label_path_problem(out / name / "probe.jpg")
        if problem is not None:
            raise DatasetError(f"--out {out}: Darknet cannot use it: {problem}")
    outputs = {out: Path(os.path.realpath(out))}
    outputs |= {out / name: Path(os.path.realpath(out / name)) for name in names}
    for raw in raws:
        raw = Path(os.path.realpath(raw))
        for given, real in outputs.items():
            link = f" (a link to {real})" if real != given else ""
            if real == raw or real.is_relative_to(raw):
                raise DatasetError(
                    f"{given}{link}: output folder is inside the raw data {raw}; choose another "
                    "--out (and remove any link in it that leads into the raw data)"
                )
            if given != out and raw.is_relative_to(real):
                raise DatasetError(
                    f"{raw}: raw data lies inside the output folder {given}{link}, which the "
                    "converter rewrites; move the raw data or choose another --out"
                )


def _prune(folder: Path, items: Sequence[Item]) -> int:
    """Delete images and labels under ``folder`` that this package wrote (its ledgers) and
    this run did not produce; nothing else is ever deleted."""
    keep = {str(it.image) for it in items}
    keep |= {os.path.splitext(path)[0] + ".txt" for path in keep}
    return prune_owned(folder, keep, (*IMAGE_SUFFIXES, ".txt"))


def _split_counts(split: Split, classes: Sequence[str]) -> dict[str, Any]:
    """Images and faces in train, val and test, in total and per class."""
    counts: dict[str, Any] = {"images": {}, "faces": {}, "classes": {n: {} for n in classes}}
    for part, items in (("train", split.train), ("val", split.val), ("test", split.test)):
        faces = Counter(c for it in items for c in it.classes)
        images = Counter(c for it in items for c in set(it.classes))
        counts["images"][part] = len(items)
        counts["faces"][part] = sum(faces.values())
        for class_id, name in enumerate(classes):
            counts["classes"][name][f"{part}_faces"] = faces[class_id]
            counts["classes"][name][f"{part}_images"] = images[class_id]
    return counts


def _dataset_stats(
    job: DatasetJob, result: ConversionResult, split: Split, n_test: int, val: ValSize
) -> dict[str, Any]:
    stats = result.stats
    counts = _split_counts(split, job.classes)
    classes = stats.per_class()
    unannotated = stats.details.get("unannotated", {}).get("classes", {})
    for name, table in classes.items():
        table.update(counts["classes"][name])
        if name in unannotated:
            table["unannotated"] = unannotated[name]
    return {
        "source": str(job.raw.resolve()),
        "faces": {
            "read": stats.read,
            "kept": stats.kept,
            "skipped": stats.skipped(),
            **counts["faces"],
        },
        "images": {"kept": len(result.items), **counts["images"]},
        "split": {
            "test_requested": n_test,
            "test_capped": split.test_capped,
            "message": split.message,
            "val_requested": val.text,
            "val_message": split.val_message,
            "test_source": "dataset" if any(it.held_out for it in result.items) else "drawn",
        },
        "classes": classes,
        "details": stats.details,
    }


def _previous_datasets(stats_path: Path) -> set[str]:
    try:
        return set(json.loads(stats_path.read_text())["datasets"])
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _list_bytes(items: Sequence[Item]) -> bytes:
    return "".join(f"{item.image}\n" for item in items).encode("utf-8", "surrogateescape")


def build_datasets(
    jobs: Sequence[DatasetJob],
    out: Path,
    *,
    test_per_dataset: int = 2500,
    seed: int = 0,
    force_test_size: bool = False,
    val: ValSize = VAL_AUTO,
    balance_cap: int | None = None,
    options: dict[str, Any] | None = None,
    progress: bool = False,
) -> BuildSummary:
    """Convert every job into ``out`` and write the lists, ``obj.data`` and ``stats.json``.

    ``force_test_size``: hold out ``test_per_dataset`` even past ``split.MAX_HELD_OUT_SHARE``;
    ``val``: the validation images drawn per dataset from its training images (``VAL_OFF``:
    none); ``balance_cap``: ``--balance oversample:CAP`` (``datasets.balance``) on ``train.txt``
    (never on val or test); None lists each training image once."""
    if not jobs:
        raise DatasetError(
            "no dataset given: pass --expw, --affwild2, --affectnet, --rafdb DIR or "
            "--images DIR --labels FILE"
        )
    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        raise DatasetError(f"dataset given twice: {names}")
    if len({job.classes for job in jobs}) > 1:
        own = next(job for job in jobs if job.classes != CLASSES)
        raise DatasetError(
            f"{own.name}: its classes ({', '.join(own.classes)}) are not the 7 expressions of "
            f"{', '.join(j.name for j in jobs if j.classes == CLASSES)}: a detector has one set "
            "of classes; convert them into separate --out folders"
        )
    out = Path(out).resolve()
    check_out_dir(out, [job.raw for job in jobs], names)
    with protected(*(job.raw for job in jobs)), output_lock(out):  # one writer at a time
        plan = _Plan(test_per_dataset, seed, force_test_size, val, balance_cap)
        return _build(jobs, out, plan, options, progress)


@dataclass(frozen=True)
class _Plan:
    """How ``_build`` splits and lists: the arguments of ``build_datasets`` of that name."""

    test_per_dataset: int
    seed: int
    force_test_size: bool
    val: ValSize
    balance_cap: int | None


def _validation_record(val: ValSize, items: Sequence[Item], path: Path) -> dict[str, Any]:
    """stats.json's ``validation``: whether there is a validation list, and where it came from."""
    if not items:
        why = "--val-per-dataset 0" if val.off else "no dataset had images to spare"
        return {"mode": "off", "requested": val.text, "images": 0, "list": None, "why": why}
    return {
        "mode": "from_training",
        "requested": val.text,
        "images": len(items),
        "list": str(path),
        "why": "drawn from each dataset's training images after the test draw, so the test "
        "lists are those of a run without validation",
    }


def _split(
    name: str, result: ConversionResult, plan: _Plan, messages: list[str], stats_path: Path
) -> Split:
    """The dataset's test items (its own held-out set, or drawn), then validation from the
    rest."""
    own_set = str(result.stats.details.get("held_out", "drawn"))
    if any(item.held_out for item in result.items):
        split = held_out_split(result.items, dataset=name, title=own_set)
    else:
        if not own_set.startswith("drawn") and result.items:
            messages.append(
                f"{name}: its own held-out set ({own_set}) kept no image (see the skip reasons "
                f"in {stats_path}); the test images are drawn from the others"
            )
        split = split_items(
            result.items, plan.test_per_dataset, plan.seed, dataset=name,
            force=plan.force_test_size,
        )  # fmt: skip
    return draw_validation(split, plan.val, plan.seed, dataset=name)


def _build(
    jobs: Sequence[DatasetJob],
    out: Path,
    plan: _Plan,
    options: dict[str, Any] | None,
    progress: bool,
) -> BuildSummary:
    out.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(out)
    stats_path = out / "stats.json"
    summary = BuildSummary(out, {}, out / "obj.data", stats_path)
    train: list[Item] = []
    test: list[Item] = []
    val: list[Item] = []
    per_dataset: dict[str, list[Item]] = {}
    val_per_dataset: dict[str, list[Item]] = {}
    datasets: dict[str, Any] = {}
    for job in jobs:
        folder = Path(os.path.realpath(out / job.name))
        result = job.convert(folder, progress=progress)
        if job.prune:
            result.stats.details["stale_files_removed"] = _prune(folder, result.items)
        if not result.items:
            summary.messages.append(
                f"{job.name}: no image kept; see the skip reasons in {stats_path}"
            )
        split = _split(job.name, result, plan, summary.messages, stats_path)
        summary.messages += [m for m in (split.message, split.val_message) if m]
        train += split.train
        test += split.test
        val += split.val
        per_dataset[job.name] = split.test
        val_per_dataset[job.name] = split.val
        datasets[job.name] = _dataset_stats(job, result, split, plan.test_per_dataset, plan.val)

    classes = jobs[0].classes
    if plan.balance_cap is None:
        faces = dict(zip(classes, class_faces(train, classes), strict=True))
        listed, balance = train, {"mode": "none", "faces": faces}
    else:
        listed, balance = oversample(train, plan.balance_cap, classes)
    lists = {"train": listed, "test": test} | {f"test_{n}": it for n, it in per_dataset.items()}
    if val:
        lists |= {"val": val} | {f"val_{n}": it for n, it in val_per_dataset.items()}
    summary.lists = {key: out / f"{key}.txt" for key in lists}
    names_path = out / "obj.names"
    atomic_write_text(names_path, "".join(f"{name}\n" for name in classes))
    backup = ensure_real_folder(out / "backup")  # darknet writes weights there
    extra = {"val": str(summary.lists["val"])} if val else {}
    obj = ObjData(
        len(classes), summary.lists["train"], summary.lists["test"], names_path, backup, extra
    )
    options = {
        "test_per_dataset": plan.test_per_dataset,
        "force_test_size": plan.force_test_size,
        "val_per_dataset": plan.val.text,
        "seed": plan.seed,
        **(options or {}),
    }
    summary.stats = {
        "version": STATS_VERSION,
        "out": str(out),
        "options": options,
        "lists": {key: str(path) for key, path in sorted(summary.lists.items())},
        "obj_data": str(summary.obj_data),
        "classes": list(classes),
        "validation": _validation_record(plan.val, val, out / "val.txt"),
        "totals": {
            "images": {"train": len(train), "val": len(val), "test": len(test)},
            "faces": {
                part: sum(len(it.classes) for it in items)
                for part, items in (("train", train), ("val", val), ("test", test))
            },
        },
        "balance": balance,
        "datasets": datasets,
    }
    # One unit: the lists, obj.data and stats.json of one run, never a mix of two runs. With
    # nothing to train on, only stats.json (it says why): no obj.data, no empty lists.
    files = {"stats.json": (json.dumps(summary.stats, indent=2) + "\n").encode()}
    if train:
        files |= {f"{key}.txt": _list_bytes(items) for key, items in lists.items()}
        files["obj.data"] = obj_data_text(obj).encode("utf-8", "surrogateescape")
        if val:
            files["ultralytics.yaml"] = ultralytics_yaml(out, summary.lists, classes).encode()
        else:
            summary.messages.append(
                f"{out}: no validation list (--val-per-dataset 0), so no ultralytics.yaml "
                "(Ultralytics needs a val list)"
            )
    for name in _previous_datasets(out / "stats.json") - set(per_dataset):
        stale = out / f"test_{name}.txt"
        if stale.is_file() and not stale.is_symlink():  # a list an earlier version wrote
            unlink_owned(stale)
    replace_together(out, files)
    if not train:
        raise DatasetError(
            f"{out / 'train.txt'}: no training image was kept; the skip reasons per dataset are "
            f"in {stats_path} (check --min-face-score and the raw folders)"
        )
    return summary
