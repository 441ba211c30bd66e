"""Which network a run's weights belong to: ``runs/NAME/network.json``, written by ``train``.

Darknet's weights hold parameters only: the same layers with other anchors, another network
size or another class count read them without a word and give junk boxes (the template
``cfg/yolov3-tiny.cfg`` with a trained run's weights scores mAP 0.00). The run folder therefore
records what its weights were trained with, and ``detect``, ``map`` and ``export`` compare the
cfg they are given with it (:func:`check_network`)::

    {"cfg": "yolov3-tiny.cfg", "width": 416, "height": 416, "classes": [7, 7],
     "anchors": [[10.0, 14.0, ...], [10.0, 14.0, ...]], "masks": [[3, 4, 5], [0, 1, 2]]}

Runs trained before the record existed are compared with the one run cfg in their folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from yof_darknet.core.errors import DarknetError
from yof_darknet.core.fileio import atomic_write_text
from yof_darknet.formats.cfg import Section, net_int, read_cfg, yolo_heads

RECORD = "network.json"


def network_record(sections: Sequence[Section], cfg_name: str) -> dict[str, Any]:
    """What the weights of a cfg depend on beyond their layer sizes."""
    heads = [sections[i] for i in yolo_heads(sections)]
    return {
        "cfg": cfg_name,
        "width": net_int(sections, "width"),
        "height": net_int(sections, "height"),
        "classes": [int(h.get("classes", "0") or 0) for h in heads],
        "anchors": [_numbers(h.get("anchors", "")) for h in heads],
        "masks": [h.ints("mask") for h in heads],
    }


def _numbers(text: str | None) -> list[float]:
    try:
        return [float(part) for part in (text or "").split(",") if part.strip()]
    except ValueError:
        return []


def write_network_record(run_dir: Path, cfg: Path, sections: Sequence[Section]) -> Path:
    """Record in ``run_dir`` the network ``cfg`` trains (``sections``: its content)."""
    path = Path(run_dir) / RECORD
    atomic_write_text(path, json.dumps(network_record(sections, Path(cfg).name), indent=1) + "\n")
    return path


def _recorded(weights: Path) -> tuple[Path, dict[str, Any]] | None:
    """The run folder of ``weights`` (``runs/NAME/weights/x.weights``, also ``burn-in/``) and
    its record, or a record made from its one run cfg; None outside a run folder."""
    for folder in list(Path(weights).absolute().parents)[:3]:
        record = folder / RECORD
        if record.is_file():
            try:
                return folder, json.loads(record.read_text())
            except (OSError, ValueError):
                return None
        cfgs = sorted(folder.glob("*.cfg"))
        if (folder / "train.log").is_file() and len(cfgs) == 1:
            try:
                return folder, network_record(read_cfg(cfgs[0]), cfgs[0].name)
            except DarknetError:
                return None
    return None


def check_network(cfg: Path | str, sections: Sequence[Section], weights: Path) -> list[str]:
    """Refuse ``cfg`` for ``weights`` of a run folder that recorded other anchors, masks or class
    counts (``DarknetError`` naming the run's cfg); return notes on what may differ (the
    network size: inference at another size is allowed)."""
    found = _recorded(weights)
    if found is None:
        return []
    run_dir, record = found
    given = network_record(sections, Path(cfg).name)
    run_cfg = run_dir / str(record.get("cfg", "<its cfg>"))
    try:
        if run_cfg.samefile(cfg):
            return []
    except OSError:
        pass
    differ = [
        f"{key} {given[key]} (trained: {record.get(key)})"
        for key in ("classes", "masks", "anchors")
        if key in record and given[key] != record[key]
    ]
    if differ:
        raise DarknetError(
            f"{cfg}: not the network {weights} was trained as (run folder {run_dir}): "
            f"{'; '.join(differ)}; with another cfg's anchors or classes its boxes are junk. "
            f"Give --cfg {run_cfg}"
        )
    size = (given["width"], given["height"])
    trained = (record.get("width"), record.get("height"))
    if size != trained:
        return [
            f"{cfg}: network size {size[0]}x{size[1]}, but {weights} was trained at "
            f"{trained[0]}x{trained[1]} ({run_cfg}); boxes may be worse at another size"
        ]
    return []
