"""Single-stage vs cascade speed: ms per 640x480 frame with 1 and with 5 real faces, for the
paper's yolov3-tiny at 416 and 320 (OpenCV DNN) and the cascade (RetinaFace at 640 and 320 px +
our 64 px expression classifier on each face), all interleaved frame by frame in one run.

Weights are random and of the right size: speed does not depend on what they learned.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from yof_darknet.core.expressions import CLASSES
from yof_darknet.infer.cascade import Cascade
from yof_darknet.infer.detector import Detector
from yof_darknet.infer.weightsfile import write_random_weights
from yof_darknet.tools.cluster import available_cpus
from yof_darknet.training.classifier import classifier_cfg
from yof_darknet.training.profiles import generate_cfg
from yof_darknet.workflows.compare import FACE_COUNTS, compose_frame, face_photos, time_engines


def main() -> None:
    threads = available_cpus()
    print(f"load average {os.getloadavg()[0]:.1f}, {threads} thread(s)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engines: dict = {}
        for size in (416, 320):
            cfg = root / f"yolov3-tiny-{size}.cfg"
            cfg.write_text(generate_cfg(len(CLASSES), "paper", [f"width={size}", f"height={size}"]))
            write_random_weights(cfg, root / f"{size}.weights")
            engines[f"yolov3-tiny {size}"] = Detector(
                cfg, root / f"{size}.weights", threads=threads
            )
        cfg = root / "expression-classifier.cfg"
        cfg.write_text(classifier_cfg(len(CLASSES), "sample"))
        write_random_weights(cfg, root / "classifier.weights")
        for side in (640, 320):
            engines[f"cascade, faces at {side}"] = Cascade(
                cfg, root / "classifier.weights", threads=threads, face_max_side=side
            )
        photos = face_photos()
        frames = {n: compose_frame(n, photos) for n in FACE_COUNTS}
        ms = time_engines(engines, frames, rounds=20)
    base = ms["yolov3-tiny 416"]
    for name, per_frame in ms.items():
        cells = [
            f"{n} face(s) {t:6.1f} ms ({1000 / t:5.1f} FPS, x{base[n] / t:.2f})"
            for n, t in per_frame.items()
        ]
        print(f"{name:24s} " + "   ".join(cells), flush=True)


if __name__ == "__main__":
    main()
