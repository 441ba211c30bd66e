"""Face boxes listed for still images → Darknet: what ExpW, AffectNet, RAF-DB and a user's own
labelled photos share once their rows are read.

A converter reads its annotation files into a frame of rows, one face each:

- ``name``: the image's path under the image folder (``/``-separated; sub-folders allowed),
- ``line``: where the row came from (1-based), for the order of label lines,
- ``x1 y1 x2 y2``: the box in the stored image's pixels (``normalised`` True: fractions of the
  image's width and height, as YOLO labels give them),
- ``class_id``: the class (an index into the dataset's classes),
- ``held_out`` (optional): the row belongs to the dataset's own test set.

and counts the rows it cannot use (malformed, no class...). The steps here then count the rest:
``drop_repeats`` (``duplicate``, ``conflicting_labels``), ``check_images`` (each image decoded
once: ``missing_image``, ``unreadable_image``, ``undecodable_image``, ``animated_image``; boxes
clipped; ``degenerate_box``), ``find_unannotated`` (``--unannotated``: ``unannotated_image``) and
``place`` (the kept faces: images linked, copied or written as derived copies, labels beside
them, safe names recorded in ``renamed.tsv``). Every step takes rows out only under a counted
reason, so each row read is kept or counted once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.fileio import atomic_write_text, place_image, protected
from yof_darknet.core.owned import Ledger
from yof_darknet.core.progress import Progress
from yof_darknet.datasets.derived import MANIFEST as DERIVED_MANIFEST
from yof_darknet.datasets.derived import DerivedCopies, Recipe, orient_box, orient_size
from yof_darknet.datasets.images import (
    CHECKS_FILE,
    IMAGE_REASONS,
    ImageChecks,
    ImageInfo,
    ImageProblem,
)
from yof_darknet.datasets.items import Item
from yof_darknet.datasets.stats import KEPT, ConversionStats
from yof_darknet.datasets.unannotated import (
    CACHE_FOLDER,
    FaceCache,
    UnannotatedOptions,
    find_unannotated,
)
from yof_darknet.formats.labels import check_label_path, label_line
from yof_darknet.formats.safenames import safe_stem

BOX = ["x1", "y1", "x2", "y2"]
MAX_EXAMPLES = 5
PROGRESS_MIN = 2000  # images; smaller inputs finish before a bar would help
# The reason the other faces of an image are counted under when one of its faces cannot be
# labelled (no class of ours, no box): kept, that face would be trained on as background.
IMAGE_LEFT_OUT = "image_left_out"


def count_out(
    stats: ConversionStats, rows: pd.DataFrame, mask: np.ndarray, reason: str
) -> pd.DataFrame:
    """Count the rows under ``mask`` as skipped for ``reason`` and return the others."""
    stats.add(reason, rows["class_id"].to_numpy()[mask])
    return rows[~mask]


def leave_out_images(
    stats: ConversionStats, rows: pd.DataFrame, names: Iterable[str]
) -> pd.DataFrame:
    """Count the rows of the images ``names`` under ``IMAGE_LEFT_OUT`` and return the others."""
    return count_out(stats, rows, rows["name"].isin(set(names)).to_numpy(), IMAGE_LEFT_OUT)


def example(stats: ConversionStats, key: str, text: str) -> None:
    """Keep ``text`` in ``details[key]`` while it holds fewer than ``MAX_EXAMPLES``."""
    examples = stats.details.setdefault(key, [])
    if len(examples) < MAX_EXAMPLES:
        examples.append(text)


def drop_repeats(
    rows: pd.DataFrame,
    stats: ConversionStats,
    values: Sequence[str] = ("class_id",),
    describe: Callable[[pd.Series], str] | None = None,
) -> pd.DataFrame:
    """``duplicate``: a repeat of an earlier row (same image, box and ``values``): the face is
    kept once; ``conflicting_labels``: rows of the same face (image and box) that disagree on
    ``values``: every one is dropped, since nothing tells which is right (the first few are
    quoted in ``details["conflicting_labels_examples"]``, by ``describe``)."""
    face = ["name", *BOX]
    repeat = rows.duplicated(subset=[*face, *values]).to_numpy()
    rows = count_out(stats, rows, repeat, "duplicate")
    conflicting = rows.duplicated(subset=face, keep=False).to_numpy()
    if conflicting.any():
        shown = rows[conflicting].sort_values("line").head(MAX_EXAMPLES)
        stats.details["conflicting_labels_examples"] = [
            describe(row) if describe else
            f"line {row.line}: {row['name']} box {row.x1:g},{row.y1:g},{row.x2:g},{row.y2:g} "
            f"class {row.class_id}"
            for _, row in shown.iterrows()
        ]  # fmt: skip
    return count_out(stats, rows, conflicting, "conflicting_labels")


def rows_by_image(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Image name → (M, 4) ``x1 y1 x2 y2`` boxes of its rows (as listed; rows without a finite
    box left out)."""
    rows = rows[np.isfinite(rows[BOX].to_numpy(dtype=np.float64)).all(axis=1)]
    boxes = rows[BOX].to_numpy(dtype=np.float64)
    names = rows["name"].to_numpy()
    order = np.argsort(names, kind="stable")
    names, boxes = names[order], boxes[order]
    edges = (
        np.flatnonzero(np.r_[True, names[1:] != names[:-1], True]).tolist() if len(names) else [0]
    )
    return {str(names[a]): boxes[a:b] for a, b in itertools.pairwise(edges)}


