"""CLI commands of the dataset stage; see yof_darknet/cli/__init__.py.

``datasets`` collects one ``DatasetJob`` per ``--<dataset>`` option (``_expw_job``; add a
``_<name>_job`` plus its options for another dataset) and hands them to ``build_datasets``.
``--shard`` converts one shard of the Aff-Wild2 videos and records how it ended
(``datasets.shards``); ``--merge`` checks those records before building.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from yof_darknet.cli.params import EXISTING_DIR, EXISTING_FILE, OUT_DIR
from yof_darknet.errors import DatasetError


def _expw_job(options: dict[str, Any]):
    from yof_darknet.datasets.build import expw_job

    return expw_job(
        options["expw"],
        min_face_score=options["min_face_score"],
        drop_mixed_images=options["drop_mixed_images"],
        copy=options["copy"],
    )


def _workers(text: str) -> int:
    """``--workers N``, or ``auto``: one per CPU this task was given."""
    from yof_darknet.cluster import AUTO, available_cpus

    if text == AUTO:
        return available_cpus()
    try:
        workers = int(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: give a number or auto", param_hint="--workers"
        ) from None
    if workers < 1:
        raise click.BadParameter(f"{workers}: use 1 or more", param_hint="--workers")
    return workers


def _shard(text: str | None) -> tuple[int, int] | None:
    """``--shard I/N``, or ``auto``: this SLURM array task's shard."""
    from yof_darknet.cluster import AUTO, array_shard
    from yof_darknet.datasets.affwild2 import parse_shard

    if text is None:
        return None
    if text != AUTO:
        return parse_shard(text)
    shard = array_shard()
    click.echo(f"--shard auto: shard {shard[0]}/{shard[1]} (SLURM array task "
               f"{os.environ['SLURM_ARRAY_TASK_ID']})")  # fmt: skip
    return shard


def _affwild2_options(options: dict[str, Any]):
    """The ``AffWild2Options`` whose fields are named like the CLI options (``--shard`` parsed)."""
    from yof_darknet.datasets.affwild2 import AffWild2Options

    given = {f.name: options[f.name] for f in fields(AffWild2Options) if f.name in options}
    given["shard"] = _shard(options["shard"])
    given["workers"] = _workers(options["workers"])
    return AffWild2Options(**given)


def _affwild2_job(options: dict[str, Any]):
    from yof_darknet.datasets.build import affwild2_job

    return affwild2_job(options["affwild2"], _affwild2_options(options))


def _affwild2_shard(options: dict[str, Any]) -> None:
    """``--shard I/N``: convert this shard's videos only; lists come from ``--merge``."""
    from yof_darknet.datasets.build import check_out_dir
    from yof_darknet.datasets.shards import record_path, run_shard

    if not options["affwild2"]:
        raise click.UsageError("--shard splits the Aff-Wild2 videos: pass --affwild2 DIR")
    out = options["out"].resolve()
    check_out_dir(out, [options["affwild2"]], ["affwild2"])
    settings = _affwild2_options(options)
    result = run_shard(options["affwild2"], out, settings, progress=True)
    _echo_affwild2(result.stats.details)
    shard = settings.shard
    assert shard is not None
    click.echo(
        f"shard {shard[0]}/{shard[1]}: {result.stats.details['videos']} videos done "
        f"(recorded in {record_path(out, shard)}); when every shard has finished, run the same "
        "command with --merge instead of --shard to check them and write the lists, obj.data "
        "and stats.json"
    )


