"""mAP (and face AP, where the evaluator reports it) of each row, through ``map``'s own path
(``yof-darknet map --engine ort|opencv``): the same detections, thresholds and arithmetic as
Table II. Rows that run the same model file share one score; OpenCV DNN on an ONNX file (an
Ultralytics export) is scored through ONNX Runtime on that file, and says so."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from yof_darknet.core.engines import OPENCV, ORT
from yof_darknet.workflows.benchmark.rows import Row

if TYPE_CHECKING:
    from yof_darknet.evaluate.run import MapOutcome


ONNX_IN_OPENCV = "ONNX Runtime's detections of the same fp32 file (OpenCV DNN not scored)"


@dataclass(frozen=True)
class Score:
    map: float | None  # 0..1
    face_ap: float | None  # 0..1, class-agnostic AP of the faces (None: not reported)
    note: str = ""


def _face_ap(outcome: MapOutcome) -> float | None:
    """The class-agnostic face AP of a ``map`` outcome (Table II's ``face``), where the
    evaluator computes one."""
    face = outcome.table.face
    return None if face is None else float(face.face_ap)


def _opencv_cfg(cfg: Path, size: int, folder: Path) -> Path:
    """A copy of ``cfg`` at ``size`` (OpenCV's importer reads the size from the cfg)."""
    from yof_darknet.formats.cfg import apply_setting, dump_cfg, parse_cfg

    sections = parse_cfg(cfg.read_text(errors="replace"), str(cfg))
    apply_setting(sections, "net.width", str(size))
    apply_setting(sections, "net.height", str(size))
    copy = folder / f"{cfg.stem}-{size}.cfg"
    copy.write_text(dump_cfg(sections))
    return copy


def score_rows(
    rows: Sequence[Row], data: Path, cfg: Path, weights: Path, echo: Callable[[str], None]
) -> dict[str, Score]:
    """{row key: :class:`Score`} on ``data``'s test list."""
    from yof_darknet.evaluate.options import MapOptions
    from yof_darknet.evaluate.run import run_map

    done: dict[str, tuple[str, Score]] = {}  # model -> (first row scored on it, its score)
    scores: dict[str, Score] = {}
    # OpenCV on an ONNX file last: the file's score is then an ONNX Runtime row's
    onnx_in_opencv = [r for r in rows if r.name == "opencv" and r.model is not None]
    with tempfile.TemporaryDirectory(prefix="yof-bench-map-") as tmp:
        for row in [*(r for r in rows if r not in onnx_in_opencv), *onnx_in_opencv]:
            if row.name.startswith("openvino"):
                scores[row.key] = Score(None, None, "not scored: map runs ONNX Runtime or OpenCV")
                continue
            same = f"opencv@{row.size}" if row.model is None else str(row.model)
            note = ONNX_IN_OPENCV if row in onnx_in_opencv else ""
            if same in done:
                first, score = done[same]
                note = f"{note} ({first})" if note else f"the model of {first}"
                scores[row.key] = Score(score.map, score.face_ap, note)
                continue
            echo(f"benchmark: scoring {row.key} on {data}")
            if row.model is None:
                request = MapOptions(data=data, weights=weights, engine=OPENCV,
                                     cfg=_opencv_cfg(cfg, row.size, Path(tmp)))  # fmt: skip
            else:
                request = MapOptions(data=data, engine=ORT, model=row.model)
            outcome = run_map(request)
            scores[row.key] = Score(outcome.table.combined.map, _face_ap(outcome), note)
            done[same] = (row.key, scores[row.key])
    return scores
