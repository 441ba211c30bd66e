"""The embedded sample's ExpW part: exact format, traps, every drawn face annotated, the control."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from yof_darknet.cli import main
from yof_darknet.datasets.expw import convert_expw
from yof_darknet.samples.write import DEFAULT_IMAGES, write_expw_sample, write_sample

IMAGES = 120
ROW = re.compile(r"^[a-z]+_[a-z]+_\d+\.jpg \d+ -?\d+ -?\d+ -?\d+ -?\d+ \d+\.\d{4} [0-6]$")


def _tree(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _rows(root: Path) -> list[list[str]]:
    return [line.split(" ") for line in (root / "label" / "label.lst").read_text().splitlines()]


@pytest.fixture(scope="module")
def expw(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("sample") / "ExpW"
    return root, write_expw_sample(root, seed=0, images=IMAGES)


@pytest.fixture(scope="module")
def converted(expw, tmp_path_factory: pytest.TempPathFactory):
    root, _ = expw
    return convert_expw(root, tmp_path_factory.mktemp("darknet") / "out")


def test_same_seed_same_bytes_and_rerun_is_idempotent(expw, tmp_path: Path) -> None:
    root, _ = expw
    again = tmp_path / "ExpW"
    write_expw_sample(again, seed=0, images=IMAGES)
    assert _tree(again) == _tree(root)
    write_expw_sample(again, seed=0, images=IMAGES)
    assert _tree(again) == _tree(root)
    other = tmp_path / "other"
    write_expw_sample(other, seed=1, images=IMAGES)
    assert (other / "label" / "label.lst").read_bytes() != (
        root / "label" / "label.lst"
    ).read_bytes()


def test_more_images_keep_the_first_ones(expw, tmp_path: Path) -> None:
    root, _ = expw
    write_expw_sample(tmp_path / "small", seed=0, images=10)
    big, small = _tree(root), _tree(tmp_path / "small")
    first = {row[0] for row in _rows(tmp_path / "small") if int(row[0].rsplit("_", 1)[1][:-4]) < 10}
    assert len(first) == 10
    for name in first:
        assert small[f"image/origin/{name}"] == big[f"image/origin/{name}"]
    big_rows = {" ".join(row) for row in _rows(root)}
    assert all(" ".join(r) in big_rows for r in _rows(tmp_path / "small") if r[0] in first)


def test_layout_and_label_lst_format(expw) -> None:
    root, info = expw
    text = (root / "label" / "label.lst").read_bytes().decode("ascii")
    assert text.endswith("\n") and "\r" not in text and "  " not in text
    lines = text.splitlines()
    assert len(lines) == info.rows
    assert all(ROW.match(line) for line in lines), [line for line in lines if not ROW.match(line)]
    listed = {line.split(" ")[0] for line in lines}
    files = {path.name for path in (root / "image" / "origin").iterdir()}
    assert listed <= files
    assert len(files - listed) == info.traps["unlisted"] == 3
    assert sorted(p.relative_to(root).parts[0] for p in root.iterdir()) == ["image", "label"]
    sizes = {cv2.imread(str(root / "image" / "origin" / name)).shape for name in listed}
    assert all(h == w and h in (144, 160, 176) and c == 3 for h, w, c in sizes)


def test_every_trap_is_present(expw) -> None:
    _, info = expw
    for trap in ("low_score", "exactly_50", "duplicate", "past_edge", "over_100", "multi_face"):
        assert info.traps[trap] > 0, trap
    assert info.traps["faceless"] == 6
    assert info.traps["degenerate"] + info.traps["degenerate_outside"] == 2
    rows = _rows(expw[0])
    scores = [float(row[6]) for row in rows]
    assert sum(score == 50.0 for score in scores) == info.traps["exactly_50"]
    assert sum(score < 50.0 for score in scores) == info.traps["low_score"]
    assert sum(score > 100.0 for score in scores) == info.traps["over_100"]
    assert len(rows) - len({" ".join(row) for row in rows}) == info.traps["duplicate"]


def test_expw_converter_counts_each_trap(expw, converted) -> None:
    _, info = expw
    stats = converted.stats
    assert stats.kept == info.faces
    assert stats.total("duplicate") == info.traps["duplicate"]
    assert stats.total("low_score") == info.traps["low_score"] + info.traps["exactly_50"]
    degenerate = info.traps["degenerate"] + info.traps["degenerate_outside"]
    assert stats.total("degenerate_box") == degenerate
    assert stats.read == info.rows
    assert len(converted.items) == info.images  # trap-only images are dropped whole
    assert sum(len(item.classes) for item in converted.items) == info.faces


def _face_fills(image: np.ndarray) -> list[tuple[float, float]]:
    """Centroids of the bright regions: a face's fill (165+) or its eye whites, never background."""
    bright = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)[..., 2] >= 150
    count, _, stats, centroids = cv2.connectedComponentsWithStats(bright.astype(np.uint8))
    return [tuple(centroids[i]) for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= 300]