def check_apart(out_dir: Path, image_dir: Path, title: str) -> None:
    """Refuse an output folder that overlaps the raw images (links resolved)."""
    for a, b in ((out_dir, image_dir), (image_dir, out_dir)):
        if a == b or a.is_relative_to(b):
            raise DatasetError(
                f"{out_dir}: the output folder and the {title} images ({image_dir}, links "
                "resolved) overlap; choose another --out"
            )


def output_name(name: str, *, hashed: bool = False, suffix: str | None = None) -> str:
    """Darknet-safe file name for image ``name`` (sub-folders joined by ``_``): itself when
    already safe.

    The suffix becomes ``.jpg`` (``.png`` for PNGs); a stem with a substring either fork
    rewrites (``raw`` as in ``drawing``, ``images``, ``.jpg``) gets an underscore inside that
    substring and a hash of the original name (so two names never meet); ``hashed`` forces the
    hash, for a name whose plain output name another image already took; ``suffix`` replaces the
    output suffix (``.png`` for a masked copy).

    >>> output_name("689/a.Jpeg"), output_name("drawing.jpg")
    ('689_a.jpg', 'dr_awing_32b11496.jpg')
    """
    own = Path(name).suffix
    stem = name[: len(name) - len(own)].replace("/", "_")
    out_suffix = suffix or (".png" if own.lower() == ".png" else ".jpg")
    return safe_stem(stem, name, hashed=hashed) + out_suffix


def _check_all(
    image_dir: Path, names: list[str], checks: ImageChecks, dataset: str, progress: bool
) -> dict[str, ImageInfo | ImageProblem]:
    """Each image decoded once (``images.inspect_image``; answers kept in ``checks``).

    One thread: in measurements here, threads made the open/read calls slower, not faster.
    """
    answers: dict[str, ImageInfo | ImageProblem] = {}
    with Progress(f"{dataset}: images", total=len(names), unit="img", enabled=progress) as bar:
        for name in bar.iterate(names):
            answers[name] = checks.check(image_dir, name)
    checks.save(set(names))
    return answers


def check_images(
    rows: pd.DataFrame,
    stats: ConversionStats,
    image_dir: Path,
    out_dir: Path,
    *,
    inputs: Sequence[Path] = (),
    progress: bool = False,
) -> tuple[pd.DataFrame, dict[str, ImageInfo]]:
    """Attach stored image sizes and clipped boxes (stored pixels); drop the faces of images
    Darknet cannot use (``images.IMAGE_REASONS``) and degenerate boxes (under 1 px once
    clipped). Also returns each kept image's ``ImageInfo``. The answers are kept in
    ``out_dir/image_checks.json``; ``image_dir`` and ``inputs`` are only read."""
    names = sorted(rows["name"].unique())
    with protected(image_dir, *inputs):
        out_dir.mkdir(parents=True, exist_ok=True)
        Ledger(out_dir).record([CHECKS_FILE])
        checks = ImageChecks(out_dir)
        show = progress and len(names) >= PROGRESS_MIN
        answers = _check_all(image_dir, names, checks, stats.dataset, show)
    problems = {n: a for n, a in answers.items() if isinstance(a, ImageProblem)}
    problem = np.array([p.reason if (p := problems.get(n)) else "" for n in rows["name"]])
    for reason in IMAGE_REASONS:
        examples = sorted(f"{n}: {p.why}" for n, p in problems.items() if p.reason == reason)
        if examples:
            stats.details[f"{reason}_examples"] = examples[:MAX_EXAMPLES]
        rows = count_out(stats, rows, problem == reason, reason)
        problem = problem[problem != reason]
    infos = {n: a for n, a in answers.items() if isinstance(a, ImageInfo)}
    width = np.array([float(infos[n].width) for n in rows["name"]])
    height = np.array([float(infos[n].height) for n in rows["name"]])
    boxes = rows[BOX].to_numpy(dtype=np.float64)
    if "normalised" in rows:
        scale = np.where(rows["normalised"].to_numpy(dtype=bool), 1.0, 0.0)[:, None]
        size = np.column_stack([width, height, width, height])
        boxes = boxes * (scale * size + (1 - scale))
    clipped = np.clip(boxes, 0, np.column_stack([width, height, width, height]))
    rows = rows.assign(width=width, height=height, **dict(zip(BOX, clipped.T, strict=True)))
    degenerate = ~((rows["x2"] - rows["x1"] >= 1) & (rows["y2"] - rows["y1"] >= 1)).to_numpy()
    return count_out(stats, rows, degenerate, "degenerate_box"), infos


