"""What ``yof-darknet serve`` serves: a fixed table of URL paths, each to one file or one
generated document, made once at start. A path not in the table does not exist (404), whatever
it contains: nothing outside the table can be reached, ``..`` or not.

    /                      the page (web/index.html)
    /app/NAME              the page's scripts and style (web/*.js, web/*.css)
    /ort/NAME              ONNX Runtime Web (web/vendor/onnxruntime-web, see runtime.py)
    /model.onnx            the model
    /resize.onnx           the pre-processing's resize (``netinput.resize_graph("rgba")``): the
                           page runs it in ONNX Runtime Web, the same kernel as ``detect``'s
    /config.json           what the page needs: the model's metadata (input size, letterbox, class
                           names, [yolo] heads), the starting threshold and NMS, the run
    /run/NAME.png          with --run: results.png, map/pr_curves.png, map/confusion_matrix.png
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from yof_darknet import __version__
from yof_darknet.core.errors import ServeError
from yof_darknet.formats.modelinfo import ModelInfo
from yof_darknet.serve.options import ServeOptions
from yof_darknet.serve.runtime import WEB, Runtime
from yof_darknet.tools.netinput import resize_graph

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".json": "application/json",
    ".png": "image/png",
}
# The run's figures: URL name -> path inside the run folder (as `train` and `map` write them).
RUN_FIGURES = {
    "results.png": Path("results.png"),
    "pr_curves.png": Path("map") / "pr_curves.png",
    "confusion_matrix.png": Path("map") / "confusion_matrix.png",
}
RUN_TABLE = Path("map") / "table2.csv"


@dataclass(frozen=True)
class Resource:
    """One URL's answer: a file's bytes (read at each request) or a fixed document."""

    content_type: str
    path: Path | None = None
    data: bytes | None = None
    cache: bool = False  # the browser may keep it (the runtime: a pinned version)


@dataclass(frozen=True)
class Model:
    """The served model: the ONNX file, its metadata, and what it was made from."""

    path: Path
    info: ModelInfo
    source: str  # how it was given, for the page and the console


def resolve_model(options: ServeOptions) -> Model:
    """The model ``options`` name: --model, --cfg + --weights (exported once, as ``detect``
    does), or the cfg and final weights of --run."""
    from yof_darknet.infer.engines import read_model_info

    if options.model is not None:
        if options.cfg is not None or options.weights is not None or options.size is not None:
            raise ServeError(
                f"{options.model}: give --model alone (its size and classes are in it), or "
                "--cfg and --weights"
            )
        path, source = Path(options.model), str(options.model)
    else:
        cfg, weights = options.cfg, options.weights
        if cfg is None and weights is None and options.run is not None:
            cfg, weights = run_model(Path(options.run))
        if cfg is None or weights is None:
            raise ServeError("give --model M.onnx, or --cfg C and --weights W, or --run runs/NAME")
        path, source = _export(Path(cfg), Path(weights), options.size), f"{cfg} + {weights}"
    info = read_model_info(path)
    if not info.heads:
        raise ServeError(f"{path}: a classifier's export (no [yolo] heads); serve a detector")
    return Model(path, info, source)


def run_model(run: Path) -> tuple[Path, Path]:
    """The cfg and final weights of a run folder (``runs/NAME/ARCH.cfg``,
    ``runs/NAME/weights/ARCH_final.weights``)."""
    from yof_darknet.training.archs import get_arch, run_arch

    name = run_arch(run)
    if name is None:
        raise ServeError(f"{run}: no run cfg (yolov3-tiny.cfg, ...) in it; pass --model or --cfg")
    arch = get_arch(name)
    weights = run / "weights" / arch.final_weights
    if not weights.is_file():
        raise ServeError(
            f"{weights}: not there (training not finished?); pass --weights "
            f"{run / 'weights'}/<the weights to show> --cfg {run / arch.cfg_name}"
        )
    return run / arch.cfg_name, weights


def _export(cfg: Path, weights: Path, size: int | tuple[int, int] | None) -> Path:
    from yof_darknet.export.cache import cached_model
    from yof_darknet.formats.cfg import net_int, read_cfg
    from yof_darknet.formats.names import resolve_names

    sections = read_cfg(cfg)
    default = (net_int(sections, "width"), net_int(sections, "height"))
    wh = default if size is None else ((size, size) if isinstance(size, int) else size)
    if wh[0] <= 0 or wh[1] <= 0 or wh[0] % 32 or wh[1] % 32:
        raise ServeError(f"{cfg}: network size {wh[0]}x{wh[1]} is not a positive multiple of 32")
    return cached_model(cfg, weights, wh, resolve_names(None, cfg, weights))


def run_summary(run: Path) -> dict:
    """The run as the page shows it: name, Table II rows (from ``map/table2.csv``) and which
    figures exist; a missing part is named with the command that makes it."""
    table = run / RUN_TABLE
    rows: list[list[str]] = []
    if table.is_file():
        rows = list(csv.reader(io.StringIO(table.read_text(errors="replace"))))
    return {
        "name": run.name,
        "path": str(run),
        "table": rows,
        "table_hint": None if rows else f"no {table}: run `yof-darknet map` with --out {run}/map",
        "figures": {name: (run / rel).is_file() for name, rel in RUN_FIGURES.items()},
    }


def page_config(model: Model, options: ServeOptions, run: dict | None) -> dict:
    """``/config.json``: everything the page needs besides the model's bytes."""
    info = model.info
    return {
        "version": __version__,
        "resize_url": "/resize.onnx",
        "model": {
            "url": "/model.onnx",
            "name": model.path.name,
            "source": model.source,
            "precision": info.precision,
            "width": info.width,
            "height": info.height,
            "letter_box": info.letter_box,
            "names": list(info.names),
            "outputs": list(info.outputs),
            "heads": [asdict(head) for head in info.heads],
        },
        "thresh": options.thresh,
        "nms": options.nms,
        "run": run,
    }


def build_site(
    options: ServeOptions, runtime: Runtime, model: Model, web: Path = WEB
) -> dict[str, Resource]:
    """The URL table (see the module's docstring)."""
    run = None
    if options.run is not None:
        if not Path(options.run).is_dir():
            raise ServeError(f"{options.run}: no such run folder")
        run = run_summary(Path(options.run))
    routes = {"/": Resource(CONTENT_TYPES[".html"], path=web / "index.html")}
    for path in sorted(web.iterdir()):
        if path.suffix in (".js", ".css") and path.is_file():
            routes[f"/app/{path.name}"] = Resource(CONTENT_TYPES[path.suffix], path=path)
    for path in sorted(runtime.folder.iterdir()):
        if path.suffix in (".mjs", ".wasm") and path.is_file():
            routes[f"/ort/{path.name}"] = Resource(CONTENT_TYPES[path.suffix], path, cache=True)
    routes["/model.onnx"] = Resource(CONTENT_TYPES[".onnx"], path=model.path)
    resize = resize_graph("rgba").SerializeToString()
    routes["/resize.onnx"] = Resource(CONTENT_TYPES[".onnx"], data=resize)
    config = page_config(model, options, run)
    routes["/config.json"] = Resource(
        CONTENT_TYPES[".json"], data=(json.dumps(config, indent=1) + "\n").encode()
    )
    if run is not None:
        for name, present in run["figures"].items():
            if present:
                assert options.run is not None  # run was read from it
                path = Path(options.run) / RUN_FIGURES[name]
                routes[f"/run/{name}"] = Resource(CONTENT_TYPES[".png"], path=path)
    return routes
