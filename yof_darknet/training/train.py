"""``yof-darknet train``: run ``darknet detector train`` in a run folder and keep everything.

``runs/<name>/`` holds ``<arch>.cfg`` (``yolov3-tiny.cfg`` by default), ``obj.data`` (its
``backup=`` is ``weights/`` here), ``train.log`` (darknet's full stdout and stderr, in arrival
order), ``results.csv``, ``results.png`` and ``weights/`` (darknet's
``<arch>_last``/``_N``/``.backup``/``_final`` files).
Darknet runs with its cwd in the run folder (AlexeyAB writes ``chart.png`` there).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from yof_darknet.core.errors import DarknetError
from yof_darknet.core.fileio import atomic_write_text, protected, unlink_owned
from yof_darknet.core.owned import output_lock, sweep_temporaries
from yof_darknet.formats.cfg import (
    Section,
    apply_setting,
    dump_cfg,
    net_int,
    parse_cfg,
    parse_setting,
    read_cfg,
    validate_cfg,
)
from yof_darknet.formats.imagefiles import read_list
from yof_darknet.formats.labels import darknet_path_problem
from yof_darknet.formats.network import write_network_record
from yof_darknet.formats.objdata import ObjData, read_obj_data, write_obj_data
from yof_darknet.formats.safenames import check_list_lines
from yof_darknet.formats.trainlog import Record
from yof_darknet.formats.weights import check_fits, finished_message, read_header
from yof_darknet.tools.darknet import Darknet, check_can_run, find_darknet
from yof_darknet.training import multigpu
from yof_darknet.training.anchors import choose_anchors
from yof_darknet.training.archs import DEFAULT_ARCH, get_arch, run_arch
from yof_darknet.training.classweights import check_flavor, counters_setting, train_class_counts
from yof_darknet.training.losswatch import LossWatch, fix_settings
from yof_darknet.training.options import DEFAULT_PROFILE, TrainOptions
from yof_darknet.training.process import DarknetDied, LossExploded, stream_training
from yof_darknet.training.profiles import FLAVOR_NOTES, generate_cfg
from yof_darknet.training.results import read_results, save_results
from yof_darknet.training.validation import (
    STOPPED,
    PatienceStop,
    background_scorer,
    patience_message,
    peak_message,
    wait_for_quiet,
    write_stopped,
)

CFG_NAME = get_arch(DEFAULT_ARCH).cfg_name  # the paper's run cfg; another --arch: <arch>.cfg


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    weights: Path | None  # the newest weights saved (largest `seen`): _final when it finished
    iterations: int  # the last iteration darknet printed
    interrupted: bool  # stopped by Ctrl-C
    stopped: str | None = None  # why --patience stopped it early


def train_command(
    darknet: Darknet,
    obj_data: Path,
    cfg: Path,
    weights: Path | None,
    *,
    gpus: str | None = None,
    clear: bool = False,
    map_during_training: bool = True,
) -> list[str]:
    """darknet's argument list; only flags this flavor knows (pjreddie would take any other
    flag for the weights path)."""
    args = [str(darknet.path), "detector", "train", str(obj_data), str(cfg)]
    if weights is not None:
        args.append(str(weights))
    if darknet.has_dont_show:
        args.append("-dont_show")
    if map_during_training and darknet.has_map_flag:
        args.append("-map")
    if gpus:
        args += ["-gpus", gpus]
    if clear:
        args.append("-clear")
    return args


def newest_weights(folder: Path) -> Path | None:
    """The weights darknet saved last in ``folder`` (or ``burn-in/`` in it): the largest ``seen``
    counter wins."""
    found = [
        p
        for p in Path(folder).rglob("*")
        if p.suffix in (".weights", ".backup")
        and not p.name.startswith(".")  # a temporary being written
        and not p.name.endswith("_best.weights")  # a copy of an earlier checkpoint
    ]
    if not found:
        return None
    return max(found, key=lambda p: (read_header(p).seen, p.stat().st_mtime_ns))


def _scaled_steps(max_batches: int) -> str:
    return f"{int(max_batches * 0.8)},{int(max_batches * 0.9)}"


def run_obj_data(obj: ObjData, backup: Path) -> ObjData:
    """The run's copy of the dataset's obj.data: weights into ``backup``, and ``valid =`` the
    dataset's validation list (its ``val =``), which AlexeyAB's and hank-ai's ``-map`` score
    while training; without one, no ``valid =`` at all, so no chart ever scores the test list.
    ``validation =`` records which it is (darknet ignores the key)."""
    val = obj.extra.get("val")
    valid = None
    if val:
        folder = obj.source.parent if obj.source is not None else Path.cwd()
        valid = Path(os.path.abspath(folder / val))  # as named: a list link stays a link
    extra = obj.extra | {"validation": "from-training" if valid else "off"}
    return replace(obj, valid=valid, backup=backup, extra=extra)


def prepare_run(
    data: Path,
    run_dir: Path,
    *,
    profile: str = "paper",
    cfg: Path | None = None,
    overrides: Sequence[str] = (),
    max_batches: int | None = None,
    keep_cfg: bool = False,
    arch: str | None = None,
    flavor: str | None = None,
) -> tuple[Path, Path]:
    """Write the run's cfg (``<arch>.cfg``; the profile as darknet ``flavor`` trains it) and
    obj.data; return their paths."""
    run_dir.mkdir(parents=True, exist_ok=True)
    obj = read_obj_data(data)
    cfg_path = run_dir / get_arch(arch).cfg_name
    settings = list(overrides)
    if max_batches is not None:
        settings += [f"max_batches={max_batches}", f"steps={_scaled_steps(max_batches)}"]
    if keep_cfg:
        sections = read_cfg(cfg_path)
    elif cfg is not None:
        sections = read_cfg(cfg)
    else:
        sections = parse_cfg(
            generate_cfg(obj.classes, profile, arch=arch, flavor=flavor), str(cfg_path)
        )
    for expression in settings:
        apply_setting(sections, *parse_setting(expression))
    validate_cfg(sections, str(cfg if cfg and not keep_cfg else cfg_path))
    heads_classes = {s.get("classes") for s in sections if s.name == "yolo"}
    if heads_classes != {str(obj.classes)}:
        raise DarknetError(
            f"{cfg or cfg_path}: [yolo] classes={sorted(str(c) for c in heads_classes)} but "
            f"{data} has classes={obj.classes}; generate the cfg with "
            f"`yof-darknet cfg --data {data}`"
        )
    atomic_write_text(cfg_path, dump_cfg(sections, f"run cfg of {run_dir.name}"))
    obj_path = run_dir / "obj.data"
    write_obj_data(obj_path, run_obj_data(obj, (run_dir / "weights").resolve()))
    (run_dir / "weights").mkdir(exist_ok=True)
    return cfg_path, obj_path


def _sets_anchors(overrides: Sequence[str]) -> bool:
    """A ``--set ...anchors=`` keeps the user's anchors instead of the anchors rule."""
    return any(parse_setting(item)[0].rpartition(".")[2] == "anchors" for item in overrides)


