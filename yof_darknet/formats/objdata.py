"""Darknet's ``obj.data`` file: ``key = value`` lines naming the class count, lists and folders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from yof_darknet.errors import DatasetError
from yof_darknet.fileio import atomic_write_text, read_lines


@dataclass(frozen=True)
class ObjData:
    """The keys we use; ``extra`` keeps any other key (``eval``, ``results``...) in file order."""

    classes: int
    train: Path
    valid: Path
    names: Path
    backup: Path
    extra: dict[str, str] = field(default_factory=dict)

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
        path: Path = getattr(self, key)
        if not path.is_file():
            raise DatasetError(f"{path}: image list not found (obj.data {key}=)")
        return [Path(line) for line in read_lines(path)]


def read_obj_data(path: Path) -> ObjData:
    """Parse ``obj.data``; relative paths are taken relative to the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: obj.data not found")
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
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
    valid = resolve(values.pop("valid", str(train)))
    names = resolve(values.pop("names"))
    backup = resolve(values.pop("backup", "backup"))
    return ObjData(classes, train, valid, names, backup, values)


def write_obj_data(path: Path, data: ObjData) -> None:
    """Write ``obj.data`` atomically with absolute paths (darknet's cwd then does not matter)."""
    lines = [
        f"classes = {data.classes}",
        f"train = {Path(data.train).resolve()}",
        f"valid = {Path(data.valid).resolve()}",
        f"names = {Path(data.names).resolve()}",
        f"backup = {Path(data.backup).resolve()}",
        *(f"{key} = {value}" for key, value in data.extra.items()),
    ]
    atomic_write_text(Path(path), "\n".join(lines) + "\n")
