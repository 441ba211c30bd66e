"""``map --checkpoints runs/NAME``: every weights file the training saved, scored on the
validation list, and ``weights/<arch>_best.weights``, the one with the best validation mAP.

Each checkpoint is read once into memory, its size checked against the run cfg (a file darknet
is still writing is left for the next pass), hashed, and scored through a snapshot of those
bytes in ``runs/NAME/.yof-scoring/`` by the ``map --engine ort`` path: ONNX Runtime detections
(the cfg + weights exported), our evaluator, the same IoU and points. A checkpoint whose content
was scored with the same settings is never scored again (``checkpoints.csv``). The test list is
never read here.

``_best`` is a copy written atomically (a new file renamed into place), never a link: darknet
opens its own ``_best.weights`` (AlexeyAB's ``-map``) and its ``_last``/``.backup`` for writing
in place, which would change a linked checkpoint through the link.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from yof_darknet.core.engines import ORT
from yof_darknet.core.errors import EvaluationError
from yof_darknet.core.fileio import atomic_path, atomic_write_bytes, protected
from yof_darknet.core.owned import output_lock
from yof_darknet.evaluate.ap import EvalParams
from yof_darknet.evaluate.inputs import check_test_images
from yof_darknet.evaluate.run import (
    TestSet,
    evaluate_all,
    face_of,
    load_list,
    python_detections,
)
from yof_darknet.formats.cfg import net_int, read_cfg
from yof_darknet.formats.checkpoints import (
    FILE_NAME,
    CheckpointRow,
    Settings,
    best_row,
    read_checkpoints,
    write_checkpoints,
)
from yof_darknet.formats.labels import label_path
from yof_darknet.formats.objdata import ObjData, read_obj_data, validation_list
from yof_darknet.formats.weights import header_of, weights_bytes

SCRATCH = ".yof-scoring"  # snapshots and their ONNX exports while they are scored
SUFFIXES = (".weights", ".backup")

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Run:
    """A run folder as training left it: its cfg, obj.data and weights folder."""

    root: Path
    cfg: Path
    obj: ObjData

    @staticmethod
    def open(root: Path) -> Run:
        root = Path(root)
        if not (root / "obj.data").is_file():
            raise EvaluationError(f"{root}: not a run folder (no obj.data); give runs/NAME")
        cfgs = sorted(root.glob("*.cfg"))
        if len(cfgs) != 1:
            raise EvaluationError(f"{root}: expected one run cfg (<arch>.cfg), found {len(cfgs)}")
        return Run(root, cfgs[0], read_obj_data(root / "obj.data"))

    @property
    def weights(self) -> Path:
        return self.root / "weights"

    @property
    def best(self) -> Path:
        return self.weights / f"{self.cfg.stem}_best.weights"

    @property
    def csv(self) -> Path:
        return self.root / FILE_NAME

    def validation(self, test_list: Path | None = None) -> Path:
        return validation_list(self.obj, test_list)


@dataclass(frozen=True)
class Scoring:
    """What a scoring pass left: every row (these settings), how many it scored now, the best."""

    rows: list[CheckpointRow]
    scored: int
    best: CheckpointRow | None
    val_list: Path


def _rewritten(path: Path) -> bool:
    """Names darknet writes again and again (``.backup``, ``_last``): a row names the file that
    keeps the content (``_100.weights``) when both hold it."""
    return path.suffix == ".backup" or path.stem.endswith("_last")


def checkpoint_files(run: Run) -> list[Path]:
    """The weights darknet saved in ``weights/`` (``_N``, ``_last``, ``.backup``, ``_final``...),
    not our ``_best`` copy and no hidden temporary; names darknet rewrites last."""
    if not run.weights.is_dir():
        return []
    found = [
        p
        for p in run.weights.iterdir()
        if p.suffix in SUFFIXES and p.is_file() and not p.name.startswith(".") and p != run.best
    ]
    return sorted(found, key=lambda p: (_rewritten(p), p.name))


def _expected_bytes(run: Run, header_size: int) -> int:
    return header_size + weights_bytes(read_cfg(run.cfg))


def _settings(val_path: Path, val: TestSet, params: EvalParams) -> Settings:
    """The scoring settings; ``val_sha256`` fingerprints the validation set: the list, every
    label file's bytes and every image's size and mtime (a re-converted set is scored again)."""
    digest = hashlib.sha256(val_path.read_bytes())
    for image in val.images:
        info = image.stat()
        digest.update(f"\0{image}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
        digest.update(label_path(image).read_bytes())
    return Settings(str(val_path), digest.hexdigest(), params.iou_thresh, params.points)


def _score_bytes(run: Run, val: TestSet, data: bytes, name: str, params: EvalParams) -> tuple:
    """mAP, face AP and per-class AP of the weights ``data``, through a snapshot in the run."""
    scratch = run.root / SCRATCH
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        snapshot = scratch / name
        atomic_write_bytes(snapshot, data)
        # the snapshot's folder is one level below the run, like weights/: the export finds
        # the run's train.log there and folds batch norm as the darknet that trained it
        dets, _ = python_detections(val, run.cfg, snapshot, ORT, None)
        combined, _, scored = evaluate_all(val, dets, params)
        face = face_of(scored, combined)
        return combined.map, face.face_ap, {c.name: c.ap for c in combined.classes}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def score_run(
    root: Path,
    params: EvalParams | None = None,
    *,
    test_list: Path | None = None,
    echo: Echo = print,
) -> Scoring:
    """Score every checkpoint of the run ``root`` not scored yet on its validation list, until
    a pass finds none new; keep ``_best``. ``test_list``: the test list to tell the validation
    list from (it is not read)."""
    run = Run.open(root)
    params = params or EvalParams()
    val_path = run.validation(test_list)

    def beside(holder: str) -> None:  # a training (or another scoring) holds the run folder
        echo(f"{run.root}: held by {holder}; scoring beside it (checkpoints.csv, _best and "
             "results.csv are each rewritten under a lock of their own)")  # fmt: skip

    def waiting(holder: str) -> None:  # one scoring of a run at a time
        echo(f"{run.csv}: waiting for the scoring under way to finish ({holder})")

    with (
        output_lock(run.root, beside=beside),  # a finished run: this scoring holds it alone
        output_lock(run.csv, folder=False, wait=waiting),  # checkpoints.csv, _best, scratch
        protected(run.cfg, run.obj.source, val_path),
    ):
        shutil.rmtree(run.root / SCRATCH, ignore_errors=True)
        val = load_list(run.obj, run.root / "obj.data", val_path, check=False)
        settings = _settings(val_path, val, params)
        found = read_checkpoints(run.csv)
        rows = [r for r in found if r.settings == settings]
        if len(rows) != len(found):
            echo(f"{run.csv}: {len(found) - len(rows)} rows were scored on another list or "
                 "with another IoU/points: scoring those checkpoints again")  # fmt: skip
            write_checkpoints(run.csv, rows)
        batch = net_int(read_cfg(run.cfg), "batch", 1)
        duplicates: set[tuple[str, int, int]] = set()
        scored = 0
        while (todo := _unscored(run, rows, duplicates)) is not None:
            path, data, stat = todo
            if not scored:  # images read only when there is something to score
                check_test_images(val.images, val_path)
            iteration = header_of(data, str(path)).iterations(batch)
            value, face, per_class = _score_bytes(run, val, data, path.name, params)
            digest = hashlib.sha256(data).hexdigest()
            row = CheckpointRow(
                iteration, path.name, digest, stat[0], stat[1], value, face, per_class, settings
            )
            rows.append(row)
            scored += 1
            write_checkpoints(run.csv, rows)
            if best_row(rows) is row:
                atomic_write_bytes(run.best, data)
            echo(
                f"checkpoint {path.name} (iteration {iteration}): validation mAP "
                f"{value * 100:.2f} %, face AP {face * 100:.2f} %"
            )
        best = keep_best(run, rows, echo)
    return Scoring(rows, scored, best, val_path)


def _unscored(
    run: Run, rows: list[CheckpointRow], duplicates: set[tuple[str, int, int]]
) -> tuple[Path, bytes, tuple[int, int]] | None:
    """The next checkpoint whose content no row holds: (path, its bytes, (size, mtime_ns)).

    Unchanged files (name, size and mtime of a row, or of a file found to hold a row's content:
    ``duplicates``, filled here) are not read again; a file whose size is not the run cfg's
    (darknet is writing it) waits for the next pass.
    """
    seen_stat = {(r.file, r.size, r.mtime_ns) for r in rows} | duplicates
    seen_sha = {r.sha256 for r in rows}
    for path in checkpoint_files(run):
        try:
            info = path.stat()
            key = (path.name, info.st_size, info.st_mtime_ns)
            if key in seen_stat:
                continue
            data = path.read_bytes()
        except FileNotFoundError:  # darknet replaced it meanwhile
            continue
        if len(data) < 20 or len(data) != _expected_bytes(run, header_of(data, str(path)).size):
            continue
        if hashlib.sha256(data).hexdigest() in seen_sha:
            duplicates.add(key)
            continue
        return path, data, (info.st_size, info.st_mtime_ns)
    return None


def _sha_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def keep_best(run: Run, rows: list[CheckpointRow], echo: Echo = print) -> CheckpointRow | None:
    """Make ``_best`` hold the argmax of ``rows`` (ties: the earliest); return that row.

    When ``_best`` was overwritten (AlexeyAB's ``-map`` writes its own) it is copied again from
    a checkpoint with the same content; when none is left, the best row whose content still
    exists is used, and said.
    """
    remaining = list(rows)
    while (best := best_row(remaining)) is not None:
        if _sha_of(run.best) == best.sha256:
            return best
        for path in checkpoint_files(run):
            if _sha_of(path) == best.sha256:
                with atomic_path(run.best) as tmp:
                    shutil.copyfile(path, tmp)
                return best
        echo(
            f"{run.best}: the best checkpoint (iteration {best.iteration}, {best.file}) was "
            "overwritten before it could be kept; using the best one still on disk"
        )
        remaining.remove(best)
    return None
