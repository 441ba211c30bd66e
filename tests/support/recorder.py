"""Record the Darknet fixtures the tests read: real runs of AlexeyAB's, hank-ai's and Debian's
darknet on a dataset of drawn shapes, written with their provenance.

``scripts/record-fixtures.sh`` builds the pinned AlexeyAB and hank-ai darknets outside the
repository and runs this module; by hand (``--work`` is a scratch folder outside the repository,
kept between steps)::

    python -m tests.support.recorder --work DIR --alexeyab BIN --dump BIN --hankai BIN \\
        --debian /usr/bin/darknet [dataset] [alexeyab] [hankai] [debian] [model] [classifier]

Steps (default: all, in this order; a later one reads what an earlier one left in ``--work``):

- ``dataset``: 80 training and 20 validation images (160 px JPEG, seeded) with their labels,
  the lists, ``obj.data``, the cfg (anchors: the project's k-means) and the bad inputs of the
  bad-input runs -> ``dataset/``.
- ``alexeyab``: ``calc_anchors``, training from scratch with
  ``-map``, ``detector map`` four ways, the records ``map`` scores (``map_dets_dump``, a helper
  linked against the same build), ``detector valid`` and the bad-input runs -> ``alexeyab/``.
- ``hankai``: ``detector map`` on AlexeyAB's final weights (colour and ``-nocolour``), trainings
  (a diverging one, one without ``-map``, two fine-tunings) and the bad-input runs -> ``hankai/``.
- ``debian``: training from scratch (the dataset's cfg, DEBIAN_ITERATIONS iterations),
  ``detector valid``, the usage text, what it prints for ``map`` and AlexeyAB's flags
  -> ``debian/``.
- ``model``: the engine-parity tests' tiny model, trained by Debian's darknet -> ``../model/``.
- ``classifier``: the cascade's engine-parity classifier, trained by Debian's darknet on drawn
  face crops -> ``../classifier/`` (needs no earlier step).

Each capture ``NAME`` is ``NAME.stdout.txt`` and ``NAME.stderr.txt`` (the two pipes, verbatim),
``NAME.meta.json`` (argv, cwd, stdin, return code, wall seconds, start time, idle kill) and, where
a test reads it, ``NAME.combined.txt`` (both, in the order the chunks arrived). Every text shows
the work folder as ``/yof-fixture`` and the darknet's source tree as ``/darknet-build``.
``provenance.json`` in each folder says which darknet (commit, build flags), when, on what
machine, and the command of every capture.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import selectors
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from tests.support.classifier import RECORDED_CFG, RECORDED_WEIGHTS, record_tiny_classifier
from tests.support.model import make_image, record_tiny_model
from yof_darknet.core.expressions import CLASSES
from yof_darknet.formats.cfg import dump_cfg, parse_cfg
from yof_darknet.training.anchors import compute_anchors
from yof_darknet.training.profiles import generate_cfg

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "darknet"
MODEL = ROOT / "tests" / "fixtures" / "model"
CLASSIFIER = ROOT / "tests" / "fixtures" / "classifier"
SHOWN_WORK = "/yof-fixture"  # what the recorded texts show instead of the work folder
SHOWN_BUILD = "/darknet-build"  # and instead of the darknet's source tree
STEPS = ("dataset", "alexeyab", "hankai", "debian", "model", "classifier")

SIZE = 160
SPLITS = (("train", 80), ("valid", 20))
SEED = 12345
SIDES = (28, 68)
ITERATIONS = 1000  # AlexeyAB from scratch (mAP every 100): mAP ~0.45, some boxes above 0.25
DEBIAN_ITERATIONS = 300  # Debian's single-threaded darknet is ~10 times slower an iteration
CFG = "yolov3-tiny-obj.cfg"
FINAL = f"backup/{CFG.removesuffix('.cfg')}_final.weights"
# AlexeyAB prints a `Can't open label file` line per image, then crashes: enough lines that some
# leave its stdout buffer (4 KiB on a pipe) before the crash
NO_LABEL_IMAGES = 40
IDLE_KILL = 60.0  # hank-ai's from-scratch training with -map may hang after its last line
# One OpenMP thread: on a busy machine the idle threads of darknet's tiny layers spin, so two
# threads cost ten times the CPU of one (20 iterations here: 27 s of CPU against 2.3 s)
ENVIRONMENT = {"OMP_NUM_THREADS": "1"}


@dataclass
class Capture:
    stdout: bytes
    stderr: bytes
    chunks: list[tuple[str, bytes]]
    returncode: int
    wall_seconds: float
    started: str
    killed_after_idle_seconds: float | None


def run_captured(
    program: Path,
    argv: list[str],
    cwd: Path,
    stdin: Path | None = None,
    idle_kill: float | None = None,
) -> Capture:
    """Run ``program`` as ``argv`` (``argv[0]`` is what it sees as its name: darknet prints it in
    its usage) with stdout and stderr on separate pipes, keeping the order of the chunks;
    SIGKILL it after ``idle_kill`` seconds without output."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    begin = time.monotonic()
    with open(stdin or os.devnull, "rb") as source:
        process = subprocess.Popen(
            argv, executable=program, cwd=cwd, stdin=source, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env={**os.environ, **ENVIRONMENT},
        )  # fmt: skip
    streams = {"stdout": bytearray(), "stderr": bytearray()}
    chunks: list[tuple[str, bytes]] = []
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, "stdout")
    selector.register(process.stderr, selectors.EVENT_READ, "stderr")
    last, killed = time.monotonic(), None
    while selector.get_map():
        for key, _ in selector.select(timeout=1.0):
            data = os.read(key.fd, 65536)
            if not data:
                selector.unregister(key.fileobj)
                continue
            streams[key.data] += data
            chunks.append((key.data, data))
            last = time.monotonic()
        if idle_kill and killed is None and time.monotonic() - last > idle_kill:
            process.kill()
            killed = idle_kill
    returncode = process.wait()
    return Capture(bytes(streams["stdout"]), bytes(streams["stderr"]), chunks, returncode,
                   round(time.monotonic() - begin, 3), started, killed)  # fmt: skip


