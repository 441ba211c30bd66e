"""Which class names belong to a model: a list, a names file, or the files a run folder holds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from yof_darknet.core.errors import InferenceError, YofError
from yof_darknet.core.expressions import CLASSES
from yof_darknet.core.fileio import read_lines
from yof_darknet.formats.objdata import read_obj_data


def read_names(path: Path) -> list[str]:
    """Class names from a names file, one per line (blank lines ignored)."""
    if not path.is_file():
        raise InferenceError(f"{path}: names file not found; pass --names FILE")
    return read_lines(path)


def resolve_names(names: Sequence[str] | str | Path | None, cfg: Path, weights: Path) -> list[str]:
    """The class names: a list as given, a names file, or (``None``) the ``names=`` file of an
    ``obj.data`` beside the cfg (a run folder), an ``obj.names`` beside the cfg or the weights,
    else the 7 expression classes."""
    if isinstance(names, (str, Path)):
        return read_names(Path(names))
    if names is not None:
        return list(names)
    try:
        return read_names(read_obj_data(cfg.parent / "obj.data").names)
    except YofError:
        pass
    for folder in (cfg.parent, weights.parent, weights.parent.parent):
        candidate = folder / "obj.names"
        if candidate.is_file():
            return read_names(candidate)
    return list(CLASSES)
