"""Training speed of the cpu recipe beside the sample profile, in one run on this machine.

Real darknet (the one ``train`` would use: $DARKNET, else the submodule's AlexeyAB build, else
PATH, e.g. Debian's), a few iterations of each profile from scratch, interleaved (sample, cpu,
cpu, sample) so that a change in the machine's load weighs on both. Real ExpW faces from the
shared slice (../shared/real/ExpW) when it is there, else the embedded sample's drawn faces.
Seconds per iteration: the median of darknet's own per-iteration times, the first of each run
left out (start-up); images/s = batch / that.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from yof_darknet.datasets.options import DatasetsOptions
from yof_darknet.tools.darknet import Darknet, find_darknet
from yof_darknet.training.options import TrainOptions
from yof_darknet.training.profiles import profile_settings
from yof_darknet.training.results import read_results
from yof_darknet.training.train import train

ITERATIONS = 5  # per run; the first is left out
ORDER = ("sample", "cpu", "cpu", "sample")
# the shared folder beside the checkout (as the tests find it), or $YOF_SHARED
SHARED = Path(os.environ.get("YOF_SHARED", Path(__file__).resolve().parents[2] / "shared"))
TEST_IMAGES = 50


def _data(folder: Path) -> tuple[Path, str]:
    """The converted dataset's obj.data and what it holds."""
    expw = SHARED / "real" / "ExpW"
    if (expw / "label" / "label.lst").is_file():
        what = f"real ExpW faces ({expw})"
    else:
        from yof_darknet.samples.write import write_sample

        expw = write_sample(folder / "sample", images=200).expw.root
        what = "the embedded sample's drawn faces (no real ExpW slice found)"
    summary = DatasetsOptions().build(
        expw, None, folder / "data", test_default=TEST_IMAGES, progress=False
    )
    return summary.obj_data, f"{what}, {summary.stats['totals']['images']['train']} train images"


def _run(data: Path, profile: str, runs: Path, index: int, darknet: Darknet) -> list[float]:
    options = TrainOptions(
        profile=profile, max_batches=ITERATIONS, runs=runs, name=f"{profile}-{index}"
    )
    result = train(data, options, darknet=darknet, progress=False, echo=lambda _: None)
    rows = read_results(result.run_dir / "results.csv")
    return [row.line.seconds for row in rows[1:]]


def main() -> None:
    darknet = find_darknet()
    with tempfile.TemporaryDirectory(prefix="yof-bench-train-") as tmp:
        data, what = _data(Path(tmp))
        seconds: dict[str, list[float]] = {name: [] for name in ORDER}
        start = time.perf_counter()
        for index, profile in enumerate(ORDER):
            seconds[profile] += _run(data, profile, Path(tmp) / "runs", index, darknet)
        wall = time.perf_counter() - start
    print(f"darknet: {darknet.path} ({darknet.flavor}); data: {what}")
    for profile in dict.fromkeys(ORDER):
        settings = profile_settings(profile, flavor=darknet.flavor)
        batch, size = int(settings["batch"]), settings["width"]
        per_iteration = statistics.median(seconds[profile])
        total_h = per_iteration * int(settings["max_batches"]) / 3600
        print(
            f"profile {profile:6}: {per_iteration:.2f} s per iteration, "
            f"{batch / per_iteration:.1f} images/s ({size}x{size}, batch {batch}; median of "
            f"{len(seconds[profile])} iterations) -> {settings['max_batches']} iterations in "
            f"{total_h:.1f} h"
        )
    print(f"({wall:.0f} s in all; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