def find_unannotated_faces(
    rows: pd.DataFrame,
    listed: dict[str, np.ndarray],
    stats: ConversionStats,
    image_dir: Path,
    out_dir: Path,
    options: UnannotatedOptions,
    progress: bool = False,
) -> tuple[pd.DataFrame, dict[str, list[list[float]]]]:
    """``--unannotated``: the rows left (``drop``: the images with a face no row of ``listed``
    annotates are counted under ``unannotated_image``) and the faces to mask per image."""
    if options.mode == "keep":
        return rows, {}
    names = rows["name"].unique()
    cache = FaceCache(out_dir / CACHE_FOLDER, options.detector, stats.dataset)
    with protected(image_dir):
        findings = find_unannotated(
            image_dir, {str(n): listed[str(n)] for n in names}, cache, options, progress
        )
    by_image = {str(k): v for k, v in rows.groupby("name")["class_id"].agg(tuple).items()}
    stats.details["unannotated"] = findings.summary(
        options.mode, by_image, len(names), stats.classes
    )
    if options.mode == "drop":
        found = rows["name"].isin(findings.faces).to_numpy()
        return count_out(stats, rows, found, "unannotated_image"), {}
    return rows, findings.faces if options.mode == "mask" else {}


def _recipe(info: ImageInfo, max_side: int, mask: tuple | None) -> Recipe | None:
    """How the image Darknet reads is made from ``info``'s raw file (None: it is the raw file)."""
    small = not max_side or max(info.width, info.height) <= max_side
    if info.orientation == 1 and info.recode is None and mask is None and small:
        return None
    suffix = ".png" if mask is not None else info.copy_suffix
    return Recipe(suffix, info.orientation, max_side, info.recode, mask)


@dataclass(frozen=True)
class Placement:
    """How the kept rows are written: where from and to, and what Darknet reads."""

    dataset: str
    image_dir: Path
    out_dir: Path
    inputs: tuple[Path, ...] = ()  # annotation files, protected with the images
    copy: bool = False
    max_side: int = 0


def _plan(
    rows: pd.DataFrame, place: Placement, recipes: dict[str, Recipe], turns: dict[str, int]
) -> tuple[list[Item], list[str], dict[str, str]]:
    """One ``Item`` and label text per image (rows sorted by image), and the renamed images.

    Boxes go from stored pixels into the upright image's (``turns``); an image written as a
    derived copy (``recipes``) takes the copy's suffix (a PNG copy: ``.png``, not counted as
    renamed).
    """
    lines = []
    columns = ("name", "class_id", "x1", "y1", "x2", "y2", "width", "height")
    for name, class_id, x1, y1, x2, y2, w, h in zip(
        *(rows[c].to_numpy() for c in columns), strict=True
    ):
        turn = turns.get(name, 1)
        stored = (int(w), int(h))
        box = orient_box((x1, y1, x2, y2), stored, turn)
        lines.append(label_line(class_id, box, orient_size(stored, turn)))
    names = rows["name"].to_numpy()
    classes = rows["class_id"].to_numpy()
    held = rows["held_out"].to_numpy(dtype=bool) if "held_out" in rows else np.zeros(len(rows))
    edges = (
        np.flatnonzero(np.r_[True, names[1:] != names[:-1], True]).tolist() if len(names) else [0]
    )
    items: list[Item] = []
    labels: list[str] = []
    renamed: dict[str, str] = {}
    taken: set[str] = set()
    for start, stop in itertools.pairwise(edges):
        name = str(names[start])
        recipe = recipes.get(name)
        suffix = recipe.suffix if recipe is not None else None
        target_name = output_name(name, suffix=suffix)
        if target_name in taken:
            target_name = output_name(name, hashed=True, suffix=suffix)
        taken.add(target_name)
        if target_name != output_name(name, suffix=suffix) or output_name(name) != name.replace(
            "/", "_"
        ):
            renamed[name] = target_name
        target = place.out_dir / target_name
        check_label_path(target)
        group_classes = tuple(int(c) for c in classes[start:stop])
        items.append(Item(target, place.dataset, name, group_classes, bool(held[start])))
        labels.append("".join(f"{line}\n" for line in lines[start:stop]))
    return items, labels, renamed


