"""AlexeyAB's own detections on every ``--arch``, recorded into ``tests/fixtures/archs/``, and the
deterministic inputs they were recorded on, which a test makes again without any darknet: the
generated cfg (sample profile, 96x96), random weights from a seed (numpy only) and images drawn
at the network size (no resize, so pre-processing cannot differ).

What is kept per architecture (``tests/fixtures/archs/<arch>/``): ``<arch>.cfg`` (as recorded),
``valid.txt`` (``detector valid``'s ``TOP`` best records of each image and class: class, image,
prob, 1-based clipped corners; valid keeps every box above 0.001 after NMS 0.6, thousands on
random weights) and ``record.json`` (the weights' SHA-256, the darknet, the command, the
``Total BFLOPS`` darknet printed for the cfg).

Record again (AlexeyAB's darknet, e.g. the pinned one ``make darknet`` builds)::

    .venv/bin/python -m tests.support.archs --darknet third_party/darknet/darknet
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from tests.support.model import make_image
from yof_darknet.core.expressions import CLASSES
from yof_darknet.core.fileio import sha256_file
from yof_darknet.formats.objdata import ObjData, write_obj_data
from yof_darknet.infer.weightsfile import write_random_weights
from yof_darknet.tools.darknet import probe
from yof_darknet.training.archs import ARCHS, get_arch
from yof_darknet.training.profiles import generate_cfg

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "archs"
IMAGES = 3
TOP = 10
VALID_THRESH, VALID_NMS = 0.001, 0.6  # what AlexeyAB's `detector valid` uses
SEED = 16

Record = tuple[int, float, tuple[float, float, float, float]]


def write_inputs(arch: str, folder: Path, cfg_text: str | None = None) -> tuple[Path, Path, list]:
    """The cfg (``cfg_text``, else generated), its random weights and the images, in ``folder``
    (with obj.data, obj.names and valid.txt for darknet); returns (cfg, weights, images)."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / get_arch(arch).cfg_name
    cfg.write_text(cfg_text if cfg_text is not None else generate_cfg(7, "sample", arch=arch))
    weights = folder / get_arch(arch).final_weights
    write_random_weights(cfg, weights, seed=SEED)
    rng = np.random.default_rng(SEED)
    images = []
    for index in range(IMAGES):
        image, labels = make_image(rng, index)
        path = folder / f"face{index}.png"
        cv2.imwrite(str(path), image)
        path.with_suffix(".txt").write_text("\n".join(labels) + "\n")
        images.append(path)
    (folder / "valid.txt").write_text("".join(f"{p}\n" for p in images))
    (folder / "obj.names").write_text("\n".join(CLASSES) + "\n")
    write_obj_data(
        folder / "obj.data",
        ObjData(len(CLASSES), folder / "valid.txt", folder / "valid.txt", folder / "obj.names",
                folder / "backup"),
    )  # fmt: skip
    return cfg, weights, images


def read_records(path: Path) -> dict[str, list[Record]]:
    """``valid.txt`` of a fixture: {image stem: [(class id, prob, (x1, y1, x2, y2))]}."""
    records: dict[str, list[Record]] = defaultdict(list)
    for line in Path(path).read_text().splitlines():
        name, stem, prob, *box = line.split()
        records[stem].append((CLASSES.index(name), float(prob), tuple(float(v) for v in box)))
    return records


def record(arch: str, darknet: Path, work: Path) -> Path:
    """Run AlexeyAB's ``detector valid`` on the inputs of ``arch``; write its fixture folder."""
    found = probe(darknet)
    if found.flavor != "alexeyab":
        raise SystemExit(f"{darknet} is {found.flavor}'s darknet: record with AlexeyAB's")
    cfg, weights, _ = write_inputs(arch, work / arch)
    results = work / arch / "results"
    results.mkdir(exist_ok=True)
    command = [str(found.path), "detector", "valid", "obj.data", cfg.name, weights.name]
    done = subprocess.run(
        command, cwd=work / arch, check=True, capture_output=True, text=True, timeout=600
    )
    bflops = re.search(r"Total BFLOPS ([\d.]+)", done.stdout + done.stderr)
    lines = []
    for name in CLASSES:
        per_image: dict[str, list[list[str]]] = defaultdict(list)
        for line in (results / f"comp4_det_test_{name}.txt").read_text().splitlines():
            stem, *rest = line.split()
            per_image[stem].append(rest)
        for stem, rows in per_image.items():
            best = sorted(rows, key=lambda r: -float(r[0]))[:TOP]
            lines += [" ".join([name, stem, *row]) for row in best]
    out = FIXTURES / arch
    out.mkdir(parents=True, exist_ok=True)
    (out / cfg.name).write_text(cfg.read_text())
    (out / "valid.txt").write_text("\n".join(sorted(lines)) + "\n")
    meta = {
        "weights_sha256": sha256_file(weights),
        "seed": SEED,
        "top": TOP,
        "total_bflops": float(bflops[1]) if bflops else None,  # as darknet printed it
        "darknet": f"{found.flavor} {found.version}",
        "command": "darknet detector valid obj.data " + " ".join(command[4:]),
    }
    (out / "record.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--darknet", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/yof-arch-fixtures"))
    parser.add_argument("archs", nargs="*", default=list(ARCHS))
    args = parser.parse_args()
    for arch in args.archs:
        print(record(arch, args.darknet, args.work))


if __name__ == "__main__":
    main()