def test_every_drawn_face_is_annotated_once(expw, converted) -> None:
    """Each bright region lies in a box and each box holds one (the class: test_sample_faces);
    the pasted real-face bystanders (test_unannotated) are no drawn face and have no box."""
    for item in converted.items:
        image = cv2.imread(str(item.image))
        bystander = expw[1].bystanders.get(item.group)
        if bystander is not None:
            left, top, right, bottom = bystander.paste_ltrb
            image[top:bottom, left:right] = 0
        height, width = image.shape[:2]
        boxes = []
        for line in item.image.with_suffix(".txt").read_text().splitlines():
            _, cx, cy, w, h = (float(v) for v in line.split())
            box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
            assert (box >= -1e-6).all() and (box <= 1 + 1e-6).all(), item.image
            boxes.append(box * [width, height, width, height])
        hit = set()
        for x, y in _face_fills(image):  # a face's fill may be cut in parts by its brows
            inside = {i for i, b in enumerate(boxes) if b[0] <= x <= b[2] and b[1] <= y <= b[3]}
            assert inside, f"{item.image}: a drawn face at ({x:.0f}, {y:.0f}) has no box"
            hit |= inside
        assert hit == set(range(len(boxes))), item.image


def test_faces_per_image_and_classes(expw, converted) -> None:
    _, info = expw
    per_image = Counter(len(item.classes) for item in converted.items)
    assert set(per_image) == {1, 2, 3} and per_image[2] + per_image[3] == info.traps["multi_face"]
    assert min(info.class_faces) > 0.5 * max(info.class_faces)


def test_shuffle_labels_permutes_classes_only(expw, tmp_path: Path) -> None:
    root, info = expw
    shuffled_root = tmp_path / "ExpW"
    shuffled = write_expw_sample(shuffled_root, seed=0, images=IMAGES, shuffle_labels=True)
    assert {k: v for k, v in _tree(shuffled_root).items() if k.startswith("image")} == {
        k: v for k, v in _tree(root).items() if k.startswith("image")
    }
    true_rows, new_rows = _rows(root), _rows(shuffled_root)
    assert [row[:7] for row in true_rows] == [row[:7] for row in new_rows]
    faces_true = {tuple(row[:2]): row[7] for row in true_rows if float(row[6]) > 50}
    faces_new = {tuple(row[:2]): row[7] for row in new_rows if float(row[6]) > 50}
    assert Counter(faces_true.values()) == Counter(faces_new.values())
    changed = sum(faces_true[key] != faces_new[key] for key in faces_true)
    assert changed > 0.6 * len(faces_true)
    assert shuffled.class_faces == info.class_faces
    for row in new_rows:  # an exact duplicate stays an exact duplicate
        assert faces_new.get(tuple(row[:2]), row[7]) == row[7] or float(row[6]) <= 50


def _annotations(root: Path) -> dict[str, list[str]]:
    return {
        str(path.relative_to(root)): path.read_text().splitlines()
        for path in sorted((root / "annotations").rglob("*.txt"))
    }


def test_write_sample_writes_both_parts_and_the_control_permutes_both(tmp_path: Path) -> None:
    info = write_sample(tmp_path / "sample", seed=0, images=5)
    assert (tmp_path / "sample" / "ExpW" / "label" / "label.lst").is_file()
    assert list((tmp_path / "sample" / "AffWild2" / "videos").rglob("*.avi"))
    assert info.expw.images == 5
    write_sample(tmp_path / "control", seed=0, images=5, shuffle_labels=True)
    true, permuted = (_annotations(tmp_path / name / "AffWild2") for name in ("sample", "control"))
    assert true.keys() == permuted.keys() and true
    for name, lines in true.items():
        assert len(permuted[name]) == len(lines) and permuted[name][0] == lines[0]
        assert [v == "-1" for v in permuted[name]] == [v == "-1" for v in lines]
    values = [sorted(v for lines in a.values() for v in lines[1:]) for a in (true, permuted)]
    assert values[0] == values[1]
    assert true != permuted
    videos = [_tree(tmp_path / name / "AffWild2" / "videos") for name in ("sample", "control")]
    assert videos[0] == videos[1]


def test_cli_sample(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sample", str(tmp_path / "s"), "--images", "8"])
    assert result.exit_code == 0, result.output
    assert "ExpW: 8 images" in result.output and "true labels" in result.output
    result = CliRunner().invoke(
        main, ["sample", str(tmp_path / "c"), "--images", "8", "--shuffle-labels"]
    )
    assert result.exit_code == 0 and "labels permuted" in result.output
    help_text = " ".join(CliRunner().invoke(main, ["sample", "--help"]).output.split())
    assert f"default: {DEFAULT_IMAGES}" in help_text


def test_sample_command_writes_the_lookalikes_on_request(tmp_path):
    result = CliRunner().invoke(main, ["sample", str(tmp_path / "s"), "--images", "4",
                                       "--lookalikes"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        tmp_path / "s" / "AffectNet" / "Manually_Annotated_file_lists" / "training.csv"
    ).is_file()
    assert (tmp_path / "s" / "RAF-DB" / "basic" / "EmoLabel" / "list_patition_label.txt").is_file()
    assert "AffectNet: 44 rows, 23 faces to keep; traps: animated_image 1," in result.output
    plain = CliRunner().invoke(main, ["sample", str(tmp_path / "p"), "--images", "4"])
    assert plain.exit_code == 0 and not (tmp_path / "p" / "AffectNet").exists()
