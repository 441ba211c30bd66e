"""A run's ``checkpoints.csv``: every saved weights file scored on the validation list.

One row per distinct weights content (SHA-256), keyed by the training iteration its header
records (``seen / batch``), not by its name: ``_last``, ``.backup`` and ``_final`` are rewritten
under one name, and ``_100.weights`` and ``.backup`` may hold the same bytes. The scoring
settings are on every row (the validation list, a fingerprint of its list, labels and images,
the IoU and points): rows scored with other settings are not reused. Both the scorer
(``map --checkpoints``) and the training (the results join, ``--patience``) read it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from yof_darknet.core.errors import EvaluationError
from yof_darknet.core.fileio import atomic_write_text

FILE_NAME = "checkpoints.csv"  # in the run folder
FIXED = ("iteration", "file", "sha256", "size", "mtime_ns", "map", "face_ap")
SETTINGS = ("val_list", "val_sha256", "iou_thresh", "points")
AP_PREFIX = "ap_"


@dataclass(frozen=True)
class Settings:
    """What a checkpoint was scored on and how."""

    val_list: str
    val_sha256: str
    iou_thresh: float
    points: int


@dataclass(frozen=True)
class CheckpointRow:
    """One scored checkpoint: ``file`` (its name in ``weights/`` when scored), its content's
    ``sha256``, ``size`` and ``mtime_ns`` then, validation ``map``, ``face_ap`` and the AP of
    each class (``ap``: name -> AP), all fractions 0..1."""

    iteration: int
    file: str
    sha256: str
    size: int
    mtime_ns: int
    map: float
    face_ap: float
    ap: dict[str, float]
    settings: Settings


def _number(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else str(value)


def write_checkpoints(path: Path, rows: Sequence[CheckpointRow]) -> None:
    """Write ``rows`` (by iteration, then file) atomically; per-class columns ``ap_<name>``."""
    names: list[str] = []
    for row in rows:
        names += [name for name in row.ap if name not in names]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*FIXED, *(AP_PREFIX + n for n in names), *SETTINGS])
    for row in sorted(rows, key=lambda r: (r.iteration, r.file)):
        s = row.settings
        writer.writerow(
            [row.iteration, row.file, row.sha256, row.size, row.mtime_ns, _number(row.map),
             _number(row.face_ap), *(_number(row.ap[n]) if n in row.ap else "" for n in names),
             s.val_list, s.val_sha256, _number(s.iou_thresh), s.points]
        )  # fmt: skip
    atomic_write_text(Path(path), out.getvalue())


def read_checkpoints(path: Path) -> list[CheckpointRow]:
    """The rows of ``path`` (none when it does not exist); a malformed row is an error naming
    its line."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (*FIXED, *SETTINGS) if c not in (reader.fieldnames or [])]
        if missing:
            raise EvaluationError(
                f"{path}: not a checkpoints.csv (no {', '.join(missing)} column); move it away "
                "and score again"
            )
        classes = [c[len(AP_PREFIX) :] for c in reader.fieldnames or [] if c.startswith(AP_PREFIX)]
        for item in reader:
            try:
                rows.append(
                    CheckpointRow(
                        int(item["iteration"]), item["file"], item["sha256"], int(item["size"]),
                        int(item["mtime_ns"]), float(item["map"]), float(item["face_ap"]),
                        {n: float(item[AP_PREFIX + n]) for n in classes if item[AP_PREFIX + n]},
                        Settings(item["val_list"], item["val_sha256"],
                                 float(item["iou_thresh"]), int(item["points"])),
                    )
                )  # fmt: skip
            except (TypeError, ValueError) as exc:
                raise EvaluationError(
                    f"{path}:{reader.line_num}: malformed row ({exc}); move the file away and "
                    "score again"
                ) from None
    return rows


def best_row(rows: Sequence[CheckpointRow]) -> CheckpointRow | None:
    """The row with the highest validation mAP; ties: the earliest iteration (then file)."""
    ordered = sorted(rows, key=lambda r: (r.iteration, r.file))
    return max(ordered, key=lambda r: r.map, default=None)


def since_best(rows: Sequence[CheckpointRow]) -> int:
    """Checkpoints scored after the last one that reached the best mAP so far (by iteration).

    A checkpoint that ties the best restarts the count (as Ultralytics' ``patience`` does), so a
    warm-up where every checkpoint scores 0 never counts as a run that stopped improving.
    """
    best, count = -math.inf, 0
    for row in sorted(rows, key=lambda r: (r.iteration, r.file)):
        if row.map >= best:
            best, count = row.map, 0
        else:
            count += 1
    return count


def validation_curve(rows: Sequence[CheckpointRow]) -> dict[int, CheckpointRow]:
    """Iteration -> its row (of several contents at one iteration, the last by file name)."""
    return {row.iteration: row for row in sorted(rows, key=lambda r: (r.iteration, r.file))}
