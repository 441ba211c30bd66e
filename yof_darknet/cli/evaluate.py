"""CLI commands of this stage; see yof_darknet/cli/__init__.py."""

from __future__ import annotations

from pathlib import Path

import click

from yof_darknet.cli.params import DARKNET_OPTION, EXISTING_DIR, EXISTING_FILE

_PATH = click.Path(path_type=Path)


@click.command("map")
@click.option(
    "--data", type=EXISTING_FILE, help="obj.data naming the test list (valid=) and names."
)
@click.option("--weights", type=EXISTING_FILE, help="Trained .weights file.")
@click.option(
    "--cfg", type=EXISTING_FILE, help="Network .cfg (default: the only .cfg beside the weights)."
)
@click.option(
    "--points",
    type=click.Choice(["0", "11", "101"]),
    default="0",
    help="0: area under the PR curve (AlexeyAB's default since 2019-03); 11: VOC2007 (the only "
    "kind before); 101: COCO.",
)
@click.option(
    "--iou",
    "iou_thresh",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.5,
    help="IoU a detection needs (strictly more) to match a face.",
)
@click.option(
    "--engine",
    type=click.Choice(["darknet", "python", "onnx"]),
    default="darknet",
    help="darknet: `detector map` (AlexeyAB, hank-ai) or `detector valid` + our evaluator "
    "(pjreddie); python: OpenCV DNN detections + our evaluator, no darknet needed; onnx: ONNX "
    "Runtime detections (of --model, or the cfg + weights exported) + our evaluator.",
)
@click.option(
    "--model",
    type=EXISTING_FILE,
    help="--engine onnx: an exported ONNX model (e.g. int8); --weights/--cfg then optional.",
)
@click.option(
    "--from-log", type=EXISTING_FILE, help="Parse a saved `detector map` (or -map training) log."
)
@click.option(
    "--results",
    type=EXISTING_DIR,
    help="Score existing `detector valid` files (comp4_det_test_<class>.txt).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md",
    help="What to print; all three are written to --out.",
)  # fmt: skip
@click.option("--out", type=_PATH, default=Path("map"), help="Output folder.")
@DARKNET_OPTION
def map_command(
    data: Path | None,
    weights: Path | None,
    cfg: Path | None,
    points: str,
    iou_thresh: float,
    engine: str,
    model: Path | None,
    from_log: Path | None,
    results: Path | None,
    fmt: str,
    out: Path,
    darknet_path: Path | None,
) -> None:
    """Table II: AP per expression and mAP beside the paper's, in OUT/table2.{md,csv,json}.

    With our evaluator (pjreddie darknet, --engine python, --results) also writes
    confusion_matrix.{csv,png} and pr_curves.png. Per dataset (ExpW, Aff-Wild2) when
    test_expw.txt / test_affwild2.txt sit beside the test list.
    """
    from yof_darknet.evaluate.run import MapRequest, run_map, write_outputs
    from yof_darknet.evaluate.table import render

    request = MapRequest(
        data=data, weights=weights, cfg=cfg, points=int(points), iou_thresh=iou_thresh,
        engine=engine, from_log=from_log, results=results, out=out, darknet=darknet_path,
        model=model,
    )  # fmt: skip
    outcome = run_map(request)
    written = write_outputs(outcome, out)
    click.echo(render(outcome.table, fmt), nl=False)
    click.echo(f"wrote {', '.join(str(p) for p in written)}", err=True)


COMMANDS: list[click.Command] = [map_command]
