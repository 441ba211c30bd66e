"""obj.data: extra keys kept in order; the validation list (val=, else valid= if not the test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from yof_darknet.core.errors import DatasetError
from yof_darknet.formats.objdata import read_obj_data, validation_list, write_obj_data


def _data(root: Path, extra: str = "", valid: str = "test.txt") -> Path:
    for name in ("train.txt", "test.txt", "val.txt", "other.txt", "obj.names"):
        (root / name).write_text("")
    path = root / "obj.data"
    path.write_text(f"classes = 7\ntrain = train.txt\nvalid = {valid}\nnames = obj.names\n{extra}")
    return path


def test_extra_keys_survive_a_rewrite(tmp_path: Path) -> None:
    path = _data(tmp_path, f"eval = coco\nval = {tmp_path / 'val.txt'}\n")
    obj = read_obj_data(path)
    write_obj_data(tmp_path / "copy.data", obj)
    copy = read_obj_data(tmp_path / "copy.data")
    assert copy.extra == {"eval": "coco", "val": str(tmp_path / "val.txt")}
    assert "val = " in (tmp_path / "copy.data").read_text().splitlines()[-1]


def test_val_key_is_the_validation_list(tmp_path: Path) -> None:
    obj = read_obj_data(_data(tmp_path, "val = val.txt\n"))
    assert validation_list(obj) == tmp_path / "val.txt"


def test_valid_counts_only_when_it_is_not_the_test_list(tmp_path: Path) -> None:
    run = read_obj_data(_data(tmp_path, valid="other.txt"))
    assert validation_list(run) == tmp_path / "other.txt"
    assert validation_list(run, test_list=tmp_path / "test.txt") == tmp_path / "other.txt"
    with pytest.raises(DatasetError, match=r"obj\.data: no validation list .* re-run"):
        validation_list(run, test_list=tmp_path / "other.txt")
    with pytest.raises(DatasetError, match="valid= is a test list or unknown"):
        validation_list(read_obj_data(_data(tmp_path)))
    # the permuted-label control: scored on another dataset's test list, its own test.txt
    # (valid=) is still a test list
    own = read_obj_data(_data(tmp_path))
    with pytest.raises(DatasetError, match="no validation list"):
        validation_list(own, test_list=tmp_path / "other.txt")


def test_a_missing_val_list_is_named(tmp_path: Path) -> None:
    run = read_obj_data(_data(tmp_path, "val = gone.txt\n"))
    with pytest.raises(DatasetError, match=r"val = gone\.txt: validation list not found"):
        validation_list(run)