def _source_tree(darknet: Path) -> Path:
    """The git checkout ``darknet`` was built in, else its folder."""
    done = subprocess.run(["git", "-C", str(darknet.parent), "rev-parse", "--show-toplevel"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return Path(done.stdout.strip()) if done.returncode == 0 else darknet.parent


@dataclass
class Recorder:
    """Captures of one darknet into ``out`` (emptied first), with their provenance."""

    work: Path
    out: Path
    darknet: Path
    shown: str  # how argv[0] is shown
    provenance: dict
    captures: dict[str, dict] = field(default_factory=dict)
    source: Path = field(init=False)

    def __post_init__(self) -> None:
        self.source = _source_tree(self.darknet)
        if self.out.exists():
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True)

    def hide(self, data: bytes) -> bytes:
        """``data`` with this machine's folders shown as ``/yof-fixture`` (the work folder) and
        ``/darknet-build`` (the darknet's source tree, which hank-ai's messages name)."""
        data = data.replace(str(self.work).encode(), SHOWN_WORK.encode())
        return data.replace(str(self.source).encode(), SHOWN_BUILD.encode())

    def run(self, name: str, args: list[str], cwd: Path, *, stdin: Path | None = None,
            idle_kill: float | None = None, combined: bool = False,
            program: Path | None = None) -> Capture:  # fmt: skip
        """Run ``darknet ARGS`` (or ``program ARGS``) in ``cwd`` as capture ``name``."""
        print(f"record: {self.out.name}/{name}: {' '.join(args)}", flush=True)
        shown = program.name if program else self.shown
        done = run_captured(program or self.darknet, [shown, *args], cwd, stdin, idle_kill)
        (self.out / f"{name}.stdout.txt").write_bytes(self.hide(done.stdout))
        (self.out / f"{name}.stderr.txt").write_bytes(self.hide(done.stderr))
        if combined:
            both = b"".join(chunk for _, chunk in done.chunks)
            (self.out / f"{name}.combined.txt").write_bytes(self.hide(both))
        meta = {
            "argv": [shown, *args],
            "stdin": self.hide(str(stdin).encode()).decode() if stdin else None,
            "cwd": self.hide(str(cwd).encode()).decode(),
            "returncode": done.returncode,
            "wall_seconds": done.wall_seconds,
            "started": done.started,
            "killed_after_idle_seconds": done.killed_after_idle_seconds,
        }
        (self.out / f"{name}.meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        self.captures[name] = {"command": " ".join(meta["argv"]), "returncode": done.returncode}
        return done

    def keep(self, source: Path, name: str) -> None:
        """Copy a file darknet wrote (or a folder of them) into the fixture as ``name``."""
        target = self.out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            target.mkdir()
            for path in sorted(source.iterdir()):
                (target / path.name).write_bytes(self.hide(path.read_bytes()))
        else:
            target.write_bytes(self.hide(source.read_bytes()))

    def finish(self) -> None:
        record = {
            **self.provenance,
            "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
            "recorder": "scripts/record-fixtures.sh (tests/support/recorder.py)",
            "environment": ENVIRONMENT,
            "work": f"{SHOWN_WORK} (the recorder's scratch folder)",
            "captures": self.captures,
        }
        (self.out / "provenance.json").write_text(json.dumps(record, indent=1) + "\n")


def _lines(paths: list[str]) -> str:
    return "".join(f"{p}\n" for p in paths)


def _obj_data(valid: str, backup: str = "backup") -> str:
    return (
        f"classes={len(CLASSES)}\ntrain=train.txt\nvalid={valid}\nnames=obj.names\n"
        f"backup={backup}\n"
    )


def write_dataset(folder: Path) -> None:
    """The drawn-shapes dataset in AlexeyAB's and pjreddie's layout (``JPEGImages/`` beside
    ``labels/``), relative paths, seeded; and the inputs of the bad-input runs."""
    if folder.exists():
        shutil.rmtree(folder)
    rng = np.random.default_rng(SEED)
    for split, count in SPLITS:
        listed = []
        for index in range(count):
            image, lines = make_image(rng, index, size=SIZE, sides=SIDES, noise=12)
            image = cv2.GaussianBlur(image, (3, 3), 0)
            name = f"JPEGImages/{split}/{split}_{index:03d}.jpg"
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(folder / name), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            label = folder / "labels" / split / f"{split}_{index:03d}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("\n".join(lines) + "\n")
            listed.append(name)
        (folder / f"{split}.txt").write_text(_lines(listed))
    (folder / "obj.names").write_text("\n".join(CLASSES) + "\n")
    (folder / "obj.data").write_text(_obj_data("valid.txt"))
    bad = folder / "bad_inputs"
    bad.mkdir()
    valid = (folder / "valid.txt").read_text().splitlines()
    missing = "JPEGImages/valid/does_not_exist.jpg"
    (bad / "empty.txt").write_text("")
    (bad / "missing_image.txt").write_text(_lines([missing]))
    (bad / "valid_plus_missing.txt").write_text(_lines([*valid, missing]))
    for name in ("empty_valid", "missing_image", "valid_plus_missing"):
        listing = {"empty_valid": "empty", "missing_image": "missing_image"}.get(name, name)
        (bad / f"obj_{name}.data").write_text(_obj_data(f"bad_inputs/{listing}.txt"))
    # images outside JPEGImages/ with no label beside them: no darknet finds their labels
    unlabelled = []
    for index in range(NO_LABEL_IMAGES):
        name = f"bad_inputs/images/train/train_{index:03d}.jpg"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / f"JPEGImages/train/train_{index:03d}.jpg", folder / name)
        unlabelled.append(name)
    (bad / "no_labels.txt").write_text(_lines(unlabelled))
    (bad / "obj_no_labels.data").write_text(
        _obj_data("valid.txt").replace("train=train.txt", "train=bad_inputs/no_labels.txt")
    )


def fixture_cfg(
    anchors: list[tuple[int, int]], iterations: int = ITERATIONS, **settings: float | str
) -> str:
    """yolov3-tiny (the project's template, sample profile) at 160 px for 7 classes with
    ``anchors``, batch 8, ``iterations`` iterations at the sample's learning rate of 0.005 (after
    100 burn-in iterations, as AlexeyAB needs it), divided by 10 at 80 % and 90 %; every
    convolution but the heads halved and at most 32 filters, so the weights are ~300 KB and CPU
    training is quick. (At 0.001 it had learnt little after 300 iterations: mAP 0.18 and no
    box above 0.25.) ``settings`` override any of it."""
    base = {"width": SIZE, "height": SIZE, "batch": 8, "subdivisions": 1,
            "learning_rate": 0.005, "burn_in": 100, "max_batches": iterations,
            "steps": f"{iterations * 8 // 10},{iterations * 9 // 10}"}  # fmt: skip
    overrides = [f"{k}={v}" for k, v in {**base, **settings}.items()]
    sections = parse_cfg(generate_cfg(len(CLASSES), "sample", overrides, anchors_wh=anchors))
    for section, following in zip(sections, [*sections[1:], None], strict=True):
        if section.name == "convolutional" and (following is None or following.name != "yolo"):
            section.options["filters"] = str(min(int(section.options["filters"]) // 2, 32))
    header = "darknet fixtures (tests/support/recorder.py): " + " ".join(overrides)
    return dump_cfg(sections, header)


def _copy_dataset(work: Path, name: str) -> Path:
    """A copy of the dataset for one darknet, its lists made absolute: AlexeyAB finds the label
    of ``JPEGImages/x.jpg`` only behind a ``/JPEGImages/``."""
    target = work / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(work / "dataset", target)
    for listing in [target / "train.txt", target / "valid.txt", *target.glob("bad_inputs/*.txt")]:
        lines = listing.read_text().splitlines()
        listing.write_text(_lines([str(target / line) for line in lines]))
    (target / "backup").mkdir()  # darknet saves weights there but does not make it
    return target


def _anchors(dataset: Path) -> list[tuple[int, int]]:
    """The project's k-means anchors of the training boxes (seeded: the same every time;
    AlexeyAB's ``calc_anchors``, recorded beside, starts from random centres)."""
    return compute_anchors(dataset / "obj.data", 6, (SIZE, SIZE)).anchors_wh


def record_dataset(work: Path) -> None:
    write_dataset(work / "dataset")
    (work / "dataset" / CFG).write_text(fixture_cfg(_anchors(work / "dataset")))
    source, out = work / "dataset", FIXTURES / "dataset"
    if out.exists():
        shutil.rmtree(out)
    # the training images (and their copies without labels) are not kept: the recorder draws
    # them again; their labels are
    left_out = {Path("JPEGImages"): {"train"}, Path("bad_inputs"): {"images"}}
    shutil.copytree(source, out, ignore=lambda folder, _: left_out.get(
        Path(folder).relative_to(source), set()))  # fmt: skip


def record_alexeyab(work: Path, darknet: Path, dump: Path, build: str) -> None:
    cwd = _copy_dataset(work, "alexeyab")
    rec = Recorder(work, FIXTURES / "alexeyab", darknet, "darknet",
                   {"darknet": "AlexeyAB/darknet", "build": build})  # fmt: skip
    rec.run("usage_detector", ["detector"], cwd, combined=True)
    clusters = ["-num_of_clusters", "6", "-width", str(SIZE), "-height", str(SIZE), "-dont_show"]
    rec.run("calc_anchors", ["detector", "calc_anchors", "obj.data", *clusters], cwd)
    no_labels = "bad_inputs/obj_no_labels.data"
    rec.run("bad_calc_anchors_no_labels", ["detector", "calc_anchors", no_labels, *clusters], cwd)
    rec.run("train_map", ["detector", "train", "obj.data", CFG, "-dont_show", "-map"], cwd)
    assert (cwd / FINAL).is_file(), "AlexeyAB's training wrote no final weights"
    common = ["obj.data", CFG, FINAL, "-dont_show"]
    rec.run("map_default", ["detector", "map", *common], cwd, combined=True)
    rec.run("map_points11", ["detector", "map", *common, "-points", "11"], cwd)
    rec.run("map_points101", ["detector", "map", *common, "-points", "101"], cwd)
    rec.run("map_iou075", ["detector", "map", *common, "-iou_thresh", "0.75"], cwd)
    rec.run("map_dets_dump", ["obj.data", CFG, FINAL], cwd, program=dump)
    (cwd / "results").mkdir(exist_ok=True)
    rec.run("valid_voc", ["detector", "valid", *common], cwd)
    rec.keep(cwd / "results", "results_voc")
    for name in ("empty_valid", "missing_image", "valid_plus_missing"):
        rec.run(f"bad_map_{name}", ["detector", "map", f"bad_inputs/obj_{name}.data", CFG, FINAL,
                                    "-dont_show"], cwd)  # fmt: skip
    rec.run("bad_map_missing_weights", ["detector", "map", "obj.data", CFG,
            "backup/does_not_exist.weights", "-dont_show"], cwd, combined=True)  # fmt: skip
    rec.finish()


def record_hankai(work: Path, darknet: Path, build: str) -> None:
    """hank-ai looks for a label beside its image (no JPEGImages/ -> labels/ mapping); its CPU
    build asks for `yes` on stdin before it trains."""
    cwd = _copy_dataset(work, "hankai")
    for split, _ in SPLITS:
        for label in (cwd / "labels" / split).iterdir():
            shutil.copyfile(label, cwd / "JPEGImages" / split / label.name)
    weights = cwd / "weights" / "alexeyab_final.weights"
    weights.parent.mkdir()
    shutil.copyfile(work / "alexeyab" / FINAL, weights)
    yes = cwd / "yes.txt"
    yes.write_text("yes\n")
    # 40 iterations after a 5-iteration burn-in: at a learning rate of 0.05 from scratch the loss
    # diverges (nan) within a few dozen iterations; fine-tuning AlexeyAB's weights at 0.001 not.
    runs = {
        "train40": {"burn_in": 5, "max_batches": 40, "steps": "30,35", "learning_rate": 0.001},
        "diverge40": {"burn_in": 5, "max_batches": 40, "steps": "30,35", "learning_rate": 0.05},
        "train110": {"burn_in": 5, "max_batches": 110, "steps": "80,100", "learning_rate": 0.001},
    }
    anchors = _anchors(work / "dataset")
    for name, settings in runs.items():
        (cwd / f"{name}.cfg").write_text(fixture_cfg(anchors, **settings))
    rec = Recorder(work, FIXTURES / "hankai", darknet, "darknet",
                   {"darknet": "hank-ai/darknet", "build": build})  # fmt: skip
    rec.run("version", ["version"], cwd)
    w = str(weights.relative_to(cwd))
    for name, extra in (("map_default", []), ("map_points11", ["-points", "11"]),
                        ("map_points101", ["-points", "101"]),
                        ("map_iou075", ["-iou_thresh", "0.75"])):  # fmt: skip
        rec.run(name, ["detector", "map", "obj.data", CFG, w, *extra], cwd)
        nocolour = name.replace("map_default", "map") + "_nocolour"
        if name != "map_points101":
            rec.run(nocolour, ["detector", "map", "obj.data", CFG, w, *extra, "-nocolour"], cwd)
    trainings = (
        ("train_map", "diverge40", [], ["-map"]),
        ("train_map_nocolour", "diverge40", [], ["-map", "-nocolour"]),
        ("train_nomap", "diverge40", [], []),
        ("train_map_finetune", "train40", [w, "-clear"], ["-map"]),
        ("train_map_finetune110", "train110", [w, "-clear"], ["-map"]),
    )
    for name, cfg, start, flags in trainings:
        data = cwd / f"obj_{name}.data"
        data.write_text(_obj_data("valid.txt", backup=f"backup_{name}"))
        (cwd / f"backup_{name}").mkdir()
        rec.run(name, ["detector", "train", data.name, f"{cfg}.cfg", *start, "-dont_show", *flags],
                cwd, stdin=yes, idle_kill=IDLE_KILL)  # fmt: skip
    rec.run("bad_train_cpu_no_yes", ["detector", "train", "obj.data", "train40.cfg", "-dont_show"],
            cwd)  # fmt: skip
    rec.run("bad_map_missing_image", ["detector", "map", "bad_inputs/obj_missing_image.data", CFG,
                                      w], cwd)  # fmt: skip
    rec.run("bad_map_missing_weights", ["detector", "map", "obj.data", CFG,
                                        "weights/does_not_exist.weights"], cwd)  # fmt: skip
    rec.finish()


def _debian_version() -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}", "darknet"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return done.stdout.strip() or "unknown (no dpkg record)"


def record_debian(work: Path, darknet: Path) -> None:
    cwd = _copy_dataset(work, "debian")
    provenance = {"darknet": "Debian's darknet (pjreddie)", "build": _debian_version()}
    rec = Recorder(work, FIXTURES / "debian", darknet, "darknet", provenance)
    rec.run("usage_detector", ["detector"], cwd)
    rec.run("unsupported_map", ["detector", "map", "obj.data", CFG], cwd, combined=True)
    flags = ["-dont_show", "-map"]
    rec.run("bad_train_alexeyab_flags", ["detector", "train", "obj.data", CFG, *flags], cwd)
    cfg = f"{CFG.removesuffix('.cfg')}-{DEBIAN_ITERATIONS}.cfg"  # the same, fewer iterations
    (cwd / cfg).write_text(fixture_cfg(_anchors(cwd), DEBIAN_ITERATIONS))
    rec.run("train", ["detector", "train", "obj.data", cfg], cwd)
    final = f"backup/{cfg.removesuffix('.cfg')}_final.weights"
    assert (cwd / final).is_file(), "Debian's training wrote no final weights"
    (cwd / "results").mkdir(exist_ok=True)
    rec.run("valid_voc", ["detector", "valid", "obj.data", cfg, final], cwd)
    rec.keep(cwd / "results", "results_voc")
    rec.finish()


def _fresh(folder: Path) -> Path:
    """``folder`` emptied (made when missing)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _keep_trained(work: Path, root: Path, dest: Path, sources: tuple[Path, ...]) -> None:
    """Copy ``sources`` (under ``root``) to the same relative paths under ``dest``, the work
    folder shown as :data:`SHOWN_WORK` in the texts (weights are copied as they are)."""
    for source in sources:
        data = source.read_bytes()
        if source.suffix != ".weights":
            data = data.replace(str(work).encode(), SHOWN_WORK.encode())
        (dest / source.relative_to(root)).write_bytes(data)


def record_model(work: Path, darknet: Path) -> None:
    root = _fresh(work / "model")
    print("record: model: Debian's darknet trains the engine-parity model", flush=True)
    model = record_tiny_model(root, (work / "dataset" / CFG).read_text(), darknet)
    _fresh(MODEL / "backup")  # README.md stays
    _keep_trained(work, root, MODEL, (model.cfg, root / "train.log", model.weights))
    record = {
        "darknet": "Debian's darknet (pjreddie)",
        "build": _debian_version(),
        "command": "darknet detector train obj.data tiny.cfg start.weights",
        "cfg": f"tests.support.model.tiny_cfg of tests/fixtures/darknet/dataset/{CFG}",
        "start": "tests.support.model.write_random_weights seed 1, batch norm calibrated on the "
        "16 training images",
        "images": "tests.support.model.make_image, numpy seed 7 (16 train, 6 valid, 96 px PNG)",
        "weights_sha256": hashlib.sha256(model.weights.read_bytes()).hexdigest(),
        "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recorder": "scripts/record-fixtures.sh (tests/support/recorder.py)",
    }
    (MODEL / "record.json").write_text(json.dumps(record, indent=1) + "\n")


def record_classifier(work: Path, darknet: Path) -> None:
    root = _fresh(work / "classifier")
    print("record: classifier: Debian's darknet trains the engine-parity classifier", flush=True)
    model = record_tiny_classifier(root, darknet)
    _fresh(CLASSIFIER / "weights")  # README.md stays
    _keep_trained(work, root, CLASSIFIER, (model.cfg, root / "train.log", model.weights))
    record = {
        "darknet": "Debian's darknet (pjreddie)",
        "build": _debian_version(),
        "command": f"darknet classifier train classifier.data {RECORDED_CFG} start.weights "
        "(cwd: the crops)",
        "cfg": "tests.support.classifier.recorded_cfg (the sample profile's classifier)",
        "start": "yof_darknet.infer.weightsfile.write_random_weights seed 1, batch norm "
        "calibrated on the training crops",
        "crops": "tests.support.classifier.draw_crops: the embedded sample's drawn faces "
        "(yof_darknet.samples.faces), numpy seed 11, 32 px PNG, 8 train and 2 test per class",
        "weights": RECORDED_WEIGHTS,
        "weights_sha256": hashlib.sha256(model.weights.read_bytes()).hexdigest(),
        "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recorder": "scripts/record-fixtures.sh (tests/support/recorder.py)",
    }
    (CLASSIFIER / "record.json").write_text(json.dumps(record, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (outside git)")
    parser.add_argument("--alexeyab", type=Path, help="AlexeyAB's darknet (pinned commit)")
    parser.add_argument("--dump", type=Path, help="dump_map_dets linked against that build")
    parser.add_argument("--alexeyab-build", default="", help="its commit and build flags")
    parser.add_argument("--hankai", type=Path, help="hank-ai's darknet (pinned commit)")
    parser.add_argument("--hankai-build", default="", help="its commit and build flags")
    parser.add_argument("--debian", type=Path, help="Debian's darknet")
    parser.add_argument("steps", nargs="*", choices=STEPS, help="default: all")
    args = parser.parse_args()
    work = args.work.resolve()
    if work == ROOT or ROOT in work.parents:
        parser.error(f"--work {work} is inside the repository")
    work.mkdir(parents=True, exist_ok=True)
    steps = args.steps or STEPS
    needs = {"alexeyab": ("alexeyab", "dump"), "hankai": ("hankai",), "debian": ("debian",),
             "model": ("debian",), "classifier": ("debian",)}  # fmt: skip
    for step in steps:
        for name in needs.get(step, ()):
            if getattr(args, name) is None:
                parser.error(f"step {step} needs --{name}")
    if "dataset" in steps:
        record_dataset(work)
    if "alexeyab" in steps:
        record_alexeyab(work, args.alexeyab, args.dump, args.alexeyab_build)
    if "hankai" in steps:
        record_hankai(work, args.hankai, args.hankai_build)
    if "debian" in steps:
        record_debian(work, args.debian)
    if "model" in steps:
        record_model(work, args.debian)
    if "classifier" in steps:
        record_classifier(work, args.debian)


if __name__ == "__main__":
    main()