@dataclass(frozen=True)
class _Phase:
    """One darknet run of a training: its cfg, obj.data (backup folder) and GPUs."""

    cfg: Path
    obj_data: Path
    gpus: str | None
    clear: bool

    @property
    def backup(self) -> Path:
        return read_obj_data(self.obj_data).backup


def _phases(
    run_dir: Path, cfg: Path, obj_data: Path, options: TrainOptions, start: int
) -> list[_Phase]:
    """One phase on one GPU list; with several GPUs, the first GPU's burn-in first (when the run
    has not reached the anchor yet), then all of them on the adjusted cfg."""
    if options.gpu_count == 1:
        return [_Phase(cfg, obj_data, options.gpus, options.clear)]
    sections = read_cfg(cfg)
    schedule = multigpu.plan(run_dir, options.gpu_count, start, net_int(sections, "burn_in"))
    phases = []
    if start < schedule.anchor:
        folder = run_dir / "burn-in"
        folder.mkdir(exist_ok=True)
        burn_cfg = folder / cfg.name
        atomic_write_text(
            burn_cfg, dump_cfg(multigpu.burn_in_cfg(sections, schedule), "burn-in on one GPU")
        )
        burn_obj = folder / "obj.data"
        backup = run_dir / "weights" / "burn-in"
        backup.mkdir(parents=True, exist_ok=True)
        write_obj_data(burn_obj, replace(read_obj_data(obj_data), backup=backup.resolve()))
        assert options.gpus is not None  # a burn-in phase only with several GPUs
        phases.append(_Phase(burn_cfg, burn_obj, options.gpus.split(",")[0], options.clear))
    folder = run_dir / "gpus"
    folder.mkdir(exist_ok=True)
    gpu_cfg = folder / cfg.name
    header = f"{run_dir.name} on {schedule.gpus} GPUs from iteration {schedule.anchor}"
    atomic_write_text(gpu_cfg, dump_cfg(multigpu.adjust(sections, schedule), header))
    phases.append(_Phase(gpu_cfg, obj_data, options.gpus, options.clear and not phases))
    return phases


_WEIGHTS_NAME_ROOM = len("/_10000000.weights")