def _check_shards(options: dict[str, Any]) -> dict[str, Any]:
    """``--merge``: every shard finished with these options and inputs, or stop (the check's
    outcome goes into stats.json)."""
    from yof_darknet.datasets.shards import check_shards, problems_message

    if not options["affwild2"]:
        raise click.UsageError("--merge joins the Aff-Wild2 shards: pass --affwild2 DIR")
    out = options["out"].resolve()
    check = check_shards(options["affwild2"], out, _affwild2_options(options))
    click.echo(check.summary())
    if check.bad:
        if not options["convert_missing"]:
            raise DatasetError(problems_message(check, out))
        click.secho(f"note: {problems_message(check, out, fix=False)}", fg="yellow")
        click.echo(f"--convert-missing: converting shard(s) {sorted(check.bad)} in this job")
    return {
        "count": check.count,
        "finished": len(check.finished),
        "converted_here": sorted(check.bad),
    }


def _echo_affwild2(details: dict[str, Any]) -> None:
    histogram = ", ".join(f"{n}: {frames}" for n, frames in details["faces_per_frame"].items())
    click.echo(
        f"  {details['videos']} videos ({details['videos_resumed']} resumed), frames read "
        f"{details['frames_read']}, detected {details['frames_detected']}, labelled "
        f"{details['frames_labelled']}; faces found per frame {{{histogram}}}"
    )
    for problem in details["problems"][:10]:
        click.echo(f"  note: {problem}")
    if details["problems_total"] > 10:
        click.echo(f"  ... {details['problems_total'] - 10} more in stats.json")


def _echo_summary(summary) -> None:
    for name, data in summary.stats["datasets"].items():
        faces, images = data["faces"], data["images"]
        skipped = ", ".join(f"{reason} {n}" for reason, n in faces["skipped"].items()) or "none"
        click.echo(
            f"{name}: {faces['read']} faces read, {faces['kept']} kept in {images['kept']} "
            f"images; skipped: {skipped}"
        )
        if name == "affwild2":
            _echo_affwild2(data["details"])
        for example in data["details"].get("malformed_examples", []):
            click.echo(f"  malformed: {example}")
        if data["details"].get("renamed"):
            click.echo(
                f"  {data['details']['renamed']} images renamed for Darknet "
                f"(see {data['details']['renamed_file']})"
            )
        click.echo(f"  train {images['train']} images, test {images['test']} images")
    for message in summary.messages:
        click.secho(f"note: {message}", fg="yellow")
    totals = summary.stats["totals"]
    click.echo(
        f"train: {totals['images']['train']} images ({totals['faces']['train']} faces), "
        f"test: {totals['images']['test']} images ({totals['faces']['test']} faces)"
    )
    click.echo(f"wrote {summary.obj_data}, lists and stats.json in {summary.out}")


