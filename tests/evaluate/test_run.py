"""`map` through Debian's darknet never scores an image darknet could not load, and hands it
no test image path a shell would interpret, whatever the test images are called."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.darknet import NAMES, write_weights
from tests.support.expw import tree_digest
from tests.support.hostile import header_only_png, jpeg_bytes, real_pixels
from tests.support.model import tiny_cfg
from yof_darknet.cli import main
from yof_darknet.evaluate.run import _unloaded

HOSTILE = "t$(touch${IFS}W).jpg"


def _test_set(root: Path, broken: bool) -> Path:
    """Five real photos (one under a hostile name, one not UTF-8) and, with ``broken``, a
    header-only PNG named .jpg that OpenCV cannot decode, each with a label."""
    folder = root / "faces"
    folder.mkdir(parents=True)
    photo = real_pixels()[:96, :96].copy()
    names = ["a.jpg", "b.jpg", "c.jpg", HOSTILE, os.fsdecode(b"caf\xe9.jpg")]
    data = {name: jpeg_bytes(photo[:, ::-1] if i % 2 else photo) for i, name in enumerate(names)}
    if broken:
        data["broken.jpg"] = header_only_png(96, 96)
    images = []
    for name, content in data.items():
        (folder / name).write_bytes(content)
        (folder / name).with_suffix(".txt").write_text("3 0.5 0.5 0.4 0.4\n")
        images.append(folder / name)
    listing = root / "test.txt"
    listing.write_bytes(b"".join(os.fsencode(p) + b"\n" for p in images))
    (root / "obj.names").write_text("\n".join(NAMES) + "\n")
    data_path = root / "obj.data"
    data_path.write_text(f"classes = 7\ntrain = {listing}\nvalid = {listing}\n"
                         f"names = {root / 'obj.names'}\nbackup = {root}\n")  # fmt: skip
    return data_path


@pytest.fixture
def model(tmp_path: Path, darknet_fixtures: Path) -> tuple[Path, Path]:
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(tiny_cfg((darknet_fixtures / "dataset" / "yolov3-tiny-obj.cfg").read_text()))
    weights = tmp_path / "tiny.weights"
    write_weights(weights, cfg, seen=0)
    return cfg, weights


def _map(data: Path, model: tuple[Path, Path], darknet: Path, out: Path):
    cfg, weights = model
    args = ["map", "--data", str(data), "--weights", str(weights), "--cfg", str(cfg),
            "--darknet", str(darknet), "--out", str(out)]  # fmt: skip
    return CliRunner().invoke(main, args)


@pytest.mark.slow
def test_an_image_darknet_cannot_load_is_never_scored(tmp_path, model, debian_darknet):
    data = _test_set(tmp_path / "set", broken=True)
    before = tree_digest(tmp_path / "set")
    result = _map(data, model, debian_darknet, tmp_path / "map")
    assert result.exit_code == 1, result.output
    assert "darknet could not load 1 test image(s)" in result.output
    assert f"{tmp_path / 'set' / 'faces' / 'broken.jpg'} (image not loaded)" in result.output
    assert not (tmp_path / "map" / "table2.json").exists()
    assert "Cannot load image" in (tmp_path / "map" / "valid.log").read_text()
    assert tree_digest(tmp_path / "set") == before
    assert not list(tmp_path.rglob("W")) and not list(Path.cwd().glob("W"))


@pytest.mark.slow
def test_hostile_and_non_utf8_test_names_are_scored_through_safe_links(
    tmp_path, model, debian_darknet
):
    data = _test_set(tmp_path / "set", broken=False)
    result = _map(data, model, debian_darknet, tmp_path / "map")
    assert result.exit_code == 0, result.output
    log = (tmp_path / "map" / "valid.log").read_text(errors="replace")
    assert "$" not in log and "Cannot load image" not in log
    assert json.loads((tmp_path / "map" / "table2.json").read_text())["ground_truth"] == 5


def test_darknet_reports_of_unloaded_images_and_labels_are_read(tmp_path):
    linked = [tmp_path / "images_by_index" / f"{i:07d}.jpg" for i in range(3)]
    images = [Path("/d/a.jpg"), Path("/d/b.png"), Path("/d/c.jpg")]
    log = (
        f'Cannot load image "{linked[0]}"\nSTB Reason: can\'t fopen\n'  # pjreddie, AlexeyAB stb
        f"Cannot load image {linked[2]}\n"  # AlexeyAB with OpenCV
        "Can't open label file. (This can be normal only if you use MSCOCO): "
        f"{linked[1].with_suffix('.txt')} \n"
        "\x1b[1mdetections_count = 3\x1b[0m\n"
    )
    assert _unloaded(log, linked, images) == [
        "/d/a.jpg (image not loaded)",
        "/d/c.jpg (image not loaded)",
        "/d/b.png (label not found)",
    ]
    assert _unloaded("Total Detection Time: 1 Seconds\n", linked, images) == []
