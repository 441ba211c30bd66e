"""AffectNet → Darknet on the format-exact look-alike: every reason, the class map, the header
variants, the derived copies of TIFF and BMP images, re-runs, the raw folder untouched."""

from __future__ import annotations

import io
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.boxes import parse_line
from tests.support.expw import tree_digest
from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.affectnet import convert_affectnet, find_layout
from yof_darknet.datasets.stats import KEPT
from yof_darknet.samples.affectnet import write_affectnet_sample

# AffectNet's codes, as its README lists them, to our class names (written out here, not
# taken from the package's map)
CODES = {0: "neutral", 1: "happiness", 2: "sadness", 3: "surprise", 4: "fear", 5: "disgust",
         6: "anger"}  # fmt: skip
OURS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("an") / "AffectNet"
    return write_affectnet_sample(root), root


def csv_rows(root: Path) -> dict[str, list[tuple[tuple[float, ...], int, str]]]:
    """Image → (x, y, w, h), code and CSV of every well-formed row, read here independently."""
    rows: dict[str, list] = {}
    for csv in ("training", "validation"):
        for line in (
            (root / "Manually_Annotated_file_lists" / f"{csv}.csv").read_text().splitlines()
        ):
            fields = line.split(",")
            if len(fields) != 9 or fields[0].lstrip("#") == "subDirectory_filePath":
                continue
            try:
                box = tuple(float(v) for v in fields[1:5])
                code = int(fields[6])
            except ValueError:
                continue
            rows.setdefault(fields[0], []).append((box, code, csv))
    return rows


def test_every_reason_is_counted_once(sample, tmp_path):
    info, root = sample
    before = tree_digest(root)
    result = convert_affectnet(root, tmp_path / "out" / "affectnet")
    stats = result.stats
    assert tree_digest(root) == before
    skipped = stats.skipped()
    assert skipped == dict(info.reasons)
    assert stats.kept == info.kept
    assert stats.read == info.rows == stats.kept + sum(skipped.values())
    assert sum(item.held_out for item in result.items) == info.held_out
    assert Counter({c: n for c, n in stats.counts[KEPT].items()}) == info.kept_classes
    examples = stats.details["malformed_examples"]
    assert len(examples) == 4 and all("training.csv:" in e for e in examples)
    assert stats.details["header"] == {"training.csv": "plain", "validation.csv": "absent"}


def test_class_map_and_boxes_follow_the_csv(sample, tmp_path):
    _, root = sample
    result = convert_affectnet(root, tmp_path / "out" / "affectnet")
    rows = csv_rows(root)
    checked = 0
    for item in result.items:
        (box, code, csv), *_ = rows[item.group]
        assert item.held_out == (csv == "validation")
        with Image.open(item.image) as image:
            size = image.size
        label = item.image.with_suffix(".txt").read_text().splitlines()
        assert len(label) == 1
        class_id, got = parse_line(label[0], size)
        assert OURS[class_id] == CODES[code]
        x, y, w, h = box
        want = (max(x, 0), max(y, 0), min(x + w, size[0]), min(y + h, size[1]))
        assert np.allclose(got, want, atol=0.01 * max(size))
        checked += 1
    assert checked == len(result.items) > 20


def test_tiff_and_bmp_are_written_as_png_copies_of_the_same_pixels(sample, tmp_path):
    info, root = sample
    out = tmp_path / "out" / "affectnet"
    result = convert_affectnet(root, out)
    images = root / "Manually_Annotated_Images"
    recoded = [it for it in result.items if Path(it.group).suffix.lower() in (".tif", ".bmp")]
    assert len(recoded) == info.recoded == result.stats.details["derived"]["recoded"] > 0
    for item in recoded:
        assert item.image.suffix == ".png" and not item.image.is_symlink()
        with Image.open(images / item.group) as raw, Image.open(item.image) as copy:
            assert copy.format == "PNG"
            assert np.array_equal(np.asarray(raw.convert("RGB")), np.asarray(copy.convert("RGB")))
    odd = [it for it in result.items if Path(it.group).suffix in (".JPG", ".Jpeg")]
    assert odd and all(it.image.suffix == ".jpg" and it.image.is_symlink() for it in odd)
    renamed = (out / "renamed.tsv").read_text()
    assert all(f"{it.group}\t{it.image.name}\n" in renamed for it in recoded + odd)


def test_a_rerun_writes_nothing_new(sample, tmp_path):
    _, root = sample
    out = tmp_path / "out" / "affectnet"
    first = convert_affectnet(root, out)
    labels = {p.name: p.read_bytes() for p in out.glob("*.txt")}
    again = convert_affectnet(root, out)
    assert again.stats.details["derived"]["written_this_run"] == 0
    assert again.items == first.items
    assert {p.name: p.read_bytes() for p in out.glob("*.txt")} == labels


@pytest.mark.parametrize("headers", [("#", "#"), ("absent", "plain"), ("absent", "absent")])
def test_header_variants_read_the_same_rows(sample, tmp_path, headers):
    info, _ = sample
    root = tmp_path / "AffectNet"
    write_affectnet_sample(root, headers=headers)
    result = convert_affectnet(root, tmp_path / "out")
    assert result.stats.details["header"] == dict(
        zip(("training.csv", "validation.csv"), headers, strict=True)
    )
    assert result.stats.skipped() == dict(info.reasons)
    assert result.stats.kept == info.kept


def test_held_out_pooled_marks_no_image(sample, tmp_path):
    _, root = sample
    result = convert_affectnet(root, tmp_path / "out", held_out="drawn")
    assert not any(item.held_out for item in result.items)
    assert result.stats.details["held_out"].startswith("drawn")


def test_csv_folders_of_other_copies_are_found(sample, tmp_path):
    _, root = sample
    copy = tmp_path / "copy"
    shutil.copytree(root / "Manually_Annotated_Images",
                    copy / "Manually_Annotated" / "Manually_Annotated_Images")  # fmt: skip
    for name in ("training.csv", "validation.csv"):
        shutil.copy(root / "Manually_Annotated_file_lists" / name, copy / name)
    layout = find_layout(copy)
    assert layout.training == copy / "training.csv"
    assert layout.validation == copy / "validation.csv"
    assert layout.image_dir == copy / "Manually_Annotated" / "Manually_Annotated_Images"


def test_a_missing_training_csv_is_one_error_naming_the_places(tmp_path):
    (tmp_path / "Manually_Annotated_Images").mkdir()
    with pytest.raises(DatasetError, match=r"no AffectNet training\.csv .*Manually_Annotated_file"):
        convert_affectnet(tmp_path, tmp_path.parent / "out")


def test_png_written_with_jpg_name_keeps_its_bytes(tmp_path):
    """A listed PNG named .jpg is linked, not re-encoded (stb_image reads by content)."""
    images = tmp_path / "AffectNet" / "Manually_Annotated_Images" / "1"
    images.mkdir(parents=True)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 80, 70)).save(buffer, "PNG")
    (images / "a.jpg").write_bytes(buffer.getvalue())
    lists = tmp_path / "AffectNet" / "Manually_Annotated_file_lists"
    lists.mkdir()
    (lists / "training.csv").write_text("1/a.jpg,4,4,50,50,1;2,3,0.1,0.2\n")
    result = convert_affectnet(tmp_path / "AffectNet", tmp_path / "out")
    assert result.stats.kept == 1 and result.items[0].image.is_symlink()
    assert result.stats.details["header"] == {"training.csv": "absent"}
