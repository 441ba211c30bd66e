"""Checkpoints scored while darknet trains, and ``--patience``.

After each weights save, ``yof-darknet map --checkpoints runs/NAME`` runs in the background at
the lowest CPU priority (nice 19), one at a time: it scores every checkpoint not scored yet on
the validation list (``checkpoints.csv``, ``weights/<arch>_best.weights``, the validation mAP
in ``results.csv``/``results.png``). Training never waits for it; when training ends, the last
scoring is finished before the run is reported. Its output goes to ``runs/NAME/checkpoints.log``.

``--patience N``: at each save, when the checkpoints scored so far show N in a row below the
best validation mAP (``formats.checkpoints.since_best``), darknet is stopped and the run is
reported as stopped early (``stopped.json``); ``_best`` is kept. Scoring runs behind training,
so the stop comes at the first save after the N-th such checkpoint is scored.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from yof_darknet.core.errors import DarknetError, DatasetError
from yof_darknet.core.fileio import atomic_write_text
from yof_darknet.formats.checkpoints import FILE_NAME, best_row, read_checkpoints, since_best
from yof_darknet.formats.objdata import read_obj_data, validation_list
from yof_darknet.tools.runner import start_background, stop_group

LOG_NAME = "checkpoints.log"
STOPPED = "stopped.json"

Echo = Callable[[str], None]


class PatienceStop(Exception):
    """Raised by the save hook to stop darknet: the validation mAP stopped improving."""


def has_validation(obj_data: Path) -> bool:
    """Whether the run's obj.data names a validation list (see ``validation_list``)."""
    try:
        validation_list(read_obj_data(obj_data))
    except DatasetError:
        return False
    return True


def background_scorer(
    run_dir: Path, wanted: bool | None, patience: int | None, data: Path
) -> BackgroundScorer | None:
    """The run's background scorer: ``wanted`` (``--score-checkpoints``; None: when the run's
    obj.data names a validation list), refused without one when asked for or for patience."""
    found = has_validation(Path(run_dir) / "obj.data")
    if (wanted or patience is not None) and not found:
        what = "--patience" if patience is not None else "--score-checkpoints"
        raise DarknetError(
            f"{what}: {data} names no validation list (val=) to score the checkpoints on: "
            "re-run `yof-darknet datasets`"
        )
    return BackgroundScorer(run_dir) if (found if wanted is None else wanted) else None


class BackgroundScorer:
    """``map --checkpoints`` of one run, started after saves, never two at a time."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.process: subprocess.Popen | None = None
        self.pending = False

    @property
    def args(self) -> list[str]:
        return [sys.executable, "-m", "yof_darknet", "map", "--checkpoints", str(self.run_dir)]

    @property
    def log(self) -> Path:
        return self.run_dir / LOG_NAME

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def poke(self) -> None:
        """Weights were saved: start a scoring, or note one is due when one is running."""
        if self.running():
            self.pending = True
            return
        self.pending = False
        self.process = start_background(self.args, self.run_dir, self.log)

    def finish(self, echo: Echo) -> None:
        """Wait for the running scoring, then score what it may have missed (training is over,
        so at normal priority); a failure is reported, not raised: the training stands."""
        try:
            codes = [self.process.wait()] if self.process is not None else []
            if self.pending or self.process is None:  # a save it may not have seen
                self.process = start_background(self.args, self.run_dir, self.log, nice=False)
                codes.append(self.process.wait())
        except KeyboardInterrupt:
            self.stop()
            raise
        if any(codes):
            echo(f"checkpoint scoring failed (exit {max(codes)}); see {self.log}")

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)


def wait_for_quiet(folder: Path, quiet_s: float = 2.0, limit_s: float = 120.0) -> None:
    """Return once no file in ``folder`` has changed for ``quiet_s`` seconds (at most after
    ``limit_s``): darknet writes several files at a save, and stopping it halfway through one
    would leave a truncated checkpoint behind."""
    deadline = time.monotonic() + limit_s
    state: dict[str, tuple[int, int]] = {}
    calm_since = time.monotonic()
    while time.monotonic() < deadline:
        now = {}
        for path in folder.iterdir():
            try:
                info = path.stat()
            except FileNotFoundError:  # a temporary renamed meanwhile
                continue
            now[path.name] = (info.st_size, info.st_mtime_ns)
        if now != state:
            state, calm_since = now, time.monotonic()
        elif time.monotonic() - calm_since >= quiet_s:
            return
        time.sleep(0.2)


def patience_message(run_dir: Path, patience: int) -> str | None:
    """Why the training should stop, when the scored checkpoints exhausted ``patience``."""
    rows = read_checkpoints(Path(run_dir) / FILE_NAME)
    count = since_best(rows)
    best = best_row(rows)
    if best is None or count < patience:
        return None
    return (
        f"--patience {patience}: {count} checkpoints in a row scored below the best validation "
        f"mAP ({best.map * 100:.2f} % at iteration {best.iteration})"
    )


def peak_message(run_dir: Path) -> str | None:
    """The validation curve's peak, for the end of training (None: nothing scored)."""
    rows = read_checkpoints(Path(run_dir) / FILE_NAME)
    best = best_row(rows)
    if best is None:
        return None
    return (
        f"validation: {len(rows)} checkpoints scored; best mAP {best.map * 100:.2f} % (face AP "
        f"{best.face_ap * 100:.2f} %) at iteration {best.iteration} ({best.file}), kept as "
        "weights/*_best.weights"
    )


def write_stopped(run_dir: Path, message: str, iteration: int) -> None:
    """Record that the run stopped early, so ``reproduce`` takes it as finished."""
    record = {"reason": "patience", "message": message, "iteration": iteration}
    atomic_write_text(Path(run_dir) / STOPPED, json.dumps(record, indent=2) + "\n")


def stopped_early(run_dir: Path) -> str | None:
    """The message of a run that stopped early (None: it did not)."""
    path = Path(run_dir) / STOPPED
    return json.loads(path.read_text())["message"] if path.is_file() else None
