"""--unannotated: real RetinaFace on real photos and on the embedded sample."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.boxes import iou_xyxy
from tests.support.expw import tree_digest
from tests.support.faces import write_group_expw
from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.build import build_datasets, expw_job
from yof_darknet.datasets.expw import convert_expw, detect_expw_shard
from yof_darknet.datasets.unannotated import (
    CACHE_FOLDER,
    MASK_MARGIN,
    UnannotatedOptions,
    match_faces,
)
from yof_darknet.samples.write import write_expw_sample
from yof_darknet.tools.faces import create_detector, crop_box


def _options(mode: str, **kw) -> UnannotatedOptions:
    return UnannotatedOptions(mode, **kw)


def _found(result) -> dict:
    return result.stats.details["unannotated"]


@pytest.fixture(scope="module")
def group(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("group") / "ExpW"
    return root, write_group_expw(root)


def test_a_tight_expw_box_matches_retinaface_by_ios_not_iou(group):
    """Why the rule is intersection over the smaller box: RetinaFace's box of Hopper's face
    is much larger than the tight ExpW-style box, so their IoU is low."""
    root, boxes = group
    image = cv2.imread(str(root / "image" / "origin" / "group.jpg"))
    faces = create_detector().detect(image)
    hopper = max(faces, key=lambda f: iou_xyxy(f.xyxy, boxes["hopper"]))
    assert iou_xyxy(hopper.xyxy, boxes["hopper"]) < 0.5
    assert match_faces(np.array([hopper.xyxy]), np.array([boxes["hopper"]])).tolist() == [True]


def test_one_annotated_face_of_three_the_other_two_are_found(group, tmp_path):
    root, boxes = group
    result = convert_expw(root, tmp_path / "out", unannotated=_options("report"))
    found = _found(result)
    assert (found["images_checked"], found["images_with_unannotated"]) == (1, 1)
    assert found["unannotated_faces"] == 2
    assert found["classes"]["happiness"]["unannotated_faces"] == 2
    assert found["classes"]["anger"]["images_with_unannotated"] == 0
    cache = json.loads((tmp_path / "out" / CACHE_FOLDER / "chunk-000000.json").read_text())
    faces = cache["images"]["group.jpg"]["faces"]
    loose = [f[:4] for f in faces if not match_faces(np.array([f[:4]]), [boxes["hopper"]])[0]]
    assert len(faces) == 3  # RetinaFace found every person, no more
    for who in ("collins_large", "collins_small"):  # each found face is one of the others
        assert sum(match_faces(np.array(loose), [boxes[who]])) == 1
    # report changes nothing: the image is linked as without the option
    assert (tmp_path / "out" / "group.jpg").is_symlink()


def test_every_face_annotated_finds_nothing(tmp_path):
    root = tmp_path / "ExpW"
    write_group_expw(root, annotated=("hopper", "collins_large", "collins_small"))
    found = _found(convert_expw(root, tmp_path / "out", unannotated=_options("report")))
    assert (found["images_with_unannotated"], found["unannotated_faces"]) == (0, 0)


def test_mask_changes_only_the_enlarged_boxes_of_a_copy(group, tmp_path):
    root, boxes = group
    before = tree_digest(root)
    raw = cv2.imread(str(root / "image" / "origin" / "group.jpg"))
    result = convert_expw(root, tmp_path / "out", unannotated=_options("mask"))
    assert tree_digest(root) == before  # the raw tree is unchanged
    (item,) = result.items
    assert item.image.name == "group.png" and not item.image.is_symlink()
    assert _found(result)["masked_images"] == 1
    masked = cv2.imread(str(item.image))
    cache = json.loads((tmp_path / "out" / CACHE_FOLDER / "chunk-000000.json").read_text())
    faces = [f[:4] for f in cache["images"]["group.jpg"]["faces"]]
    loose = [f for f in faces if not match_faces(np.array([f]), [boxes["hopper"]])[0]]
    allowed = np.zeros(raw.shape[:2], dtype=bool)
    height, width = raw.shape[:2]
    for box in loose:
        left, top, right, bottom = crop_box(tuple(box), (width, height), MASK_MARGIN)
        allowed[top:bottom, left:right] = True
        # the whole face is gone: one flat colour
        region = masked[top:bottom, left:right].reshape(-1, 3)
        assert (region == region[0]).all()
    changed = (masked != raw).any(axis=2)
    assert changed.any() and not (changed & ~allowed).any()
    x1, y1, x2, y2 = boxes["hopper"]
    assert (masked[y1:y2, x1:x2] == raw[y1:y2, x1:x2]).all()  # the annotated face is intact
    assert (tmp_path / "out" / "group.txt").read_text().count("\n") == 1


def test_drop_leaves_the_image_out_and_counts_its_faces(group, tmp_path):
    root, _ = group
    result = convert_expw(root, tmp_path / "out", unannotated=_options("drop"))
    assert result.items == []
    assert result.stats.skipped() == {"unannotated_image": 1}
    assert result.stats.read == result.stats.kept + 1
    assert _found(result)["dropped_images"] == 1


def test_the_cache_is_reused_and_a_changed_image_detected_again(group, tmp_path):
    root, _ = group
    out = tmp_path / "out"
    first = _found(convert_expw(root, out, unannotated=_options("report")))
    assert first["cache"] == {"images": 1, "detected": 1, "reused": 0}
    again = _found(convert_expw(root, out, unannotated=_options("report")))
    assert again["cache"] == {"images": 1, "detected": 0, "reused": 1}
    assert again["unannotated_faces"] == first["unannotated_faces"]
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    os.utime(  # another modification time: the cache entry no longer applies
        copy / "image" / "origin" / "group.jpg", ns=(1, 1)
    )
    third = _found(convert_expw(copy, out, unannotated=_options("report")))
    assert third["cache"]["detected"] == 1


def test_unknown_mode_is_refused():
    with pytest.raises(DatasetError, match="--unannotated blur"):
        UnannotatedOptions("blur")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample") / "ExpW"
    return root, write_expw_sample(root, seed=0, images=1000)  # large drawn faces leave less room


def test_retinaface_finds_exactly_the_sample_bystanders(sample, tmp_path):
    """RetinaFace fires on some drawn faces too; each of those matches its row, so the faces
    found unannotated are exactly the pasted real-face bystanders."""
    root, info = sample
    assert len(info.bystanders) >= 20
    convert_expw(root, tmp_path / "out", unannotated=_options("report"))
    found: dict[str, list] = {}
    drawn_hits = 0
    rows = {}
    for line in (root / "label" / "label.lst").read_text().splitlines():
        f = line.split()
        rows.setdefault(f[0], []).append([float(f[3]), float(f[2]), float(f[4]), float(f[5])])
    for path in sorted((tmp_path / "out" / CACHE_FOLDER).glob("chunk-*.json")):
        for name, entry in json.loads(path.read_text())["images"].items():
            boxes = np.array([f[:4] for f in entry["faces"]]).reshape(-1, 4)
            matched = match_faces(boxes, np.array(rows[name]))
            drawn_hits += int(matched.sum())
            if (~matched).any():
                found[name] = boxes[~matched].tolist()
    assert drawn_hits > 0  # the detector does fire on drawn cartoons...
    assert set(found) == set(info.bystanders)  # ...but only the bystanders are unannotated
    for name, faces in found.items():
        assert len(faces) == 1
        assert iou_xyxy(faces[0], info.bystanders[name].face_xyxy) > 0.7


def test_shards_then_a_plain_run_equal_a_plain_run(sample, tmp_path):
    root, _ = sample
    plain = build_datasets(
        [expw_job(root, unannotated=_options("mask"))], tmp_path / "plain", test_per_dataset=80
    )
    out = tmp_path / "sharded"
    counts = [
        detect_expw_shard(root, out / "expw", unannotated=_options("mask", shard=(i, 2), workers=2))
        for i in range(2)
    ]
    assert sum(c["images"] for c in counts) == plain.stats["datasets"]["expw"]["images"]["kept"]
    merged = build_datasets(
        [expw_job(root, unannotated=_options("mask"))], out, test_per_dataset=80
    )
    found = merged.stats["datasets"]["expw"]["details"]["unannotated"]
    assert found["cache"]["detected"] == 0
    want = plain.stats["datasets"]["expw"]
    got = merged.stats["datasets"]["expw"]
    assert got["details"]["unannotated"] | {"cache": None} == want["details"]["unannotated"] | {
        "cache": None
    }
    assert got["classes"] == want["classes"]
    assert merged.stats["totals"]["images"]["val"] > 0
    for name in ("train.txt", "test.txt", "val.txt"):
        relative = [
            [Path(line).name for line in (folder / name).read_text().splitlines()]
            for folder in (tmp_path / "plain", out)
        ]
        assert relative[0] == relative[1]
    for png in (tmp_path / "plain" / "expw").glob("*.png"):
        assert (out / "expw" / png.name).read_bytes() == png.read_bytes()


def test_cli_shard_then_plain_run_reuses_the_cache(group, tmp_path):
    from click.testing import CliRunner

    from yof_darknet.cli import main

    root, _ = group
    out = tmp_path / "out"
    base = ["datasets", "--expw", str(root), "--out", str(out), "--test-per-dataset", "0"]
    refused = CliRunner().invoke(main, [*base, "--shard", "0/1"])
    assert refused.exit_code == 2 and "nothing to split" in refused.output
    shard = CliRunner().invoke(main, [*base, "--unannotated", "mask", "--shard", "0/1"])
    assert shard.exit_code == 0, shard.output
    assert "faces of 1 images (1 detected, 0 from the cache)" in shard.output
    assert not (out / "train.txt").exists()
    plain = CliRunner().invoke(main, [*base, "--unannotated", "mask"])
    assert plain.exit_code == 0, plain.output
    assert (
        "unannotated faces (mask): 2 in 1 of 1 images; masked 1, dropped 0 images" in plain.output
    )
    assert "(faces detected in 0 images, 1 from the cache)" in plain.output
    assert (out / "train.txt").read_text().strip().endswith("group.png")


def test_mask_of_an_exif_turned_photo_with_a_name_not_utf8(tmp_path):
    """One derived copy: faces masked in the stored pixels, then turned upright; the name (not
    UTF-8, which crashed OpenCV) is read by its bytes and renamed."""
    from tests.support.faces import group_photo
    from tests.support.hostile import jpeg_bytes, write_expw
    from yof_darknet.datasets.derived import orient_box
    from yof_darknet.formats.imagefiles import read_image

    image, boxes = group_photo()
    name = os.fsdecode(b"gr\xf6up.jpg")
    x1, y1, x2, y2 = boxes["hopper"]
    root = write_expw(
        tmp_path / "ExpW", {name: jpeg_bytes(image, orientation=6)},
        [os.fsencode(name) + f" 0 {y1} {x1} {x2} {y2} 90.0 3".encode()],
    )  # fmt: skip
    before = tree_digest(root)
    result = convert_expw(root, tmp_path / "out", unannotated=_options("mask"))
    (item,) = result.items
    assert item.image.suffix == ".png" and item.image.name.isascii()
    assert _found(result)["masked_images"] == 1
    assert result.stats.details["derived"] == {"copies": 1, "written_this_run": 1, "upright": 1,
        "shrunk": 0, "recoded": 0, "masked": 1, "max_side": 0}  # fmt: skip
    written = cv2.imread(str(item.image))
    height, width = image.shape[:2]
    assert written.shape[:2] == (width, height)  # turned a quarter
    turned = orient_box(boxes["hopper"], (width, height), 6)
    a, b, c, d = (round(v) for v in turned)
    shown = read_image(root / "image" / "origin" / name)  # OpenCV turns it as the tag says
    assert (written[b:d, a:c] == shown[b:d, a:c]).all()  # the annotated face is intact
    assert (written != shown).any(axis=2).mean() > 0.01  # the other faces were painted over
    assert tree_digest(root) == before
