from __future__ import annotations

from pathlib import Path

import pytest

from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.affectnet_csv import header_variant, read_affectnet_csv
from yof_darknet.datasets.stats import NO_CLASS, ConversionStats

MARKS = ";".join(["12.5"] * 136)
HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,"
    "valence,arousal"
)


def write(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_bytes("".join(f"{line}{end}" for line in lines).encode())
    return path


@pytest.mark.parametrize(
    ("line", "variant"),
    [(HEADER, "plain"), ("#" + HEADER, "#"), ("# " + HEADER.upper(), "#"),
     (f"1/a.jpg,1,1,9,9,{MARKS},3,0.5,0.5", "absent")],
)  # fmt: skip
def test_header_variant(line, variant):
    assert header_variant(line) == variant


def test_rows_boxes_codes_and_null(tmp_path):
    path = write(
        tmp_path / "training.csv",
        [
            "#" + HEADER,
            f"689/abc.jpg,10,10,100,100,{MARKS},1,0.7,0.2",
            "689/null.jpg,NULL,NULL,NULL,NULL,NULL,6,0.1,0.1",
            "",
            f"2/x.Jpeg,7.5,8,50.25,50,{MARKS},10,-2,-2",
        ],
        end="\r\n",
    )
    stats = ConversionStats("affectnet", str(tmp_path))
    rows = read_affectnet_csv(path, stats)
    assert rows["line"].tolist() == [2, 3, 5]
    assert rows["name"].tolist() == ["689/abc.jpg", "689/null.jpg", "2/x.Jpeg"]
    assert rows.loc[0, ["x1", "y1", "x2", "y2"]].tolist() == [10, 10, 110, 110]
    assert rows.loc[2, ["x1", "y1", "x2", "y2"]].tolist() == [7.5, 8, 57.75, 58]
    assert rows["code"].tolist() == [1, 6, 10]
    assert rows["box"].tolist() == [True, False, True]
    assert stats.read == 0 and stats.details["header"] == {"training.csv": "#"}


def test_malformed_rows_are_counted_with_file_and_line(tmp_path):
    path = write(
        tmp_path / "validation.csv",
        [
            f"1/a.jpg,1,1,9,9,{MARKS},3,0.5",  # 8 fields
            f"1/b.jpg,1,one,9,9,{MARKS},3,0.5,0.5",
            f"1/c.jpg,1,1,9,NULL,{MARKS},3,0.5,0.5",  # one NULL only: not a NULL box
            f"1/d.jpg,1,1,9,9,{MARKS},2.5,0.5,0.5",
            f"1/e.jpg,1,1,9,9,{MARKS},-1,0.5,0.5",
            f"/abs/f.jpg,1,1,9,9,{MARKS},3,0.5,0.5",
            f"1/../g.jpg,1,1,9,9,{MARKS},3,0.5,0.5",
            f"1/h.jpg,1,1,9,9,{MARKS},nan,0.5,0.5",
            f"1/ok.jpg,1,1,9,9,{MARKS},0,0.5,0.5",
        ],
    )
    stats = ConversionStats("affectnet", str(tmp_path))
    rows = read_affectnet_csv(path, stats)
    assert rows["name"].tolist() == ["1/ok.jpg"]
    assert {reason: dict(c) for reason, c in stats.counts.items()} == {
        "wrong_field_count": {NO_CLASS: 1},
        "non_numeric": {NO_CLASS: 3},
        "label_out_of_range": {NO_CLASS: 2},
        "bad_image_name": {NO_CLASS: 2},
    }
    examples = stats.details["malformed_examples"]
    assert examples[0].startswith(f"{path}:1: 8 fields instead of 9")
    assert examples[1].startswith(f"{path}:2: ")


def test_an_empty_csv_is_an_error_naming_it(tmp_path):
    path = write(tmp_path / "training.csv", ["", "  "])
    with pytest.raises(DatasetError, match=r"training.csv: empty"):
        read_affectnet_csv(path, ConversionStats("affectnet", str(tmp_path)))


def test_a_utf8_bom_before_the_header_is_ignored(tmp_path):
    path = tmp_path / "training.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\n1/a.jpg,1,1,9,9,{MARKS},3,0,0\n".encode())
    stats = ConversionStats("affectnet", str(tmp_path))
    assert read_affectnet_csv(path, stats)["line"].tolist() == [2]
    assert stats.details["header"] == {"training.csv": "plain"}