def _place_label(target: Path, label: str) -> None:
    """Write ``target``'s label unless it already holds ``label`` (re-runs touch nothing that
    is up to date)."""
    label_path = target.with_suffix(".txt")
    try:
        if label_path.read_text() == label:
            return
    except FileNotFoundError:
        pass
    atomic_write_text(label_path, label)


def _derived_counts(recipes: Iterable[Recipe], max_side: int, written: int) -> dict[str, int]:
    """stats.json's ``derived`` block: copies by reason (one copy may have several)."""
    recipes = list(recipes)
    return {
        "copies": len(recipes),
        "written_this_run": written,
        "upright": sum(r.orientation != 1 for r in recipes),
        "shrunk": sum(r.max_side > 0 for r in recipes),  # only set where the long side exceeds
        "recoded": sum(r.recode is not None for r in recipes),
        "masked": sum(r.mask is not None for r in recipes),
        "max_side": max_side,
    }


def _record_renames(
    out_dir: Path, renamed: dict[str, str], ledger: Ledger, stats: ConversionStats
) -> None:
    renamed_file = out_dir / "renamed.tsv"
    if renamed:
        table = "".join(f"{old}\t{new}\n" for old, new in sorted(renamed.items()))
        ledger.record([renamed_file.name])
        atomic_write_text(renamed_file, "original\toutput\n" + table)
        stats.details["renamed_file"] = str(renamed_file)
    else:
        ledger.remove(renamed_file.name)
    stats.details["renamed"] = len(renamed)


def place(
    rows: pd.DataFrame,
    infos: dict[str, ImageInfo],
    masked: dict[str, list[list[float]]],
    stats: ConversionStats,
    where: Placement,
    progress: bool = False,
) -> list[Item]:
    """Count ``rows`` as kept and write them: one label line per row, in the rows' order within
    an image; each image linked (``copy``: copied) or, where Darknet builds would read it
    differently, larger than ``max_side`` or masked (``masked``: faces to paint over), written as
    a derived copy (``datasets.derived``). Returns one ``Item`` per image."""
    stats.add(KEPT, rows["class_id"].to_numpy())
    kept_boxes = rows_by_image(rows) if masked else {}
    recipes: dict[str, Recipe] = {}
    for name in rows["name"].unique():
        mask = None
        if name in masked:
            faces = tuple(tuple(face[:4]) for face in masked[name])
            mask = (faces, tuple(tuple(box) for box in kept_boxes[name].tolist()))
        recipe = _recipe(infos[name], where.max_side, mask)
        if recipe is not None:
            recipes[name] = recipe
    turns = {name: info.orientation for name, info in infos.items()}
    order = np.argsort(rows["name"].to_numpy(), kind="stable")
    items, labels, renamed = _plan(rows.iloc[order], where, recipes, turns)
    out_dir, image_dir = where.out_dir, where.image_dir
    with protected(image_dir, *where.inputs):  # also where links in the raw folder lead
        ledger = Ledger(out_dir)  # owned before written: a killed run's files are still ours
        ledger.record(n for it in items for n in (it.image.name, it.image.with_suffix(".txt").name))
        ledger.record([DERIVED_MANIFEST])
        copies = DerivedCopies(out_dir)
        show = progress and len(items) >= PROGRESS_MIN
        # one thread: files created in one folder serialise on its lock; threads only add contention
        placements = zip(items, labels, strict=True)
        title = f"{where.dataset}: writing"
        with Progress(title, total=len(items), unit="img", enabled=show) as reporter:
            for item, label in reporter.iterate(placements):
                source = image_dir / item.group
                if item.group in recipes:
                    copies.write(source, item.image, recipes[item.group])
                else:
                    place_image(source, item.image, copy=where.copy)
                _place_label(item.image, label)
        copies.save()
        stats.details["derived"] = _derived_counts(recipes.values(), where.max_side, copies.written)
        _record_renames(out_dir, renamed, ledger, stats)
    return items
