"""CLI commands of this stage: ``export``; see yof_darknet/cli/__init__.py."""

from __future__ import annotations

from pathlib import Path

import click

from yof_darknet.cli.params import EXISTING_FILE, SizeType


@click.command("export")
@click.option("--cfg", required=True, type=EXISTING_FILE, help="The Darknet cfg.")
@click.option("--weights", required=True, type=EXISTING_FILE, help="Its .weights file.")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="model.onnx"
)
@click.option(
    "--names",
    type=EXISTING_FILE,
    help="Class names recorded in the model [default: as `detect` finds them].",
)
@click.option("--size", type=SizeType(), help="Network input, a multiple of 32 [default: cfg's].")
@click.option(
    "--bn-flavor",
    type=click.Choice(["auto", "alexeyab", "pjreddie"]),
    default="auto",
    help="Darknet that trained the weights, for the batch-norm epsilon folded into the convs "
    "(AlexeyAB/hank-ai sqrt(var + 1e-5), pjreddie sqrt(var) + 1e-6); auto: pjreddie when the "
    "run's train.log is pjreddie's, else alexeyab.",
)
@click.option("--int8", is_flag=True, help="Static int8 (QDQ) quantization; needs --calibrate.")
@click.option(
    "--calibrate",
    type=EXISTING_FILE,
    help="Image list to calibrate int8 activations on (the training list, train.txt).",
)
@click.option(
    "--images",
    type=click.IntRange(min=1),
    default=100,
    help="Calibration images, spread evenly over the list.",
)
@click.option(
    "--calibration",
    type=click.Choice(["percentile", "minmax", "entropy"]),
    default="percentile",
    help="How activation ranges are chosen (percentile 99.999 kept accuracy best).",
)
@click.option("--fp32-heads", is_flag=True, help="Keep the [yolo] head convolutions in fp32.")
@click.option(
    "--weight-bits",
    type=click.Choice(["auto", "7", "8"]),
    default="auto",
    help="int8 weights: 7 bits (reduce_range) unless the CPU has VNNI (avx512_vnni/avx_vnni), "
    "where 8 bits cannot overflow ONNX Runtime's kernels.",
)
def export(
    cfg: Path,
    weights: Path,
    out: Path,
    names: Path | None,
    size: int | tuple[int, int] | None,
    bn_flavor: str,
    int8: bool,
    calibrate: Path | None,
    images: int,
    calibration: str,
    fp32_heads: bool,
    weight_bits: str,
) -> None:
    """Convert a Darknet cfg + weights to ONNX (fp32, or int8 with --int8 --calibrate LIST) for
    `detect --model` and `map --engine onnx`. The model records the cfg and weights sha256,
    network size, letterbox setting, class names and the [yolo] heads' anchors."""
    from yof_darknet.export.run import ExportOptions, export_model

    options = ExportOptions(
        cfg=cfg,
        weights=weights,
        out=out,
        names=names,
        size=(size, size) if isinstance(size, int) else size,
        bn_flavor=bn_flavor,
        int8=int8,
        calibrate=calibrate,
        images=images,
        calibration=calibration,
        fp32_heads=fp32_heads,
        reduce_range=None if weight_bits == "auto" else weight_bits == "7",
    )
    result = export_model(options)
    for reason in result.skipped:
        click.echo(f"skipped {reason}", err=True)
    info = result.info
    detail = f"{info.width}x{info.height}, {len(info.names)} classes, BN {info.bn_flavor}"
    if info.precision == "int8":
        q = info.quantization
        detail += (
            f", int8 {q['weight_bits']}-bit weights, {q['calibration']} calibration on "
            f"{result.calibrated_on} image(s)"
        )
    click.echo(f"wrote {result.out} ({detail})", err=True)


COMMANDS: list[click.Command] = [export]
