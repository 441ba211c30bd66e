"""ExpW's conversion on REAL ExpW photos and rows (../shared/real/ExpW: 301 images, 450 rows of the
real label.lst): the labels equal an independent reading of label.lst, and ``--unannotated
report`` counts the faces no row annotates with the real RetinaFace.

The images are research-only: they are read where they are, never copied into the project.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from tests.support import SHARED
from tests.support.expw import tree_digest
from yof_darknet.cli import main

REAL_EXPW = SHARED / "real" / "ExpW"

pytestmark = pytest.mark.skipif(
    not (REAL_EXPW / "label" / "label.lst").is_file(),
    reason=f"the real ExpW slice is not at {REAL_EXPW} (set YOF_SHARED to the shared folder)",
)


def independent_labels(root: Path, min_score: float = 50.0) -> dict[str, list[str]]:
    """Image name -> its Darknet label lines, read straight from label.lst: rows are
    ``name face_id top left right bottom confidence label``; a face is kept when its confidence
    is above ``min_score``; the box is clipped to the image (size from Pillow) and written as
    ``label cx cy w h``, normalised, 6 decimals."""
    labels: dict[str, list[str]] = defaultdict(list)
    for line in (root / "label" / "label.lst").read_text().splitlines():
        name, _face, top, left, right, bottom, confidence, label = line.split()
        if not float(confidence) > min_score:
            continue
        with Image.open(root / "image" / "origin" / name) as image:
            width, height = image.size
        x1, x2 = (min(max(float(v), 0), width) for v in (left, right))
        y1, y2 = (min(max(float(v), 0), height) for v in (top, bottom))
        labels[name].append(
            f"{int(label)} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
            f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
        )
    return labels


def _convert(out: Path, *options: str) -> dict:
    args = ["datasets", "--expw", str(REAL_EXPW), "--out", str(out), "--test-per-dataset", "50"]
    done = CliRunner().invoke(main, [*args, *options])
    assert done.exit_code == 0, done.output
    return json.loads((out / "stats.json").read_text())


def _written(out: Path) -> dict[str, list[str]]:
    """Image name -> label lines of every image the conversion listed (train, val and test)."""
    lists = [out / f"{name}.txt" for name in ("train", "val", "test")]
    listed = [line for path in lists if path.exists() for line in path.read_text().split()]
    return {Path(p).name: Path(p).with_suffix(".txt").read_text().splitlines() for p in listed}


def test_the_real_slice_has_no_repeated_or_conflicting_face():
    """What keeps the independent reader simple: no face (image + box) is listed twice."""
    faces = [
        tuple(line.split()[i] for i in (0, 2, 3, 4, 5))
        for line in (REAL_EXPW / "label" / "label.lst").read_text().splitlines()
    ]
    assert len(faces) == 450 and len(set(faces)) == len(faces)


def test_conversion_of_real_rows_equals_an_independent_reading_of_label_lst(tmp_path):
    before = tree_digest(REAL_EXPW)
    stats = _convert(tmp_path / "out")
    expected = independent_labels(REAL_EXPW)
    written = _written(tmp_path / "out")
    assert set(written) == set(expected)
    for name, lines in expected.items():
        assert sorted(written[name]) == sorted(lines), name
    expw = stats["datasets"]["expw"]
    assert expw["faces"]["read"] == 450
    assert expw["faces"]["kept"] == sum(map(len, expected.values())) == 226
    assert expw["faces"]["skipped"] == {"low_score": 224}
    assert expw["images"]["kept"] == len(expected) == 179
    assert expw["details"]["renamed"] == 0  # every real name is darknet-safe: output names = ExpW's
    assert tree_digest(REAL_EXPW) == before


@pytest.mark.slow
def test_unannotated_report_counts_the_real_faces_no_row_annotates(tmp_path):
    before = tree_digest(REAL_EXPW)
    stats = _convert(tmp_path / "out", "--unannotated", "report")
    found = stats["datasets"]["expw"]["details"]["unannotated"]
    # RetinaFace at its defaults (score 0.8, images shrunk to a long side of 640)
    assert found["images_checked"] == 179 and found["images_unreadable"] == 0
    assert found["images_with_unannotated"] == 85
    assert found["unannotated_faces"] == 494
    # plausible: crowds and bystanders in a share of the photos (the whole 5,408-image subset:
    # 36 % of its images), more of them than annotated faces (subset: 3,524 vs 3,221)
    assert 0.2 < found["images_with_unannotated"] / found["images_checked"] < 0.6
    assert found["unannotated_faces"] > stats["datasets"]["expw"]["faces"]["kept"]
    assert found["masked_images"] == found["dropped_images"] == 0  # report changes nothing
    assert _written(tmp_path / "out") == _written_plain(tmp_path)
    assert tree_digest(REAL_EXPW) == before


def _written_plain(tmp_path: Path) -> dict[str, list[str]]:
    """The labels of the same conversion without --unannotated (report must not change them)."""
    _convert(tmp_path / "plain")
    return _written(tmp_path / "plain")
