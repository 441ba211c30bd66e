"""Training on several GPUs with the schedule of one (``train --gpus 0,1``).

AlexeyAB's ``train_detector`` (src/detector.c) with ``-gpus`` over N GPUs multiplies each
network's ``learning_rate`` by N (``nets[i].learning_rate *= ngpus``) and loads
``batch × subdivisions × N`` images per iteration (``imgs = net.batch * net.subdivisions *
ngpus``): every GPU trains on its own ``batch`` images, the weights are averaged every few
iterations, and the iteration counter (``seen / batch`` of the first GPU) still moves by one.
Left alone, N GPUs would run the profile's iterations on N times the images at N times the rate.
To keep the profile's effective schedule (same images, same rate per update):

* ``learning_rate / N`` in the cfg (darknet multiplies it back to the profile's rate);
* the iterations after ``anchor`` are divided by N: ``max_batches`` and each of ``steps``
  become ``anchor + ceil((x - anchor) / N)``;
* burn-in on one GPU, as AlexeyAB advises (train ~1000 iterations on 1 GPU, then continue on
  several): the first GPU trains alone up to the cfg's ``burn_in`` (the ``anchor``), in
  ``weights/burn-in/``; the N GPUs continue from its weights. A run that is already past
  burn-in when it first gets ``--gpus`` is anchored where it stands.

The run records ``gpus.json`` (count, anchor); a resumed run must keep the same GPU count.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from yof_darknet.core.errors import DarknetError
from yof_darknet.core.fileio import atomic_write_text
from yof_darknet.formats.cfg import Section, net

RECORD = "gpus.json"


@dataclass(frozen=True)
class GpuSchedule:
    """``gpus`` GPUs train from iteration ``anchor`` on; before it, the first GPU alone.

    >>> schedule = GpuSchedule(gpus=2, anchor=1000)
    >>> schedule.iteration(14000), schedule.iteration(11200), schedule.iteration(800)
    (7500, 6100, 800)
    """

    gpus: int
    anchor: int

    def iteration(self, single_gpu: int) -> int:
        """The iteration of N GPUs that has seen as many images as ``single_gpu`` on one."""
        if single_gpu <= self.anchor:
            return single_gpu
        return self.anchor + math.ceil((single_gpu - self.anchor) / self.gpus)


def plan(run_dir: Path, gpus: int, start: int, burn_in: int) -> GpuSchedule:
    """The run's schedule: the recorded one (same GPU count required), else a new one anchored
    at the end of burn-in, or at ``start`` when the run is past it already."""
    record = run_dir / RECORD
    if record.is_file():
        known = json.loads(record.read_text())
        if known["gpus"] != gpus:
            raise DarknetError(
                f"{record}: this run trains on {known['gpus']} GPU(s) from iteration "
                f"{known['anchor']}; resume it with as many GPUs (--gpus), or start a new --name"
            )
        return GpuSchedule(gpus, int(known["anchor"]))
    schedule = GpuSchedule(gpus, max(start, burn_in))
    atomic_write_text(record, json.dumps({"gpus": gpus, "anchor": schedule.anchor}) + "\n")
    return schedule


def recorded_gpus(run_dir: Path) -> int:
    """The GPU count a run was planned with (1 when it has no ``gpus.json``)."""
    record = run_dir / RECORD
    return int(json.loads(record.read_text())["gpus"]) if record.is_file() else 1


def adjust(sections: list[Section], schedule: GpuSchedule) -> list[Section]:
    """A copy of a one-GPU cfg for ``schedule.gpus`` GPUs (rate, max_batches, steps)."""
    if schedule.gpus == 1:
        return sections
    copy = [Section(s.name, dict(s.options), s.line) for s in sections]
    head = net(copy)
    policy = head.get("policy", "constant")
    if policy not in ("steps", "constant"):
        raise DarknetError(
            f"--gpus keeps the schedule of policy=steps (or constant); this cfg has "
            f"policy={policy}: train it on one GPU or adjust its schedule by hand (--cfg)"
        )
    rate = float(head.get("learning_rate", "0.001"))
    head.options["learning_rate"] = repr(rate / schedule.gpus)
    head.options["max_batches"] = str(schedule.iteration(int(head.get("max_batches", "0"))))
    if policy == "steps":
        steps = head.ints("steps")
        head.options["steps"] = ",".join(str(schedule.iteration(step)) for step in steps)
    return copy


def burn_in_cfg(sections: list[Section], schedule: GpuSchedule) -> list[Section]:
    """A copy of the one-GPU cfg that stops at the anchor (the first GPU's burn-in)."""
    copy = [Section(s.name, dict(s.options), s.line) for s in sections]
    net(copy).options["max_batches"] = str(schedule.anchor)
    return copy
