"""CLI commands of the dataset stage; see yof_darknet/cli/__init__.py.

``datasets`` takes its options from ``DatasetsOptions`` (``datasets/options.py``, shared with
``reproduce``), which binds one converter per ``--<dataset>`` folder and runs ``build_datasets``.
``--shard`` converts one shard of the Aff-Wild2 videos and records how it ended
(``datasets.shards``); ``--merge`` checks those records before building.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from yof_darknet.cli.params import AFFWILD2_OPTION, EXPW_OPTION, OUT_DIR, pick, stage_options
from yof_darknet.core.errors import DatasetError
from yof_darknet.core.owned import output_lock
from yof_darknet.datasets.options import DatasetsOptions
from yof_darknet.samples.write import DEFAULT_IMAGES


def _shard(text: str | None) -> tuple[int, int] | None:
    """``--shard I/N``, or ``auto``: this SLURM array task's shard."""
    from yof_darknet.datasets.affwild2 import parse_shard
    from yof_darknet.tools.cluster import AUTO, array_shard

    if text is None:
        return None
    if text != AUTO:
        return parse_shard(text)
    shard = array_shard()
    click.echo(f"--shard auto: shard {shard[0]}/{shard[1]} (SLURM array task "
               f"{os.environ['SLURM_ARRAY_TASK_ID']})")  # fmt: skip
    return shard


def _affwild2_shard(options: DatasetsOptions, affwild2: Path | None, out: Path, shard: str) -> None:
    """``--shard I/N``: convert this shard's videos only; lists come from ``--merge``."""
    from yof_darknet.datasets.build import check_out_dir
    from yof_darknet.datasets.shards import record_path, run_shard

    if not affwild2:
        raise click.UsageError("--shard splits the Aff-Wild2 videos: pass --affwild2 DIR")
    out = out.resolve()
    check_out_dir(out, [affwild2], ["affwild2"])
    settings = options.affwild2(_shard(shard))
    with output_lock(out, shard=settings.shard):  # shards share OUT, each its own part
        result = run_shard(affwild2, out, settings, progress=True)
    _echo_affwild2(result.stats.details)
    done = settings.shard
    assert done is not None
    click.echo(
        f"shard {done[0]}/{done[1]}: {result.stats.details['videos']} videos done "
        f"(recorded in {record_path(out, done)}); when every shard has finished, run the same "
        "command with --merge instead of --shard to check them and write the lists, obj.data "
        "and stats.json"
    )


def _expw_shard(options: DatasetsOptions, expw: Path, out: Path, shard: str) -> None:
    """``--shard I/N`` with ``--expw`` (and ``--unannotated`` other than keep): this shard's
    share of the face detection, into the cache a plain run reuses."""
    from yof_darknet.datasets.build import check_out_dir
    from yof_darknet.datasets.expw import detect_expw_shard

    if options.unannotated == "keep":
        raise click.UsageError(
            "--shard with --expw splits the face detection of --unannotated report|mask|drop; "
            "with --unannotated keep there is nothing to split: run without --shard"
        )
    out = out.resolve()
    check_out_dir(out, [expw], ["expw"])
    settings = options.unannotated_options(_shard(shard))
    with output_lock(out, shard=settings.shard):  # shards share OUT, each its own part
        counts = detect_expw_shard(
            expw,
            out / "expw",
            min_face_score=options.min_face_score,
            drop_mixed_images=options.drop_mixed_images,
            unannotated=settings,
            progress=True,
        )
    assert settings.shard is not None
    index, count = settings.shard
    click.echo(
        f"expw shard {index}/{count}: faces of {counts['images']} images ({counts['detected']} "
        f"detected, {counts['reused']} from the cache); when every shard has finished, run the "
        "same command without --shard: it reuses the cache and writes the dataset"
    )


def _check_shards(
    options: DatasetsOptions, affwild2: Path | None, out: Path, convert_missing: bool
) -> dict[str, Any]:
    """``--merge``: every shard finished with these options and inputs, or stop (the check's
    outcome goes into stats.json)."""
    from yof_darknet.datasets.shards import check_shards, problems_message

    if not affwild2:
        raise click.UsageError("--merge joins the Aff-Wild2 shards: pass --affwild2 DIR")
    out = out.resolve()
    check = check_shards(affwild2, out, options.affwild2())
    click.echo(check.summary())
    if check.bad:
        if not convert_missing:
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