def check_run_paths(data: Path, backup: Path, cfg_stem: str) -> None:
    """Refuse, before anything is written, paths darknet cannot use: whitespace in the paths of
    the run's obj.data (its parser deletes it), list lines its shell would interpret
    (``formats.safenames``) and weight file names longer than its 256-byte buffer.

    The lists checked are those the run's obj.data names (``run_obj_data``): the training list
    and the validation list, never the test list, which training does not read (``map``
    hands darknet its test images under safe names of its own)."""
    run = run_obj_data(read_obj_data(data), Path(backup))
    for key in ("train", "valid", "names"):
        path = getattr(run, key)
        if path is not None and (problem := darknet_path_problem(path)):
            raise DarknetError(f"{data}: {'val' if key == 'valid' else key} = {path}: {problem}")
    for key in ("train", "valid"):  # darknet hands the paths of unloadable images to a shell
        path = getattr(run, key)
        if path is not None and path.is_file():
            check_list_lines(read_list(path), path, error=DarknetError)
    real = Path(os.path.realpath(backup))
    if problem := darknet_path_problem(real):
        raise DarknetError(f"run folder {backup.parent}: {problem} (choose --runs/--name)")
    if len(os.fsencode(real)) + len(cfg_stem) + _WEIGHTS_NAME_ROOM > 255:
        raise DarknetError(
            f"run folder {backup.parent}: darknet builds weight file names in a 256-byte "
            f"buffer and {real}/{cfg_stem}_N.weights would overflow it; choose a shorter --runs"
        )


def resume_hint(data: Path, run_dir: Path, runs_dir: Path) -> str:
    """The exact command that continues this run (or says it has nothing to continue from)."""
    if newest_weights(run_dir / "weights") is None:
        return "no weights were saved yet: run the same command again to start over"
    runs = f" --runs {shlex.quote(str(runs_dir))}" if runs_dir != Path("runs") else ""
    return (
        f"continue with: yof-darknet train --data {shlex.quote(str(data))} "
        f"--name {shlex.quote(run_dir.name)} --resume{runs}"
    )


def retry_hint(data: Path, run_dir: Path, runs_dir: Path, fixes: Sequence[str]) -> str:
    """After the loss watch stopped a run: continue it with a lower rate and a longer burn-in
    (a larger batch would change how darknet counts the iterations of the saved weights)."""
    if newest_weights(run_dir / "weights") is None:
        return "no weights were saved yet: run the same command again with the --set above"
    return resume_hint(data, run_dir, runs_dir) + "".join(f" --set {item}" for item in fixes[:2])


