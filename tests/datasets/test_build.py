from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.expw import make_expw, tree_digest, write_jpeg
from yof_darknet.cli import main
from yof_darknet.core.errors import DatasetError
from yof_darknet.core.expressions import CLASSES
from yof_darknet.core.fileio import atomic_write_text, place_image
from yof_darknet.datasets.build import DatasetJob, build_datasets, expw_job
from yof_darknet.datasets.items import Item
from yof_darknet.datasets.split import VAL_OFF
from yof_darknet.datasets.stats import KEPT, ConversionResult, ConversionStats
from yof_darknet.formats.labels import label_line
from yof_darknet.formats.objdata import read_obj_data


@pytest.fixture(scope="module")
def expw_fixture(dataset_fixtures: Path) -> Path:
    return dataset_fixtures / "ExpW"


def read_list(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_build_writes_lists_obj_data_and_stats(expw_fixture, tmp_path):
    out = tmp_path / "darknet"
    summary = build_datasets([expw_job(expw_fixture)], out, test_per_dataset=2, seed=0)
    train, test = read_list(out / "train.txt"), read_list(out / "test.txt")
    assert len(train) == 5 and len(test) == 2
    assert not set(train) & set(test)
    assert read_list(out / "test_expw.txt") == test
    for path in map(Path, train + test):
        assert path.is_absolute() and path.with_suffix(".txt").is_file()
    assert read_list(out / "obj.names") == list(CLASSES)
    data = read_obj_data(out / "obj.data")
    assert (data.classes, data.train, data.valid) == (7, out / "train.txt", out / "test.txt")
    assert data.names == out / "obj.names" and data.backup.is_dir()
    assert data.read_names() == list(CLASSES)

    stats = json.loads((out / "stats.json").read_text())
    assert stats == summary.stats
    expw = stats["datasets"]["expw"]
    assert expw["faces"]["read"] == 14 and expw["faces"]["kept"] == 8
    assert expw["faces"]["read"] == expw["faces"]["kept"] + sum(expw["faces"]["skipped"].values())
    assert expw["images"] == {"kept": 7, "train": 5, "val": 0, "test": 2}
    assert expw["faces"]["train"] + expw["faces"]["test"] == 8
    for name, table in expw["classes"].items():
        assert table["read"] == table["kept"] + sum(table["skipped"].values()), name
        assert table["train_faces"] + table["test_faces"] == table["kept"], name
    assert sum(t["read"] for t in expw["classes"].values()) == 14
    assert expw["classes"]["neutral"]["skipped"] == {"duplicate": 1, "low_score": 2}
    assert stats["totals"]["images"] == {"train": 5, "val": 0, "test": 2}
    # 10 % of 5 training images rounds down to none: no val list, obj.data says nothing of one
    assert stats["validation"]["mode"] == "off" and not (out / "val.txt").exists()
    assert "val" not in data.extra
    assert stats["options"]["seed"] == 0


def test_same_seed_same_lists_other_seed_other_test(expw_fixture, tmp_path):
    build_datasets([expw_job(expw_fixture)], tmp_path / "a", test_per_dataset=3, seed=1)
    build_datasets([expw_job(expw_fixture)], tmp_path / "b", test_per_dataset=3, seed=1)
    names = [Path(p).name for p in read_list(tmp_path / "a" / "test.txt")]
    assert names == [Path(p).name for p in read_list(tmp_path / "b" / "test.txt")]
    tests = set()
    for seed in range(6):
        built = build_datasets([expw_job(expw_fixture)], tmp_path / f"s{seed}", seed=seed)
        tests.add(tuple(Path(p).name for p in read_list(built.lists["test"])))
    assert len(tests) > 1


def test_rerun_with_other_options_leaves_no_stale_files(tmp_path):
    sizes = {f"p{i}.jpg": (80, 60) for i in range(10)}
    rows = [f"p{i}.jpg 0 5 5 50 50 {40 + 5 * i}.0 3" for i in range(10)]  # scores 40..85
    root = make_expw(tmp_path / "ExpW", rows, sizes)
    out = tmp_path / "darknet"
    build_datasets([expw_job(root, min_face_score=0, copy=True)], out, test_per_dataset=2)
    assert len(list((out / "expw").glob("*.jpg"))) == 10
    # previous run also had an Aff-Wild2 part
    atomic_write_text(out / "test_affwild2.txt", "/old/affwild2/x.jpg\n")
    stats = json.loads((out / "stats.json").read_text())
    stats["datasets"]["affwild2"] = {}
    atomic_write_text(out / "stats.json", json.dumps(stats))

    summary = build_datasets([expw_job(root)], out, test_per_dataset=2)  # keeps scores > 50
    listed = read_list(out / "train.txt") + read_list(out / "test.txt")
    assert sorted(Path(p).name for p in listed) == [f"p{i}.jpg" for i in range(3, 10)]
    for suffix in ("jpg", "txt"):
        names = sorted(p.name for p in (out / "expw").glob(f"*.{suffix}"))
        assert names == [f"p{i}.{suffix}" for i in range(3, 10)]
    assert all((out / "expw" / f"p{i}.jpg").is_symlink() for i in range(3, 10))
    assert summary.stats["datasets"]["expw"]["details"]["stale_files_removed"] == 6
    assert not (out / "test_affwild2.txt").exists()
    assert set(json.loads((out / "stats.json").read_text())["datasets"]) == {"expw"}
    assert not [p for p in out.rglob(".*tmp")]


def test_source_data_is_never_modified(tmp_path):
    sizes = {f"p{i}.jpg": (64, 64) for i in range(6)}
    root = make_expw(tmp_path / "ExpW", [f"p{i}.jpg 0 5 5 50 50 80.0 {i}" for i in range(6)], sizes)
    before = tree_digest(root)
    for copy in (False, True, False):
        build_datasets([expw_job(root, copy=copy)], tmp_path / "out", test_per_dataset=2)
    assert tree_digest(root) == before


@pytest.mark.parametrize("bad", ["raw", "images", "JPEGImages", "my_drawings"])
def test_output_folder_darknet_would_misread_is_refused_with_reason(expw_fixture, tmp_path, bad):
    out = tmp_path / bad / "darknet"
    with pytest.raises(DatasetError, match=r"--out .*rewrites 'images'"):
        build_datasets([expw_job(expw_fixture)], out)
    assert not out.exists()


def test_output_folder_overlapping_source_data_is_refused(tmp_path):
    root = make_expw(tmp_path / "ExpW", ["a.jpg 0 1 1 20 20 90 3"], {"a.jpg": (32, 32)})
    with pytest.raises(DatasetError, match="inside the raw data"):
        build_datasets([expw_job(root)], root / "darknet")
    # beside OUT/expw is fine, inside it (which the converter prunes) is not
    build_datasets([expw_job(root)], tmp_path, test_per_dataset=0)
    inner = make_expw(
        tmp_path / "out" / "expw" / "src", ["a.jpg 0 1 1 20 20 90 3"], {"a.jpg": (32, 32)}
    )
    with pytest.raises(DatasetError, match="raw data lies inside the output folder"):
        build_datasets([expw_job(inner)], tmp_path / "out")
    assert (inner / "image" / "origin" / "a.jpg").is_file()
    with pytest.raises(DatasetError, match="no dataset given"):
        build_datasets([], tmp_path / "out")


def convert_videos(raw: Path, out_dir: Path, *, progress: bool) -> ConversionResult:
    """A stand-in second converter shaped like Aff-Wild2's: frames grouped by video."""
    stats = ConversionStats("affwild2", str(raw))
    items = []
    for video in range(4):
        for frame in range(5):
            image = out_dir / f"v{video}" / f"{frame:05d}.jpg"
            write_jpeg(raw / f"v{video}_{frame}.jpg", 40, 30, seed=frame)
            place_image(raw / f"v{video}_{frame}.jpg", image)
            atomic_write_text(image.with_suffix(".txt"), label_line(6, (5, 5, 25, 25), (40, 30)))
            items.append(Item(image, "affwild2", f"v{video}", (6,)))
    stats.add(KEPT, [6] * len(items))
    stats.add("no_face_found", [3, 3])
    return ConversionResult(items, stats)


def test_a_second_converter_plugs_in(expw_fixture, tmp_path):
    out = tmp_path / "darknet"
    jobs = [
        expw_job(expw_fixture),
        DatasetJob("affwild2", tmp_path / "aw2", partial(convert_videos, tmp_path / "aw2")),
    ]
    summary = build_datasets(jobs, out, test_per_dataset=10, seed=0, force_test_size=True)
    affwild2 = read_list(out / "test_affwild2.txt")
    assert len(affwild2) == 10
    assert len({Path(p).parent.name for p in affwild2}) == 2  # two whole videos
    test = read_list(out / "test.txt")
    assert sorted(test) == sorted(affwild2 + read_list(out / "test_expw.txt"))
    assert len(read_list(out / "train.txt")) == 10 + 6  # 2 videos + ExpW's 7 minus 1 held out
    part = summary.stats["datasets"]["affwild2"]
    assert part["faces"]["skipped"] == {"no_face_found": 2}
    assert part["classes"]["neutral"]["test_faces"] == 10
    assert summary.stats["totals"]["images"] == {"train": 16, "val": 0, "test": 11}
    # auto validation: 10 % of 10 frames is one, less than one whole video of 5
    assert "affwild2: took 0 validation images instead of 1" in " ".join(summary.messages)


def test_cli_datasets_command(expw_fixture, tmp_path):
    out = tmp_path / "darknet"
    runner = CliRunner()
    options = ["--test-per-dataset", "2", "--force-test-size", "--seed", "5"]
    options += ["--drop-mixed-images", "--copy"]
    result = runner.invoke(
        main, ["datasets", "--expw", str(expw_fixture), "--out", str(out), *options]
    )
    assert result.exit_code == 0, result.output
    assert "expw: 14 faces read, 5 kept in 5 images" in result.output
    assert "mixed_image 3" in result.output and "low_score 4" in result.output
    assert "train 3 images, test 2 images" in result.output
    assert str(out / "obj.data") in result.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["options"]["drop_mixed_images"] is True and stats["options"]["seed"] == 5
    assert stats["options"]["force_test_size"] is True
    assert not any(p.is_symlink() for p in (out / "expw").iterdir())

    refused = runner.invoke(main, ["datasets", "--expw", str(expw_fixture), "--out", "/tmp/raw/x"])
    assert refused.exit_code == 1 and "rewrites" in refused.output
    (tmp_path / "empty").mkdir()
    args = ["datasets", "--expw", str(tmp_path / "empty"), "--out", str(out)]
    missing = runner.invoke(main, args)
    assert missing.exit_code == 1 and "no ExpW label.lst" in missing.output


def test_nothing_kept_is_an_error_after_writing_stats(tmp_path):
    root = make_expw(tmp_path / "ExpW", ["a.jpg 0 1 1 20 20 10.0 3"], {"a.jpg": (32, 32)})
    with pytest.raises(DatasetError, match="no training image was kept"):
        build_datasets([expw_job(root)], tmp_path / "out")
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["datasets"]["expw"]["faces"]["skipped"] == {"low_score": 1}


TINY_CFG = """[net]
batch=64
subdivisions=1
width=64
height=64
channels=3
learning_rate=0.001
max_batches=1
policy=constant

[convolutional]
filters=36
size=3
stride=2
pad=1
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58
classes=7
num=3
random=0
"""


def darknet_train_once(darknet: Path, obj_data: Path, cwd: Path) -> str:
    """One training iteration of pjreddie's darknet: it loads 64 random images of the train
    list with their labels and exits with "Couldn't open file" if a label is not where it looks."""
    (cwd / "tiny.cfg").write_text(TINY_CFG)
    done = subprocess.run(
        [str(darknet), "detector", "train", str(obj_data), "tiny.cfg"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout + done.stderr


def test_debian_darknet_reads_every_label(debian_darknet, tmp_path):
    sizes = {name: (96, 80) for name in ("plain_1.jpg", "drawing_2.jpg", "images_3.jpg")}
    rows = [f"{name} 0 10 10 60 60 80.0 {i}" for i, name in enumerate(sizes)]
    root = make_expw(tmp_path / "ExpW", rows, sizes)
    out = tmp_path / "darknet"
    build_datasets([expw_job(root)], out, test_per_dataset=0)
    assert len(read_list(out / "train.txt")) == 3
    log = darknet_train_once(debian_darknet, out / "obj.data", tmp_path)
    assert "Couldn't open file" not in log, log
    assert "count: " in log and (out / "backup" / "tiny_final.weights").is_file(), log

    # control: the same image under an "images" folder is looked up in "labels" and fails
    control = tmp_path / "control" / "images"
    control.mkdir(parents=True)
    image = next((out / "expw").glob("plain_1.jpg"))
    shutil.copy(image, control / "plain_1.jpg")
    shutil.copy(image.with_suffix(".txt"), control / "plain_1.txt")
    (tmp_path / "control" / "train.txt").write_text(f"{control / 'plain_1.jpg'}\n")
    data = (
        (out / "obj.data")
        .read_text()
        .replace(str(out / "train.txt"), str(control.parent / "train.txt"))
    )
    (tmp_path / "control" / "obj.data").write_text(data)
    log = darknet_train_once(debian_darknet, tmp_path / "control" / "obj.data", tmp_path)
    assert f"Couldn't open file: {tmp_path}/control/labels/plain_1.txt" in log


@pytest.fixture(scope="module")
def expw60(tmp_path_factory) -> Path:
    """60 images of one face each, classes in turn."""
    root = tmp_path_factory.mktemp("expw60") / "ExpW"
    sizes = {f"p{i:02d}.jpg": (64, 64) for i in range(60)}
    return make_expw(root, [f"p{i:02d}.jpg 0 5 5 50 50 80.0 {i % 7}" for i in range(60)], sizes)


def names(path: Path) -> list[str]:
    return [Path(line).name for line in read_list(path)]


def test_validation_comes_from_training_and_leaves_the_test_lists_alone(expw60, tmp_path):
    out, off = tmp_path / "darknet", tmp_path / "off"
    summary = build_datasets([expw_job(expw60)], out, test_per_dataset=10, seed=2)
    without = build_datasets([expw_job(expw60)], off, test_per_dataset=10, seed=2, val=VAL_OFF)
    train, val, test = (names(out / f"{key}.txt") for key in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (45, 5, 10)  # auto: 10 % of 50 training images
    assert not set(train) & set(val) and not set(val) & set(test) and not set(train) & set(test)
    assert names(out / "val_expw.txt") == val
    for key in ("test", "test_expw"):
        assert (out / f"{key}.txt").read_bytes() == (off / f"{key}.txt").read_bytes().replace(
            str(off).encode(), str(out).encode()
        )
    assert sorted(names(off / "train.txt")) == sorted(train + val)
    data = read_obj_data(out / "obj.data")
    assert data.valid == out / "test.txt" and data.extra == {"val": str(out / "val.txt")}
    stats = summary.stats
    assert stats["validation"]["mode"] == "from_training" and stats["validation"]["images"] == 5
    assert stats["options"]["val_per_dataset"] == "auto" and not stats["options"]["force_test_size"]
    assert stats["totals"]["images"] == {"train": 45, "val": 5, "test": 10}
    expw = stats["datasets"]["expw"]
    assert expw["split"]["val_requested"] == "auto" and expw["split"]["val_message"] is None
    for table in expw["classes"].values():
        assert table["train_faces"] + table["val_faces"] + table["test_faces"] == table["kept"]
    assert sum(t["val_images"] for t in expw["classes"].values()) == 5
    assert without.stats["validation"]["mode"] == "off"
    assert "val" not in read_obj_data(off / "obj.data").extra

    # the same folder rebuilt without validation: its val lists go with the unit they came in
    build_datasets([expw_job(expw60)], out, test_per_dataset=10, seed=2, val=VAL_OFF)
    assert not (out / "val.txt").exists() and not (out / "val_expw.txt").exists()
    assert "val" not in read_obj_data(out / "obj.data").extra
    assert names(out / "test.txt") == test


def test_cli_val_sizes_and_the_share_note(expw60, tmp_path):
    runner = CliRunner()
    base = ["datasets", "--expw", str(expw60), "--out", str(tmp_path / "out")]
    result = runner.invoke(main, [*base, "--test-per-dataset", "30", "--val-per-dataset", "25%"])
    assert result.exit_code == 0, result.output
    assert (
        "note: expw: --test-per-dataset 30 would hold out 50% of its 60 images (more than 30%), "
        "leaving 30 to train; holding out 20% instead (12); --force-test-size holds out 30"
    ) in result.output
    assert "train 36 images, test 12 images, validation 12 images" in result.output
    assert f"validation: 12 images (12 faces) from the training images, in {tmp_path}" in (
        result.output
    )
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["options"]["val_per_dataset"] == "25%"
    assert stats["options"]["force_test_size"] is False
    split = stats["datasets"]["expw"]["split"]
    assert split["test_requested"] == 30 and split["test_capped"] is True
    assert "--force-test-size" in split["message"]

    off = runner.invoke(main, [*base, "--val-per-dataset", "0", "--test-per-dataset", "6"])
    assert off.exit_code == 0, off.output
    assert "validation: off (--val-per-dataset 0); obj.data has no val list" in off.output
    assert not (tmp_path / "out" / "val.txt").exists()

    bad = runner.invoke(
        main, [*base[:-2], "--out", str(tmp_path / "bad"), "--val-per-dataset", "2.5"]
    )
    assert bad.exit_code == 1 and "--val-per-dataset '2.5'" in bad.output
    assert not (tmp_path / "bad").exists()  # refused before any conversion


def _recorded(lock: Path) -> bool:
    """Whether a run holds ``lock``: it writes its record there once it has locked it."""
    try:
        return lock.stat().st_size > 0
    except FileNotFoundError:
        return False


def test_a_second_run_into_one_out_is_refused_and_the_first_stays_whole(expw_fixture, tmp_path):
    """Two terminals (or make and a SLURM job) converting into one --out: the second stops
    before any work, naming the first (pid, host, command, start); the first's lists all have
    their images and labels."""
    raw = tmp_path / "ExpW"
    shutil.copytree(expw_fixture, raw)
    before = tree_digest(raw)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "yof_darknet", "datasets", "--expw", str(raw), "--out",
               str(out)]  # fmt: skip
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        lock = out / ".yof-lock"
        while not _recorded(lock):  # its record: it holds the lock
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.005)
        first.send_signal(signal.SIGSTOP)
        second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    finally:
        first.send_signal(signal.SIGCONT)
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    assert second.returncode == 1
    assert second.stderr.count("\n") == 1, second.stderr
    assert f"another run is writing there (pid {first.pid} on " in second.stderr
    assert f"--expw {raw} --out {out}" in second.stderr and "started " in second.stderr
    listed = [Path(p) for name in ("train.txt", "test.txt") for p in read_list(out / name)]
    assert listed and all(p.is_file() and p.with_suffix(".txt").is_file() for p in listed)
    assert tree_digest(raw) == before


def test_ultralytics_yaml_names_the_same_lists_and_labels_beside_images(tmp_path):
    from yof_darknet.samples.write import write_expw_sample

    write_expw_sample(tmp_path / "ExpW", images=40)
    out = tmp_path / "data"
    build_datasets([expw_job(tmp_path / "ExpW")], out, test_per_dataset=6, seed=0)
    yaml = pytest.importorskip("yaml")
    spec = yaml.safe_load((out / "ultralytics.yaml").read_text())
    assert spec["names"] == list(CLASSES)
    for key in ("train", "val", "test"):
        assert Path(spec[key]) == out / f"{key}.txt"
    for image in read_list(out / "val.txt"):
        assert "/images/" not in image and Path(image).with_suffix(".txt").is_file()
    # no validation list: Ultralytics cannot train, so no data file (and the old one goes)
    summary = build_datasets([expw_job(tmp_path / "ExpW")], out, test_per_dataset=6, val=VAL_OFF)
    assert not (out / "ultralytics.yaml").exists()
    assert any("no ultralytics.yaml" in m for m in summary.messages)


def test_ultralytics_own_checker_loads_it_and_finds_every_label(tmp_path, monkeypatch):
    pytest.importorskip("ultralytics", reason="ultralytics (AGPL, optional extra) not installed")
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    from yof_darknet.samples.write import write_expw_sample

    write_expw_sample(tmp_path / "ExpW", images=40)
    out = tmp_path / "data"
    build_datasets([expw_job(tmp_path / "ExpW")], out, test_per_dataset=6, seed=0)
    data = check_det_dataset(str(out / "ultralytics.yaml"), autodownload=False)
    assert data["nc"] == 7 and list(data["names"].values()) == list(CLASSES)
    stats = json.loads((out / "stats.json").read_text())
    for part in ("val", "test"):
        dataset = YOLODataset(img_path=data[part], data=data, imgsz=64, augment=False)
        assert len(dataset.labels) == stats["totals"]["images"][part]
        assert sum(len(label["cls"]) for label in dataset.labels) == stats["totals"]["faces"][part]
        for label_file, image in zip(dataset.label_files, dataset.im_files, strict=True):
            assert Path(label_file) == Path(image).with_suffix(".txt")


def _tree(folder: Path, out: Path) -> dict[str, object]:
    """Every entry under ``folder``: link target, or bytes with ``out``'s path written as OUT."""
    found: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            found[key] = ("link", os.readlink(path))
        elif path.is_file():
            found[key] = path.read_bytes().replace(str(out).encode(), b"OUT")
    return found


def _listed(out: Path, listing: str) -> str:
    path = out / listing
    return path.read_text().replace(str(out), "OUT") if path.exists() else ""


def _all_jobs(raw: dict[str, Path], fixtures: Path, names: list[str]) -> list[DatasetJob]:
    from tests.support.affwild2 import TruthDetector
    from yof_darknet.datasets.affwild2 import AffWild2Options, convert_affwild2
    from yof_darknet.datasets.jobs import affectnet_job, own_job, rafdb_job

    jobs = {
        "expw": lambda: expw_job(raw["expw"]),
        "affwild2": lambda: DatasetJob("affwild2", raw["affwild2"], partial(
            convert_affwild2, raw["affwild2"], options=AffWild2Options(detector="truth"),
            detector_factory=partial(TruthDetector, fixtures))),
        "affectnet": lambda: affectnet_job(raw["affectnet"]),
        "rafdb": lambda: rafdb_job(raw["rafdb"]),
        "own": lambda: own_job(raw["own"], raw["own"].parent / "own.csv"),
    }  # fmt: skip
    return [jobs[name]() for name in names]


def test_all_datasets_together_equal_each_alone(dataset_fixtures, tmp_path):
    """Converted together or one by one, each dataset's folder, counts and held-out lists are
    the same (only train.txt, test.txt and val.txt join them); no raw file changes."""
    from tests.support.affwild2 import copy_release
    from yof_darknet.samples.affectnet import write_affectnet_sample
    from yof_darknet.samples.rafdb import write_rafdb_sample

    raw = {"expw": dataset_fixtures / "ExpW", "affwild2": copy_release(dataset_fixtures,
           tmp_path / "raw" / "AffWild2"), "own": tmp_path / "raw" / "own"}  # fmt: skip
    write_affectnet_sample(raw.setdefault("affectnet", tmp_path / "raw" / "AffectNet"))
    write_rafdb_sample(raw.setdefault("rafdb", tmp_path / "raw" / "RAF-DB"))
    for index in range(6):
        write_jpeg(raw["own"] / f"p{index}.jpg", 60, 60, seed=index)
    rows = [f"p{i}.jpg,5,5,50,55,{CLASSES[i]}" for i in range(6)]
    (raw["own"].parent / "own.csv").write_text("image,x1,y1,x2,y2,label\n" + "\n".join(rows))
    before = {name: tree_digest(path) for name, path in raw.items()}
    names = list(raw)
    together = tmp_path / "together"
    build_datasets(_all_jobs(raw, dataset_fixtures, names), together, test_per_dataset=3)
    stats = json.loads((together / "stats.json").read_text())
    assert set(stats["datasets"]) == set(names)
    for name in names:
        alone = tmp_path / f"alone-{name}"
        build_datasets(_all_jobs(raw, dataset_fixtures, [name]), alone, test_per_dataset=3)
        assert _tree(together / name, together) == _tree(alone / name, alone), name
        single = json.loads((alone / "stats.json").read_text())["datasets"][name]
        assert json.dumps(single).replace(str(alone), "OUT") == json.dumps(
            stats["datasets"][name]
        ).replace(str(together), "OUT"), name
        for listing in (f"test_{name}.txt", f"val_{name}.txt"):  # no val list: none drawn
            assert _listed(together, listing) == _listed(alone, listing), listing
    assert {name: tree_digest(path) for name, path in raw.items()} == before


def test_a_datasets_own_test_set_is_its_test_list_and_validation_comes_from_training(tmp_path):
    from yof_darknet.datasets.jobs import rafdb_job
    from yof_darknet.datasets.split import parse_val_size
    from yof_darknet.samples.rafdb import write_rafdb_sample

    info = write_rafdb_sample(tmp_path / "RAF-DB")
    out = tmp_path / "out"
    summary = build_datasets(
        [rafdb_job(tmp_path / "RAF-DB")], out, test_per_dataset=1, val=parse_val_size("2")
    )
    test, val = (read_list(out / f"{n}_rafdb.txt") for n in ("test", "val"))
    train = read_list(out / "train.txt")
    assert len(test) == info.held_out and all(Path(p).name.startswith("test_") for p in test)
    assert len(val) == 2 and all(Path(p).name.startswith("train_") for p in val)
    assert len(train) == info.kept - info.held_out - 2
    split = summary.stats["datasets"]["rafdb"]["split"]
    assert split["test_source"] == "dataset"
    assert f"its own held-out set (the test_ images, {info.held_out} images)" in split["message"]
    pooled = build_datasets([rafdb_job(tmp_path / "RAF-DB", held_out="drawn")], tmp_path / "o2",
                            test_per_dataset=3, val=VAL_OFF)  # fmt: skip
    assert pooled.stats["datasets"]["rafdb"]["split"]["test_source"] == "drawn"
    assert len(read_list(tmp_path / "o2" / "test.txt")) == 3
