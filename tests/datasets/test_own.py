"""Your own labelled photos → Darknet: a CSV or a YOLO folder, labels mapped by name to the 7
expressions or to your own class list."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.boxes import parse_line
from tests.support.expw import make_expw, tree_digest, write_jpeg
from yof_darknet.cli import main
from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.build import build_datasets, expw_job
from yof_darknet.datasets.jobs import own_job
from yof_darknet.datasets.own import convert_own
from yof_darknet.datasets.stats import KEPT, NO_CLASS
from yof_darknet.formats.objdata import read_obj_data


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for index, name in enumerate(["a.jpg", "b.jpg", "c.jpg", "sub/d.jpg", "e f.jpg", "g.jpg"]):
        write_jpeg(root / name, 80, 60, seed=index)
    return root


def labels(path: Path, rows: list[str]) -> Path:
    path.write_text("".join(f"{row}\n" for row in rows))
    return path


def test_csv_labels_by_name_index_and_alias(photos, tmp_path):
    csv = labels(
        tmp_path / "labels.csv",
        [
            "image,x1,y1,x2,y2,label",
            "a.jpg,10,5,40,45,happiness",
            "b.jpg,10,5,40,45,Sad",  # an alias, any case
            "c.jpg,10,5,40,45,0",  # an index: anger
            "sub/d.jpg,-5,-5,90,70,surprised",  # past every edge: clipped
            '"e f.jpg",1,2,30,30,neutral',  # a quoted name
            "g.jpg,10,5,40,45,contempt",  # no class of ours: the image is left out
            "g.jpg,50,5,70,45,happy",
            "a.jpg,10,5,40,45,happiness",  # a repeat
            "x.jpg,10,5,40,45,fear",  # no such image
            "a.jpg,10,5,40",  # 5 fields
            "a.jpg,ten,5,40,45,fear",
            "a.jpg,10,5,40,45,7",  # index outside 0..6
            "../a.jpg,10,5,40,45,fear",
        ],
    )
    before = tree_digest(photos)
    result = convert_own(photos, csv, tmp_path / "out" / "own")
    assert tree_digest(photos) == before
    stats = result.stats
    assert stats.skipped() == {
        "bad_image_name": 1, "duplicate": 1, "image_left_out": 1, "label_out_of_range": 1,
        "missing_image": 1, "no_class": 1, "non_numeric": 1, "wrong_field_count": 1,
    }  # fmt: skip
    assert dict(stats.counts[KEPT]) == {3: 1, 4: 1, 0: 1, 5: 1, 6: 1}
    assert stats.counts["no_class"] == {NO_CLASS: 1} and stats.details["csv_header"] is True
    examples = stats.details["malformed_examples"]
    assert [e.split(": ")[0] for e in examples] == [f"{csv}:{n}" for n in (11, 12, 13, 14)]
    by_name = {item.group: item for item in result.items}
    assert sorted(by_name) == ["a.jpg", "b.jpg", "c.jpg", "e f.jpg", "sub/d.jpg"]
    assert by_name["sub/d.jpg"].image.name == "sub_d.jpg"
    assert by_name["e f.jpg"].image.name != "e f.jpg"  # a space is not a safe name
    class_id, box = parse_line(by_name["sub/d.jpg"].image.with_suffix(".txt").read_text(), (80, 60))
    assert class_id == 5 and np.allclose(box, (0, 0, 80, 60), atol=1e-3)


def test_csv_header_with_other_names_and_columns(photos, tmp_path):
    csv = labels(
        tmp_path / "objects.csv",
        ["filename,width,height,class,xmin,ymin,xmax,ymax", "a.jpg,80,60,fear,8,6,48,46"],
    )
    result = convert_own(photos, csv, tmp_path / "out")
    (line,) = result.items[0].image.with_suffix(".txt").read_text().splitlines()
    class_id, box = parse_line(line, (80, 60))
    assert class_id == 2 and np.allclose(box, (8, 6, 48, 46), atol=1e-3)


def yolo(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_yolo_folder_with_a_names_file(photos, tmp_path):
    yolo(photos, {"a.txt": "0 0.5 0.5 0.25 0.5\n",
                  "b.txt": "2 0.25 0.5 0.2 0.2\n1 0.75 0.5 0.2 0.2\n",
                  "c.txt": "", "sub/d.txt": "0 0.5 0.5 0.5\n3 0.5 0.5 0.1 0.1\n"})  # fmt: skip
    names = labels(tmp_path / "obj.names", ["Happy", "cat", "fear"])
    result = convert_own(photos, names, tmp_path / "out")
    stats = result.stats
    assert stats.skipped() == {"no_class": 1, "image_left_out": 1, "wrong_field_count": 1,
                               "label_out_of_range": 1}  # fmt: skip
    assert stats.details["images_without_label"] == 2  # e f.jpg, g.jpg
    assert stats.details["images_without_faces"] == 1  # c.txt is empty
    (item,) = result.items
    (line,) = item.image.with_suffix(".txt").read_text().splitlines()
    class_id, box = parse_line(line, (80, 60))
    assert class_id == 3 and np.allclose(box, (30, 15, 50, 45), atol=1e-3)


def test_yolo_labels_in_a_labels_folder_beside_images(tmp_path):
    write_jpeg(tmp_path / "set" / "images" / "train" / "p.jpg", 64, 64)
    yolo(tmp_path / "set", {"labels/train/p.txt": "1 0.5 0.5 0.5 0.5\n"})
    names = labels(tmp_path / "classes.txt", ["neutral", "happy"])
    result = convert_own(tmp_path / "set", names, tmp_path / "out")
    assert result.items[0].classes == (3,) and result.items[0].group == "images/train/p.jpg"
    assert result.items[0].image.name.startswith("i_mages_train_p_")  # no 'images' for darknet


def test_own_class_list_sets_obj_names_and_the_class_count(photos, tmp_path):
    csv = labels(tmp_path / "l.csv", [f"{n},10,5,40,45,{c}" for n, c in
                                      (("a.jpg", "cat"), ("b.jpg", "dog"), ("c.jpg", "1"),
                                       ("g.jpg", "cow"))])  # fmt: skip
    classes = labels(tmp_path / "classes.txt", ["cat", "dog"])
    out = tmp_path / "out"
    args = ["datasets", "--images", str(photos), "--labels", str(csv), "--classes",
            str(classes), "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (out / "obj.names").read_text() == "cat\ndog\n"
    assert read_obj_data(out / "obj.data").classes == 2
    stats = json.loads((out / "stats.json").read_text())
    assert stats["classes"] == ["cat", "dog"]
    assert set(stats["datasets"]["own"]["classes"]) == {"cat", "dog"}
    assert stats["datasets"]["own"]["faces"]["skipped"] == {"no_class": 1}
    own = stats["datasets"]["own"]
    assert own["faces"]["kept"] == 3
    assert {n: c["kept"] for n, c in own["classes"].items()} == {"cat": 1, "dog": 2}
    assert list(stats["balance"]["faces"]) == ["cat", "dog"]
    assert sum(stats["balance"]["faces"].values()) == own["faces"]["train"]


def test_own_classes_cannot_join_the_expression_datasets(photos, tmp_path):
    csv = labels(tmp_path / "l.csv", ["a.jpg,10,5,40,45,cat"])
    expw = make_expw(tmp_path / "ExpW", ["p.jpg 0 5 5 50 50 60.0 3"], {"p.jpg": (64, 64)})
    jobs = [expw_job(expw), own_job(photos, csv, classes=("cat", "dog"))]
    with pytest.raises(
        DatasetError, match=r"own: its classes .* are not the 7 expressions of expw"
    ):
        build_datasets(jobs, tmp_path / "out")


def test_labels_of_other_classes_without_a_class_list_say_how(photos, tmp_path):
    csv = labels(tmp_path / "l.csv", ["a.jpg,10,5,40,45,cat", "b.jpg,10,5,40,45,dog"])
    with pytest.raises(DatasetError, match=r"no label names one of the classes .* --classes FILE"):
        convert_own(photos, csv, tmp_path / "out")


def test_images_and_labels_go_together(photos):
    result = CliRunner().invoke(main, ["datasets", "--images", str(photos), "--out", "x"])
    assert result.exit_code == 1
    assert "--images DIR and --labels FILE go together" in result.output