@click.command("datasets")
@click.option("--expw", type=EXISTING_DIR, help="ExpW folder (label/label.lst + image/origin/).")
@click.option(
    "--affwild2",
    type=EXISTING_DIR,
    help="Aff-Wild2 folder (annotations/EXPR_* of any ABAW release + videos in any subfolder).",
)
@click.option(
    "--out",
    required=True,
    type=OUT_DIR,
    help="Output folder: images + labels, train.txt, test*.txt, obj.data, stats.json.",
)
@click.option(
    "--min-face-score",
    type=float,
    default=50.0,
    help="ExpW: keep faces whose detector confidence is strictly above this.",
)
@click.option(
    "--drop-mixed-images",
    is_flag=True,
    help="ExpW: drop a whole image when any of its faces fails --min-face-score.",
)
@click.option("--copy", is_flag=True, help="Copy images instead of symlinking them.")
@click.option(
    "--test-per-dataset",
    type=click.IntRange(min=0),
    default=2500,
    help="Images (or frames) held out for test per dataset.",
)
@click.option("--seed", type=int, default=0, help="Seed of the test split.")
@click.option(
    "--face-threshold",
    type=click.FloatRange(0, 1),
    default=0.8,
    help="Aff-Wild2: minimum RetinaFace score of a face.",
)
@click.option(
    "--face-max-side",
    type=click.IntRange(min=0),
    default=640,
    help="Aff-Wild2: the face detector sees frames shrunk to this long side (0: full size).",
)
@click.option(
    "--frame-stride",
    type=click.IntRange(min=1),
    default=1,
    help="Aff-Wild2: use every N-th frame.",
)
@click.option(
    "--max-frames-per-video",
    type=click.IntRange(min=0),
    default=0,
    help="Aff-Wild2: stop a video after this many labelled frames (0: no limit).",
)
@click.option(
    "--videos-list",
    type=EXISTING_FILE,
    help="Aff-Wild2: convert only the videos named in this file (one per line).",
)
@click.option(
    "--drop-crowded-frames",
    is_flag=True,
    help="Aff-Wild2: drop frames with more faces than labelled people (default: keep them).",
)
@click.option(
    "--split-by",
    type=click.Choice(["frames", "videos"]),
    default="frames",
    help="Aff-Wild2: hold out random frames (the paper) or whole videos (no leak).",
)
@click.option(
    "--workers",
    metavar="N|auto",
    default="1",
    help="Aff-Wild2: videos converted in parallel processes (auto: one per CPU of the task; "
    "never more than its CPUs).",
)
@click.option(
    "--shard",
    metavar="I/N|auto",
    help="Aff-Wild2: convert only every N-th video from the I-th (0-based; auto: from the "
    "SLURM array task), recording how the shard ended; then --merge.",
)
@click.option(
    "--merge",
    is_flag=True,
    help="Check that every shard finished (same options, same inputs) and write the lists; "
    "stop naming the shards that did not.",
)
@click.option(
    "--convert-missing",
    is_flag=True,
    help="With --merge: convert the missing or failed shards in this job instead of stopping.",
)
def datasets(**options: Any) -> None:
    """Convert ExpW (and Aff-Wild2) into Darknet's layout, split it and write obj.data."""
    from yof_darknet.datasets.build import build_datasets

    if options["convert_missing"] and not options["merge"]:
        raise click.UsageError("--convert-missing goes with --merge")
    if options["shard"]:
        if options["merge"]:
            raise click.UsageError("--shard converts one shard, --merge joins them: use one")
        _affwild2_shard(options)
        return
    recorded = {key: str(v) if isinstance(v, Path) else v for key, v in options.items()}
    if options["merge"]:
        recorded["shards"] = _check_shards(options)
    makers = (("expw", _expw_job), ("affwild2", _affwild2_job))
    jobs = [make(options) for key, make in makers if options[key]]
    summary = build_datasets(
        jobs,
        options["out"],
        test_per_dataset=options["test_per_dataset"],
        seed=options["seed"],
        options=recorded,
        progress=True,
    )
    _echo_summary(summary)


@click.command("sample")
@click.argument("out", type=OUT_DIR)
@click.option("--seed", type=int, default=0, help="Seed of the drawing.")
@click.option(
    "--images",
    type=click.IntRange(min=1),
    default=400,
    help="Number of ExpW images with drawn faces.",
)
@click.option(
    "--shuffle-labels",
    is_flag=True,
    help="Control: permute the ExpW faces' labels (same images and boxes, no class signal).",
)
def sample(out: Path, seed: int, images: int, shuffle_labels: bool) -> None:
    """Write the embedded sample: OUT/ExpW (drawn faces) and OUT/AffWild2 (short videos)."""
    from yof_darknet.datasets.sample import write_sample

    info = write_sample(out, seed=seed, images=images, shuffle_labels=shuffle_labels)
    expw = info.expw
    traps = ", ".join(f"{name} {n}" for name, n in sorted(expw.traps.items()))
    click.echo(
        f"ExpW: {expw.images} images, {expw.faces} drawn faces, {expw.rows} label.lst rows "
        f"({'labels permuted' if shuffle_labels else 'true labels'}); traps: {traps}"
    )
    click.echo(f"wrote {info.expw.root} and {info.affwild2}")


COMMANDS: list[click.Command] = [datasets, sample]