def _echo_unannotated(found: dict[str, Any], unit: str) -> None:
    cache = found.get("cache")
    cached = (
        f" (faces detected in {cache['detected']} images, {cache['reused']} from the cache)"
        if cache
        else ""
    )
    click.echo(
        f"  unannotated faces ({found['mode']}): {found['unannotated_faces']} in "
        f"{found['images_with_unannotated']} of {found['images_checked']} {unit}; masked "
        f"{found['masked_images']}, dropped {found['dropped_images']} {unit}{cached}"
    )
    if found.get("images_unreadable"):
        click.echo(f"  {found['images_unreadable']} images OpenCV could not read were not checked")
    click.echo(f"  {'class':<10} {unit:>7} {'faces':>6} {'masked':>7} {'dropped':>8}")
    for name, row in found["classes"].items():
        click.echo(
            f"  {name:<10} {row['images_with_unannotated']:>7} {row['unannotated_faces']:>6} "
            f"{row['masked_images']:>7} {row['dropped_images']:>8}"
        )


def _echo_balance(balance: dict[str, Any]) -> None:
    if balance["mode"] == "none":
        faces = ", ".join(f"{name} {n}" for name, n in balance["faces"].items())
        click.echo(f"training faces per class: {faces}")
        return
    click.echo(
        f"--balance oversample:{balance['cap']}: {balance['repeated_images']} of "
        f"{balance['train_images']} training images repeated, train.txt has "
        f"{balance['train_lines']} lines"
    )
    click.echo(f"  {'class':<10} {'faces before':>12} {'share':>6} {'after':>12} {'share':>6}")
    for name, before in balance["faces_before"].items():
        click.echo(
            f"  {name:<10} {before:>12} {balance['share_before'][name]:>6.1%} "
            f"{balance['faces_after'][name]:>12} {balance['share_after'][name]:>6.1%}"
        )


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
        for example in data["details"].get("box_file_examples", []):
            click.echo(f"  box file: {example}")
        if data["details"].get("renamed"):
            click.echo(
                f"  {data['details']['renamed']} images renamed for Darknet "
                f"(see {data['details']['renamed_file']})"
            )
        derived = data["details"].get("derived", {})
        if derived.get("copies"):
            why = ", ".join(
                f"{derived[key]} {key}" for key in ("upright", "shrunk", "recoded", "masked")
                if derived[key]
            )  # fmt: skip
            click.echo(f"  {derived['copies']} images written as derived copies ({why})")
        if "unannotated" in data["details"]:
            unit = "frames" if name == "affwild2" else "images"
            _echo_unannotated(data["details"]["unannotated"], unit)
        val = f", validation {images['val']} images" if images["val"] else ""
        click.echo(f"  train {images['train']} images, test {images['test']} images{val}")
    _echo_balance(summary.stats["balance"])
    for message in summary.messages:
        click.secho(f"note: {message}", fg="yellow")
    totals = summary.stats["totals"]
    click.echo(
        f"train: {totals['images']['train']} images ({totals['faces']['train']} faces), "
        f"test: {totals['images']['test']} images ({totals['faces']['test']} faces)"
    )
    validation = summary.stats["validation"]
    if validation["mode"] == "off":
        click.echo(f"validation: off ({validation['why']}); obj.data has no val list")
    else:
        click.echo(
            f"validation: {totals['images']['val']} images ({totals['faces']['val']} faces) "
            f"from the training images, in {validation['list']} (obj.data val=)"
        )
    click.echo(f"wrote {summary.obj_data}, lists and stats.json in {summary.out}")


