"""Darknet's ``obj.data`` file: ``key = value`` lines naming the class count, lists and folders."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from yof_darknet.core.errors import DatasetError
from yof_darknet.core.fileio import atomic_write_text, read_lines
from yof_darknet.formats.imagefiles import read_list


@dataclass(frozen=True)
class ObjData:
    """The keys we use; ``extra`` keeps any other key (``eval``, ``results``...) in file order."""

    classes: int
    train: Path
    valid: Path | None  # None: the file has no valid= (nothing to score)
    names: Path
    backup: Path
    extra: dict[str, str] = field(default_factory=dict)
    source: Path | None = None  # the file it was read from

    def read_names(self) -> list[str]:
        """Class names from ``names``, one per line (blank lines ignored)."""
        if not self.names.is_file():
            raise DatasetError(f"{self.names}: names file not found (named by obj.data)")
        names = read_lines(self.names)
        if len(names) != self.classes:
            raise DatasetError(
                f"{self.names}: {len(names)} names but obj.data says classes={self.classes}"
            )
        return names

    def read_list(self, key: str = "valid") -> list[Path]:
        """Image paths of the ``train`` or ``valid`` list, in file order."""
        path: Path | None = getattr(self, key)
        if path is None:
            raise DatasetError(
                f"{self.source}: no {key}= line, so there is no test list to score (Darknet "
                f"would silently score the training list); add '{key} = <your test.txt>'"
            )
        if not path.is_file():
            raise DatasetError(f"{path}: image list not found (obj.data {key}=)")
        return [Path(line) for line in read_list(path)]


def read_obj_data(path: Path) -> ObjData:
    """Parse ``obj.data``; relative paths are taken relative to the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: obj.data not found")
    values: dict[str, str] = {}
    text = os.fsdecode(path.read_bytes())  # paths that are not UTF-8 name their files
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise DatasetError(f"{path}:{number}: expected 'key = value', got {raw!r}")
        key, value = (part.strip() for part in line.split("=", 1))
        values[key] = value
    missing = [key for key in ("classes", "train", "names") if key not in values]
    if missing:
        raise DatasetError(f"{path}: missing key(s) {', '.join(missing)}")
    try:
        classes = int(values.pop("classes"))
    except ValueError as exc:
        raise DatasetError(f"{path}: classes must be an integer") from exc

    def resolve(value: str) -> Path:
        candidate = Path(value)
        return candidate if candidate.is_absolute() else (path.parent / candidate).resolve()

    train = resolve(values.pop("train"))
    valid = resolve(values.pop("valid")) if values.get("valid") else None
    values.pop("valid", None)
    names = resolve(values.pop("names"))
    backup = resolve(values.pop("backup", "backup"))
    return ObjData(classes, train, valid, names, backup, values, path)


def obj_data_text(data: ObjData) -> str:
    """``obj.data`` with absolute paths (darknet's cwd then does not matter); links are kept as
    named (a dataset's lists are stable links to the current generation)."""
    lines = [
        f"classes = {data.classes}",
        *(
            f"{key} = {os.path.abspath(getattr(data, key))}"
            for key in ("train", "valid", "names", "backup")
            if getattr(data, key) is not None
        ),
        *(f"{key} = {value}" for key, value in data.extra.items()),
    ]
    return "\n".join(lines) + "\n"


def write_obj_data(path: Path, data: ObjData) -> None:
    """Write ``obj.data`` atomically (see ``obj_data_text``)."""
    atomic_write_text(Path(path), obj_data_text(data))


VAL_KEY = "val"  # the validation list `datasets` writes beside train.txt/test.txt
RERUN_DATASETS = (
    "re-run `yof-darknet datasets` (it writes val.txt and val= into obj.data), then train"
)


def validation_list(data: ObjData, test_list: Path | None = None) -> Path:
    """The validation list of an obj.data: its ``val=`` key, else its ``valid=`` when that is
    neither ``test_list`` nor the ``test.txt`` beside the train list (and one of them exists);
    raise ``DatasetError`` when there is none (choosing weights on a test list flatters it)."""
    where = data.source or "obj.data"
    value = data.extra.get(VAL_KEY)
    if value:
        path = Path(value)
        if not path.is_absolute() and data.source is not None:
            path = (data.source.parent / path).resolve()
        if not path.is_file():
            raise DatasetError(f"{where}: val = {value}: validation list not found; "
                               f"{RERUN_DATASETS}")  # fmt: skip
        return path
    tests = {
        os.path.realpath(p)
        for p in (test_list, data.train.parent / "test.txt")
        if p is not None and p.exists()
    }
    valid = data.valid
    if valid is not None and valid.is_file() and tests and os.path.realpath(valid) not in tests:
        return valid
    raise DatasetError(
        f"{where}: no validation list (no val= line, and valid= is a test list or unknown): "
        f"{RERUN_DATASETS}"
    )