def train(
    data: Path,
    options: TrainOptions | None = None,
    *,
    darknet: Darknet | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> TrainResult:
    """Train in ``options.runs/<run name>``; return the newest weights (``_final`` when done)."""
    options = options or TrainOptions()
    darknet = darknet or find_darknet()
    run_dir = Path(options.runs) / options.run_name
    arch = options.arch or (run_arch(run_dir) if options.resume else None) or DEFAULT_ARCH
    backup = run_dir / "weights"
    check_run_paths(data, backup, Path(get_arch(arch).cfg_name).stem)
    check_can_run(darknet, *network_to_train(options, run_dir, arch))
    obj = read_obj_data(data)
    with (
        protected(data, obj.train, obj.valid, obj.names, options.cfg, options.weights),
        output_lock(run_dir),  # one training at a time in a run folder
    ):
        return _train(
            data, options, run_dir, arch=arch, darknet=darknet, progress=progress, echo=echo
        )


def network_to_train(options: TrainOptions, run_dir: Path, arch: str) -> tuple[list[Section], str]:
    """The layers darknet will be given (the profile and ``--set`` only change values) and
    where they come from: --cfg, the resumed run's cfg, else the architecture's template."""
    resumed = run_dir / get_arch(arch).cfg_name
    if options.cfg is not None:
        source = Path(options.cfg)
    elif options.resume and resumed.is_file():
        source = resumed
    else:
        source = get_arch(arch).template
    return read_cfg(source), str(source)


def _train(
    data: Path,
    options: TrainOptions,
    run_dir: Path,
    *,
    arch: str,
    darknet: Darknet,
    progress: bool,
    echo: Callable[[str], None],
) -> TrainResult:
    backup = run_dir / "weights"
    weights = options.weights
    if options.resume:
        weights = newest_weights(backup)
        if weights is None:
            raise DarknetError(f"{run_dir}: no weights to resume from; start it without --resume")
        planned = multigpu.recorded_gpus(run_dir)
        if planned > 1 and options.gpu_count == 1:
            raise DarknetError(
                f"{run_dir} trains on {planned} GPUs (its gpus.json): resume it with --gpus "
                f"and {planned} GPU indices"
            )
    elif backup.is_dir() and any(backup.iterdir()):
        raise DarknetError(
            f"{run_dir} already holds trained weights; continue it with --resume or pick "
            "another --name"
        )
    overrides = list(options.overrides)
    if options.class_weights:
        check_flavor(darknet)
        counts, missing = train_class_counts(data)
        overrides.append(counters_setting(counts))
        echo(
            f"--class-weights: counters_per_class={','.join(map(str, counts))} (training boxes "
            f"per class{f'; {missing} listed images have no label file' if missing else ''})"
        )
    cfg_path, obj_path = prepare_run(
        data,
        run_dir,
        profile=options.profile or DEFAULT_PROFILE,
        cfg=options.cfg,
        overrides=overrides,
        max_batches=options.max_batches,
        keep_cfg=options.resume and (run_dir / get_arch(arch).cfg_name).is_file(),
        arch=arch,
        flavor=darknet.flavor,
    )
    if note := FLAVOR_NOTES.get((options.profile or "", darknet.flavor)):
        echo(f"train: {note}")
    if not options.resume and options.cfg is None and not _sets_anchors(options.overrides):
        echo(choose_anchors(obj_path, cfg_path, options.anchors, arch))
    # the network its weights will belong to, which detect, map and export check a cfg against
    write_network_record(run_dir, cfg_path, read_cfg(cfg_path))
    if weights is not None:
        check_fits(weights, cfg_path)
    if weights is not None and not options.clear:
        message = finished_message(weights, cfg_path)
        if message:
            raise DarknetError(message)
    batch = net_int(read_cfg(cfg_path), "batch", 1)
    start = read_header(weights).iterations(batch) if weights and not options.clear else 0
    valid = read_obj_data(obj_path).valid
    map_during_training = valid is not None and valid.is_file() and valid.stat().st_size > 0
    if darknet.has_map_flag:
        echo(
            f"-map during training scores the validation list {valid}"
            if map_during_training
            else f"no -map during training: {data} names no validation list (val =), and the "
            "test list is never scored while training (datasets --val-per-dataset writes one)"
        )
    previous = read_results(run_dir / "results.csv") if options.resume else []
    rows: list[Record] = []

    def save() -> None:
        first = rows[0].line.iteration if rows else None
        kept = [r for r in previous if first is None or r.line.iteration < first]
        save_results(run_dir, kept + rows, f"{run_dir.name} ({darknet.flavor})")

    scorer = background_scorer(run_dir, options.score_checkpoints, options.patience, data)

    def on_save() -> None:
        save()
        if scorer is not None:
            scorer.poke()
            if options.patience and (why := patience_message(run_dir, options.patience)):
                wait_for_quiet(backup)  # never stop darknet halfway through a save
                raise PatienceStop(why)

    interrupted, ended, stopped = False, False, None
    fixes = fix_settings(read_cfg(cfg_path))
    unlink_owned(run_dir / STOPPED)  # a resumed run is no longer stopped
    sweep_temporaries(run_dir)
    sweep_temporaries(backup)
    try:
        for phase in _phases(run_dir, cfg_path, obj_path, options, start):
            args = train_command(
                darknet,
                phase.obj_data.resolve(),
                phase.cfg.resolve(),
                Path(weights).resolve() if weights else None,
                gpus=phase.gpus,
                clear=phase.clear,
                map_during_training=map_during_training,
            )
            sections = read_cfg(phase.cfg)
            interrupted = stream_training(
                args,
                cwd=run_dir,
                log=run_dir / "train.log",
                rows=rows,
                max_batches=net_int(sections, "max_batches"),
                start=read_header(weights).iterations(batch) if weights and not phase.clear else 0,
                answer_yes=darknet.asks_yes_to_train_on_cpu,
                final_weights=phase.backup / f"{phase.cfg.stem}_final.weights",
                progress=progress,
                on_save=on_save,
                watch=LossWatch(options.max_loss_rise, fixes),
            )
            if interrupted:
                break
            weights = newest_weights(phase.backup)
        ended = True
    except DarknetDied as exc:
        raise DarknetDied(f"{exc}; {resume_hint(data, run_dir, Path(options.runs))}") from None
    except PatienceStop as exc:
        ended, stopped = True, str(exc)
    except LossExploded as exc:
        hint = retry_hint(data, run_dir, Path(options.runs), fixes)
        raise LossExploded(f"{exc}; {hint}") from None
    finally:
        if scorer is not None and ended and not interrupted:
            echo("scoring the last checkpoints on the validation list")
            scorer.finish(echo)
        elif scorer is not None:
            scorer.stop()
        save()
    last = rows[-1].line.iteration if rows else 0
    if stopped is not None:
        write_stopped(run_dir, stopped, last)
        echo(f"stopped early at iteration {last}: {stopped}")
    if scorer is not None and (peak := peak_message(run_dir)):
        echo(peak)
    return TrainResult(run_dir, newest_weights(backup), last, interrupted, stopped)