@click.command("datasets")
@EXPW_OPTION
@AFFWILD2_OPTION
@click.option(
    "--out",
    required=True,
    type=OUT_DIR,
    help="Output folder: images + labels, train.txt, test*.txt, val*.txt, obj.data, stats.json.",
)
@stage_options(DatasetsOptions)
@click.option(
    "--shard",
    metavar="I/N|auto",
    help="Aff-Wild2: convert only every N-th video from the I-th (0-based; auto: from the "
    "SLURM array task), recording how the shard ended; then --merge. ExpW (--unannotated "
    "report|mask|drop): detect faces of every N-th chunk of images into the cache only; then "
    "run without --shard.",
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
def datasets(
    expw: Path | None,
    affwild2: Path | None,
    out: Path,
    shard: str | None,
    merge: bool,
    convert_missing: bool,
    **given: Any,
) -> None:
    """Convert ExpW, Aff-Wild2, AffectNet, RAF-DB and your own labelled photos (any of them,
    together) into Darknet's layout, split them and write obj.data."""
    options = pick(DatasetsOptions, given)
    if convert_missing and not merge:
        raise click.UsageError("--convert-missing goes with --merge")
    if shard:
        if merge:
            raise click.UsageError("--shard converts one shard, --merge joins them: use one")
        if not expw and not affwild2:
            raise click.UsageError("--shard splits --affwild2 videos or --expw face detection")
        if expw:
            _expw_shard(options, expw, out, shard)
        if affwild2:
            _affwild2_shard(options, affwild2, out, shard)
        return
    if not merge:
        _echo_summary(options.build(expw, affwild2, out))
        return
    from yof_darknet.datasets.build import check_out_dir

    raws = [raw for raw in (expw, affwild2) if raw is not None]
    check_out_dir(
        out.resolve(), raws, [n for n, r in (("expw", expw), ("affwild2", affwild2)) if r]
    )
    with output_lock(out.resolve()):  # no shard may still write while the merge checks
        extra = {"shards": _check_shards(options, affwild2, out, convert_missing)}
        _echo_summary(options.build(expw, affwild2, out, recorded=extra))


@click.command("sample")
@click.argument("out", type=OUT_DIR)
@click.option("--seed", type=int, default=0, help="Seed of the drawing.")
@click.option(
    "--images",
    type=click.IntRange(min=1),
    default=DEFAULT_IMAGES,
    help="Number of ExpW images with drawn faces.",
)
@click.option(
    "--shuffle-labels",
    is_flag=True,
    help="Control: permute the ExpW faces' labels (same images and boxes, no class signal).",
)
@click.option(
    "--lookalikes",
    is_flag=True,
    help="Also write OUT/AffectNet and OUT/RAF-DB: drawn faces in those datasets' exact "
    "layouts and formats, with their traps (to try --affectnet and --rafdb).",
)
def sample(out: Path, seed: int, images: int, shuffle_labels: bool, lookalikes: bool) -> None:
    """Write the embedded sample: OUT/ExpW (drawn faces) and OUT/AffWild2 (short videos)."""
    from yof_darknet.samples.write import write_sample

    info = write_sample(out, seed=seed, images=images, shuffle_labels=shuffle_labels)
    expw = info.expw
    traps = ", ".join(f"{name} {n}" for name, n in sorted(expw.traps.items()))
    click.echo(
        f"ExpW: {expw.images} images, {expw.faces} drawn faces, {expw.rows} label.lst rows "
        f"({'labels permuted' if shuffle_labels else 'true labels'}); traps: {traps}"
    )
    click.echo(f"wrote {info.expw.root} and {info.affwild2}")
    if lookalikes:
        _lookalikes(out, seed)


def _lookalikes(out: Path, seed: int) -> None:
    from yof_darknet.core.owned import refuse_linked_folders
    from yof_darknet.samples.affectnet import write_affectnet_sample
    from yof_darknet.samples.rafdb import write_rafdb_sample

    for name in ("AffectNet", "RAF-DB"):
        refuse_linked_folders(out / name)  # a link there could lead into real data
    affectnet = write_affectnet_sample(out / "AffectNet", seed)
    rafdb = write_rafdb_sample(out / "RAF-DB", seed)
    for title, info, lines in (("AffectNet", affectnet, affectnet.rows),
                               ("RAF-DB", rafdb, rafdb.lines)):  # fmt: skip
        traps = ", ".join(f"{reason} {n}" for reason, n in sorted(info.reasons.items()))
        click.echo(f"{title}: {lines} rows, {info.kept} faces to keep; traps: {traps}")
    click.echo(f"wrote {affectnet.root} and {rafdb.root}")


COMMANDS: list[click.Command] = [datasets, sample]
