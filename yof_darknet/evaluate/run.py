"""The work of ``yof-darknet map``: get detections or Darknet's own mAP, build Table II.

Paths, in the order the command tries them:

* ``from_log``: parse a saved ``detector map`` log (no darknet, no images needed);
* ``results``: score existing ``detector valid`` result files with our evaluator;
* ``engine="opencv"``: OpenCV DNN detections (``detector map``'s thresholds), our evaluator;
* ``engine="ort"``: ONNX Runtime detections (the cfg + weights exported, or ``model``: an
  exported fp32/int8 model), same thresholds and evaluator (``map`` runs the detect stage here);
* ``engine="darknet"``: AlexeyAB / hank-ai run ``detector map`` and we parse it (per dataset:
  one more ``map`` run on each sub-list); pjreddie has no ``map``, so it runs ``detector valid``
  and our evaluator scores the result files.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from yof_darknet.core.engines import OPENCV, ORT
from yof_darknet.core.errors import DarknetError, EvaluationError
from yof_darknet.core.expressions import DATASET_TITLES
from yof_darknet.core.fileio import atomic_write_text, protected, unix_lines
from yof_darknet.core.owned import output_lock, sweep_temporaries
from yof_darknet.evaluate.ap import Accumulation, Detections, EvalParams, GroundTruth
from yof_darknet.evaluate.ap import evaluate as score
from yof_darknet.evaluate.faceap import FaceCheck, face_check
from yof_darknet.evaluate.inputs import (
    check_test_images,
    detections_from_objects,
    image_sizes,
    load_ground_truth,
    read_valid_results,
)
from yof_darknet.evaluate.options import MapOptions
from yof_darknet.evaluate.table import Table2
from yof_darknet.formats.cfg import check_heads, read_cfg
from yof_darknet.formats.imagefiles import read_list
from yof_darknet.formats.labels import darknet_path_problem, label_path
from yof_darknet.formats.maplog import parse_map_output, read_map_log
from yof_darknet.formats.mapresult import MapResult
from yof_darknet.formats.network import check_network
from yof_darknet.formats.objdata import ObjData, read_obj_data, write_obj_data
from yof_darknet.formats.safenames import list_line_problem, name_problem
from yof_darknet.formats.trainlog import strip_escapes
from yof_darknet.formats.weights import check_complete
from yof_darknet.tools.runner import death_message, run_logged

if TYPE_CHECKING:
    from yof_darknet.tools.darknet import Darknet

SUBSET_LISTS = {name: f"test_{name}.txt" for name in DATASET_TITLES}
# What darknet prints when it goes on without an image (both forks: a 10x10 black stand-in) or
# without a label file (AlexeyAB: no faces).
_NOT_LOADED = (
    ("image not loaded", re.compile(r'^Cannot load image "?(?P<path>[^"\n]*?)"?\s*$', re.M)),
    ("label not found", re.compile(r"^Can't open label file\..*?: (?P<path>.+?)\s*$", re.M)),
)
_LISTED = 20
MAP_THRESH, MAP_NMS = 0.005, 0.45

METHOD_MAP = "Darknet's own `detector map` ({flavor}), parsed from its output"
METHOD_LOG = "a saved `detector map` log ({path}), parsed"
METHOD_VALID = (
    "pjreddie darknet `detector valid` (letterboxed input, thresh 0.005, NMS 0.45, boxes clipped "
    "to the image) scored by our evaluator (AlexeyAB's `detector map` arithmetic); AlexeyAB's "
    "`map` resizes without letterbox and scores unclipped boxes, so expect small differences"
)
METHOD_RESULTS = (
    "`detector valid` result files from {path} scored by our evaluator (AlexeyAB's `detector "
    "map` arithmetic); `valid` clips boxes and AlexeyAB's `valid` uses thresh 0.001 and NMS "
    "0.6 instead of map's 0.005 and 0.45, so expect small differences from `detector map`"
)
METHOD_PYTHON = (
    "{engine} detections (no darknet; thresh 0.005, NMS 0.45 as in `detector map`) scored "
    "by our evaluator (AlexeyAB's `detector map` arithmetic)"
)


@dataclass(frozen=True)
class Scored:
    """What our evaluator saw (for the confusion matrix and PR curves)."""

    detections: Detections
    ground_truth: GroundTruth
    accumulation: Accumulation


@dataclass(frozen=True)
class MapOutcome:
    """Table II, and what our evaluator saw when it scored (``None`` for Darknet's own map)."""

    table: Table2
    scored: Scored | None


FACE_BY_ONNX = "ONNX Runtime detections of the same weights: `detector map` prints no detections"


@dataclass(frozen=True)
class TestSet:
    """The test list of an obj.data, its class names and the per-dataset sub-lists."""

    obj: ObjData
    obj_path: Path
    names: list[str]
    images: list[Path]
    subsets: dict[str, np.ndarray]  # dataset name -> indices into images

    @property
    def listing(self) -> Path:
        """The test list file (obj.data's ``valid=``, which every test set has)."""
        assert self.obj.valid is not None
        return self.obj.valid


def _resolve(entries: Sequence[Path], base: Path) -> list[Path]:
    return [p if p.is_absolute() else (base / p) for p in entries]


def load_test_set(data: Path) -> TestSet:
    """The obj.data, its names and test list (relative entries: from obj.data's folder), and the
    per-dataset sub-lists found beside the test list."""
    obj = read_obj_data(data)
    names = obj.read_names()
    base = Path(data).resolve().parent
    images = _resolve(obj.read_list("valid"), base)
    assert obj.valid is not None  # read_list refused a file without valid=
    position = {p.resolve(): i for i, p in enumerate(images)}
    subsets: dict[str, np.ndarray] = {}
    for name, filename in SUBSET_LISTS.items():
        path = obj.valid.parent / filename
        if not path.is_file():
            continue
        listed = _resolve([Path(line) for line in read_list(path)], base)
        outside = [p for p in listed if p.resolve() not in position]
        if outside:
            raise EvaluationError(
                f"{path}: {len(outside)} image(s) are not in the test list {obj.valid} "
                f"(first: {outside[0]}); regenerate the lists together"
            )
        subsets[name] = np.asarray([position[p.resolve()] for p in listed], dtype=np.int64)
    return TestSet(obj, Path(data), names, images, subsets)


def load_list(obj: ObjData, obj_path: Path, listing: Path, *, check: bool = True) -> TestSet:
    """The images of ``listing`` (relative entries: from obj.data's folder) as a set to score,
    with no per-dataset sub-lists, checked like a test list (``check_test_images``; ``check``
    False: by the caller, before it scores, since the check reads every image's header)."""
    names = obj.read_names()
    images = _resolve([Path(line) for line in read_list(listing)], Path(obj_path).resolve().parent)
    if check:
        check_test_images(images, listing)
    return TestSet(replace(obj, valid=listing), Path(obj_path), names, images, {})


def subset(
    dets: Detections, gts: GroundTruth, indices: np.ndarray
) -> tuple[Detections, GroundTruth]:
    """Detections and ground truth of the images ``indices``, re-indexed 0..len-1."""
    new_index = np.full(gts.num_images, -1, dtype=np.int64)
    new_index[indices] = np.arange(len(indices))
    keep_d = new_index[dets.image] >= 0
    keep_g = new_index[gts.image] >= 0
    d = dets.select(keep_d)
    d = Detections(new_index[d.image], d.class_id, d.score, d.box)
    g_image = new_index[gts.image[keep_g]]
    order = np.argsort(g_image, kind="stable")
    g = GroundTruth(
        g_image[order], gts.class_id[keep_g][order], gts.box[keep_g][order], len(indices)
    )
    return d, g


def _run_darknet(args: list[str], cwd: Path, log: Path) -> tuple[int, str]:
    """Exit code and output of darknet, whose whole output is kept in ``log``."""
    try:
        return run_logged(args, cwd, log)
    except OSError as exc:
        raise DarknetError(f"{args[0]}: cannot run it ({exc})") from exc


def find_cfg(cfg: Path | None, weights: Path) -> Path:
    """``cfg`` if given, else the only ``.cfg`` beside the weights or in their parent folder."""
    if cfg is not None:
        if not cfg.is_file():
            raise EvaluationError(f"{cfg}: cfg file not found")
        return cfg
    for folder in (weights.parent, weights.parent.parent):
        found = sorted(folder.glob("*.cfg"))
        if len(found) == 1:
            return found[0]
    raise EvaluationError(f"{weights}: cannot tell which .cfg goes with these weights; pass --cfg")


def check_model(cfg: Path, weights: Path, test: TestSet) -> None:
    """Refuse, before anything runs, a cfg whose heads do not fit the obj.data (classes,
    filters) and weights that are not exactly that cfg's (truncated, empty, another network or
    class count): either would give a wrong mAP without a word."""
    sections = read_cfg(cfg)
    check_heads(sections, test.obj.classes, str(cfg), test.obj_path)
    check_complete(weights, sections, cfg)
    check_network(cfg, sections, weights)


def check_darknet_paths(test: TestSet) -> None:
    """Refuse paths darknet would misread in the obj.data we hand it (names=, the temporary
    lists and results folder) or must not hand its shell (the temporary folder, in the lists)."""
    temporary = tempfile.gettempdir()
    for what, path in (("names", test.obj.names), ("temporary folder", temporary)):
        problem = darknet_path_problem(path)
        if problem is not None:
            fix = "set TMPDIR to a folder without spaces" if what != "names" else "move it"
            raise EvaluationError(f"{test.obj_path}: {what} {path}: {problem} ({fix})")
    problem = list_line_problem(os.path.join(temporary, "yof-map-x", "0000001.jpg"))
    if problem is not None:
        raise EvaluationError(
            f"temporary folder {temporary}: its path {problem}; set TMPDIR to a folder whose "
            "path has only letters, digits and . _ + - /"
        )


def evaluate_all(
    test: TestSet, dets: Detections, params: EvalParams
) -> tuple[MapResult, dict[str, MapResult], Scored]:
    gts = load_ground_truth(test.images, len(test.names))
    combined, _, acc = score(dets, gts, params, test.names)
    per_dataset = {}
    for name, indices in test.subsets.items():
        d, g = subset(dets, gts, indices)
        per_dataset[name] = score(d, g, params, test.names)[0]
    return combined, per_dataset, Scored(dets, gts, acc)


def face_of(scored: Scored, combined: MapResult, source: str | None = None) -> FaceCheck:
    """Face AP of what our evaluator scored, beside its expression mAP."""
    params = EvalParams(combined.iou_thresh, combined.points, combined.conf_thresh)
    classes = len(combined.classes)
    return face_check(scored.detections, scored.ground_truth, params, combined.map, classes, source)


def _table(
    combined: MapResult,
    method: str,
    flavor: str | None,
    per_dataset: dict[str, MapResult],
    scored: Scored,
) -> MapOutcome:
    face = face_of(scored, combined)
    return MapOutcome(Table2(combined, method, flavor, per_dataset, face), scored)


def _face_by_onnx(
    test: TestSet, cfg: Path, weights: Path, params: EvalParams
) -> tuple[FaceCheck | None, str | None]:
    """Face AP for Table II made by Darknet's ``detector map``, from ONNX Runtime detections
    of the same weights (None and why, when they cannot be made)."""
    from yof_darknet.core.errors import ExportError, InferenceError

    try:
        dets, _ = python_detections(test, cfg, weights, ORT, None)
    except (ExportError, InferenceError, OSError) as exc:
        return None, f"`detector map` prints no detections and ONNX Runtime could not run: {exc}"
    combined, _, scored = evaluate_all(replace(test, subsets={}), dets, params)
    return face_of(scored, combined, FACE_BY_ONNX), None


def _linked_images(folder: Path, images: Sequence[Path], label_fork: str | None) -> list[Path]:
    """Links ``folder/images_by_index/<index>.<suffix>`` to ``images`` (and, with
    ``label_fork``, ``<index>.txt`` to the label that fork reads), so the lists darknet is
    handed hold only safe names whatever the test images are called (shell syntax, bytes that
    are not UTF-8: ``formats.safenames``), and ``valid``, which names results by basename,
    keeps images of different folders (Aff-Wild2 frames 00001.jpg of every video) apart."""
    links = folder / "images_by_index"
    links.mkdir()
    linked = []
    for index, image in enumerate(images):
        suffix = image.suffix if name_problem(image.suffix.lstrip(".") or "x") is None else ""
        link = links / f"{index:07d}{suffix or '.jpg'}"
        link.symlink_to(image.resolve())
        if label_fork is not None:
            link.with_suffix(".txt").symlink_to(label_path(image, label_fork).resolve())
        linked.append(link)
    return linked


def _unloaded(text: str, linked: Sequence[Path], images: Sequence[Path]) -> list[str]:
    """The test images darknet reported it could not load or find the label of (it goes on
    with a 10x10 black stand-in, or no faces, and would be scored so)."""
    original: dict[str, Path] = {}
    for link, image in zip(linked, images, strict=True):
        original[str(link)] = original[str(link.with_suffix(".txt"))] = image
    text = strip_escapes(text)
    return [
        f"{original.get(match['path'], match['path'])} ({what})"
        for what, pattern in _NOT_LOADED
        for match in pattern.finditer(text)
    ]


def _refuse_unloaded(log: Path, text: str, linked: Sequence[Path], images: Sequence[Path]) -> None:
    unloaded = _unloaded(text, linked, images)
    if unloaded:
        shown = "\n  ".join(unloaded[:_LISTED])
        raise DarknetError(
            f"{log}: darknet could not load {len(unloaded)} test image(s) or their labels and "
            f"would score them as empty or black images:\n  {shown}\nremove them from the "
            "test list (or rebuild it with `yof-darknet datasets`, which leaves such images "
            "out) and run map again"
        )


def _temp_obj_data(test: TestSet, folder: Path, images: Sequence[Path], results: Path) -> Path:
    listing = folder / "valid.txt"
    atomic_write_text(listing, "".join(f"{p.absolute()}\n" for p in images))
    path = folder / "obj.data"
    extra = {k: v for k, v in test.obj.extra.items() if k not in ("results", "eval")}
    extra["results"] = str(results)
    names = unix_lines(test.obj.names, folder)  # darknet reads a CR as part of each name
    write_obj_data(path, ObjData(test.obj.classes, listing, listing, names, folder, extra))
    return path


def _darknet_map(
    request: MapOptions, test: TestSet, darknet: Darknet, cfg: Path, weights: Path
) -> tuple[MapResult, dict[str, MapResult]]:
    """AlexeyAB / hank-ai: ``detector map`` on the whole list and on each sub-list."""
    lists = {"combined": np.arange(len(test.images)), **test.subsets}
    results: dict[str, MapResult] = {}
    for name, indices in lists.items():
        with tempfile.TemporaryDirectory(prefix="yof-map-") as tmp:
            folder = Path(tmp)
            images = [test.images[i] for i in indices]
            fork = "hank-ai" if darknet.flavor == "hank-ai" else "alexeyab"
            linked = _linked_images(folder, images, fork)
            data = _temp_obj_data(test, folder, linked, folder)
            darknet_cfg = unix_lines(cfg.resolve(), folder)  # pjreddie: no CR in a cfg
            args = [str(darknet.path), "detector", "map", str(data), str(darknet_cfg),
                    str(weights.resolve()), "-dont_show", "-points", str(request.points_or_default),
                    "-iou_thresh", str(request.iou_or_default)]  # fmt: skip
            suffix = "" if name == "combined" else f"_{name}"
            log = request.out / f"map{suffix}.log"
            code, text = _run_darknet(args, folder, log)
            _refuse_unloaded(log, text, linked, images)
            result = parse_map_output(text, str(log))
            if code != 0:
                tail = [line for line in text.splitlines() if line.strip()][-3:]
                raise DarknetError(f"{log}: {death_message(code, tail)}; see the log")
            results[name] = result
    combined = results.pop("combined")
    return combined, results


def _darknet_valid(
    test: TestSet, darknet: Darknet, cfg: Path, weights: Path, out: Path
) -> Detections:
    """pjreddie: ``detector valid`` into a temporary results folder, then read its files."""
    if len(test.images) < 4:
        raise EvaluationError(
            f"{test.obj.valid}: pjreddie's `detector valid` needs at least 4 test images "
            f"(it reads 4 at a time past the end of shorter lists); this list has "
            f"{len(test.images)}"
        )
    with tempfile.TemporaryDirectory(prefix="yof-valid-") as tmp:
        folder = Path(tmp)
        results = folder / "results"
        results.mkdir()
        linked = _linked_images(folder, test.images, None)
        data = _temp_obj_data(test, folder, linked, results)
        darknet_cfg = unix_lines(cfg.resolve(), folder)  # pjreddie: no CR in a cfg
        args = [str(darknet.path), "detector", "valid", str(data), str(darknet_cfg),
                str(weights.resolve())]  # fmt: skip
        log = out / "valid.log"
        code, text = _run_darknet(args, folder, log)
        _refuse_unloaded(log, text, linked, test.images)
        if code != 0 or "Couldn't open file" in text:
            tail = [line for line in text.splitlines() if line.strip()][-3:]
            why = death_message(code, tail) if code else "it could not open a file"
            raise DarknetError(f"{log}: `detector valid` failed: {why}; see the log")
        return read_valid_results(results, test.names, linked)


def python_detections(
    test: TestSet, cfg: Path | None, weights: Path | None, engine: str, model: Path | None
) -> tuple[Detections, str]:
    """Detections of every image of ``test`` by OpenCV DNN (``engine="opencv"``) or ONNX
    Runtime (``"ort"``: ``model``, or cfg + weights exported), ``detector map``'s thresholds;
    and the engine's name."""
    from yof_darknet.infer.detector import Detector

    detector = Detector(cfg, weights, test.names, engine=engine, model=model)
    sizes = image_sizes(test.images)
    found = detector.detect_files(test.images, MAP_THRESH, MAP_NMS)
    dets = detections_from_objects(
        (index, dets, (int(sizes[index, 0]), int(sizes[index, 1])))
        for index, (_, dets) in enumerate(found)
    )
    name = {"opencv darknet importer": "OpenCV DNN", "opencv onnx": "OpenCV DNN (ONNX)"}
    return dets, name.get(detector.description, f"ONNX Runtime ({detector.precision})")


def map_inputs(request: MapOptions) -> tuple[Path | None, ...]:
    """What ``map`` reads and must never write: obj.data, weights, cfg, the log, the results
    (less ``--out`` when it lies among them: this run's own folder)."""
    out = Path(request.out).resolve()
    results = (
        sorted(p for p in request.results.iterdir() if p.resolve() != out)
        if request.results is not None
        else []
    )
    return (request.data, request.weights, request.cfg, request.from_log, *results)


def run_map(request: MapOptions) -> MapOutcome:
    """Make Table II as ``request`` asks; raise ``EvaluationError``/``DarknetError`` otherwise.
    ``request.out`` is held by this run alone (``owned.output_lock``) while it writes there."""
    with protected(*map_inputs(request)), output_lock(request.out):
        return _run_map(request)


def _run_map(request: MapOptions) -> MapOutcome:
    params = EvalParams(iou_thresh=request.iou_or_default, points=request.points_or_default)
    if request.from_log is not None:
        result = read_map_log(request.from_log)
        flavor = result.source
        method = METHOD_LOG.format(path=request.from_log)
        if result.iteration is not None:
            method += f", training iteration {result.iteration}"
        why: str | None = "a `detector map` log holds per-class APs only, no detections to merge"
        return MapOutcome(Table2(result, method, flavor, face_note=why), None)
    if request.data is None:
        raise EvaluationError("--data obj.data is needed (only --from-log works without it)")
    test = load_test_set(request.data)
    check_test_images(test.images, test.listing)
    if request.results is not None:
        dets = read_valid_results(request.results, test.names, test.images)
        combined, per_dataset, scored = evaluate_all(test, dets, params)
        method = METHOD_RESULTS.format(path=request.results)
        return _table(combined, method, None, per_dataset, scored)
    if request.engine == ORT and request.model is not None and request.weights is None:
        dets, engine = python_detections(test, request.cfg, None, ORT, request.model)
        combined, per_dataset, scored = evaluate_all(test, dets, params)
        method = METHOD_PYTHON.format(engine=engine)
        return _table(combined, method, None, per_dataset, scored)
    if request.weights is None:
        raise EvaluationError(
            "no model to score: give --weights WEIGHTS (and --cfg CFG unless the run folder "
            "holds one), or --model MODEL.onnx with --engine ort, or --results DIR, or "
            "--from-log LOG"
        )
    if not request.weights.is_file():
        raise EvaluationError(f"{request.weights}: weights file not found (--weights)")
    cfg = find_cfg(request.cfg, request.weights)
    check_model(cfg, request.weights, test)
    if request.engine_or_default in (OPENCV, ORT):
        dets, engine = python_detections(
            test, cfg, request.weights, request.engine_or_default, request.model
        )
        combined, per_dataset, scored = evaluate_all(test, dets, params)
        method = METHOD_PYTHON.format(engine=engine)
        return _table(combined, method, None, per_dataset, scored)
    from yof_darknet.tools.darknet import check_can_run, find_darknet

    check_darknet_paths(test)
    darknet = find_darknet(request.darknet)
    try:
        check_can_run(darknet, read_cfg(cfg), str(cfg))
    except DarknetError as exc:  # pjreddie's valid would score another network
        raise EvaluationError(f"{exc}; or score without darknet: --engine opencv") from None
    if darknet.has_map:
        combined, per_dataset = _darknet_map(request, test, darknet, cfg, request.weights)
        method = METHOD_MAP.format(flavor=f"{darknet.flavor} {darknet.version}")
        face, why = _face_by_onnx(test, cfg, request.weights, params)
        table = Table2(combined, method, darknet.flavor, per_dataset, face, why)
        return MapOutcome(table, None)
    dets = _darknet_valid(test, darknet, cfg, request.weights, request.out)
    combined, per_dataset, scored = evaluate_all(test, dets, params)
    return _table(combined, METHOD_VALID, darknet.flavor, per_dataset, scored)


def write_outputs(outcome: MapOutcome, out: Path, inputs: Sequence[Path | None] = ()) -> list[Path]:
    """Write Table II (md, csv, json) and, when our evaluator scored, the confusion matrix and
    PR curves into ``out`` (never over one of ``inputs``); return the paths written."""
    with protected(*inputs), output_lock(out):
        sweep_temporaries(out)
        return _write_outputs(outcome, out)


def _write_outputs(outcome: MapOutcome, out: Path) -> list[Path]:
    from yof_darknet.evaluate.report import write_report
    from yof_darknet.evaluate.table import write_table

    written = list(write_table(outcome.table, out).values())
    if outcome.scored is not None:
        s = outcome.scored
        written += write_report(
            s.detections, s.ground_truth, s.accumulation, outcome.table.combined, out
        )
    return written
