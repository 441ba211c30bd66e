"""A shortened `make reproduce` with Debian's real darknet: every stage, tiny sizes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from yof_darknet.core.expressions import CLASSES


def _reproduce(cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "YOF_WEIGHTS_URL": "http://127.0.0.1:9/yolov3-tiny.weights"}
    args = [sys.executable, "-m", "yof_darknet", "reproduce", "--test-per-dataset", "8"]
    args += ["--set", "width=64", "--set", "height=64", "--set", "batch=2"]
    args += ["--max-batches", "3", *extra]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _learned_nothing(done: subprocess.CompletedProcess[str]) -> None:
    """The verdict is the last line; exit code 3 exactly when the model learned nothing (three
    iterations find no face: the boxes darknet clips to the whole image do as well anywhere)."""
    last = done.stdout.splitlines()[-1] if done.stdout else ""
    assert last.startswith("verdict: "), done.stdout[-3000:] + done.stderr[-3000:]
    nothing = last.startswith("verdict: learned nothing: it finds no faces (face AP ")
    assert done.returncode == (3 if nothing else 0), done.stdout[-3000:] + done.stderr[-3000:]
    assert ("exit code 3: the model learned nothing" in done.stderr) == nothing


@pytest.mark.slow
def test_reproduce_runs_every_stage_on_the_sample_and_resumes(tmp_path: Path, debian_darknet):
    first = _reproduce(tmp_path)
    _learned_nothing(first)
    out = first.stdout
    assert "EMBEDDED SAMPLE" in out
    assert "TRAINING FROM SCRATCH" in out  # no pretrained weights can be had here

    run = tmp_path / "runs" / "sample"
    table = (run / "map" / "table2.md").read_text()
    assert table in out  # the printed Table II is the saved one
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    for name in CLASSES:
        assert any(row.startswith(f"| {name} |") for row in rows), name
    assert any(row.startswith("| **mAP** |") for row in rows)
    assert "\nFace AP (every class merged into one face class" in table
    # the sample profile draws a validation list and reports its best checkpoint (three
    # iterations of Debian's darknet save one: _final)
    assert "select: best (profile sample)" in out
    assert "Table II uses the final weights instead" not in out
    val_list = (tmp_path / "data" / "sample-darknet").resolve() / "val.txt"
    assert (
        "Table II uses runs/sample/weights/yolov3-tiny_best.weights = yolov3-tiny_final.weights "
        "(iteration 3, validation mAP " in " ".join(table.split())
    )
    assert f"chosen on the validation list {val_list} only" in " ".join(table.split())
    assert "Validation (1 checkpoints on " in out
    assert (run / "checkpoints.csv").is_file()

    assert (run / "weights" / "yolov3-tiny_final.weights").is_file()
    with (run / "results.csv").open() as handle:
        iterations = [int(row["iteration"]) for row in csv.DictReader(handle)]
    assert iterations == [1, 2, 3]
    assert (run / "results.png").stat().st_size > 0
    data = tmp_path / "data" / "sample-darknet"
    assert (data / "obj.data").is_file() and (data / "stats.json").is_file()
    assert len((data / "test_expw.txt").read_text().split()) == 8
    assert len((data / "test_affwild2.txt").read_text().split()) == 8
    stats = json.loads((data / "stats.json").read_text())
    assert stats["validation"]["mode"] == "from_training"  # the sample profile: auto
    val = (data / "val.txt").read_text().split()
    assert len(val) == stats["totals"]["images"]["val"] > 0
    assert not set(val) & set((data / "test.txt").read_text().split())
    assert not set(val) & set((data / "train.txt").read_text().split())
    run_data = (run / "obj.data").read_text()
    assert f"valid = {data.resolve() / 'val.txt'}" in run_data  # never the test list

    again = _reproduce(tmp_path)
    _learned_nothing(again)
    assert "already written" in again.stdout
    assert "training already finished" in again.stdout
    assert (run / "map" / "table2.md").read_text() == table


@pytest.mark.slow
def test_control_trains_on_shuffled_labels_and_scores_on_true_ones(tmp_path: Path, debian_darknet):
    done = _reproduce(tmp_path, "--shuffle-labels", "--run", "sample-control")
    _learned_nothing(done)
    assert "control: scoring on the true-label sample" in done.stdout
    # it chooses its weights on its own validation list (shuffled labels, like the ones it
    # learned), never on the true labels; Table II then scores the true test list
    val_list = (tmp_path / "data" / "sample-control-darknet").resolve() / "val.txt"
    assert f"chosen on the validation list {val_list} only" in " ".join(done.stdout.split())

    def rows(name: str) -> list[list[str]]:
        lst = tmp_path / "data" / name / "ExpW" / "label" / "label.lst"
        return [line.split() for line in lst.read_text().splitlines()]

    true_rows, shuffled_rows = rows("sample"), rows("sample-control")
    assert [r[:7] for r in true_rows] == [r[:7] for r in shuffled_rows]  # same images and boxes
    faces = [sorted(r[7] for r in {tuple(r) for r in rs}) for rs in (true_rows, shuffled_rows)]
    assert faces[0] == faces[1]  # the same labels, permuted among the faces
    assert [r[7] for r in true_rows] != [r[7] for r in shuffled_rows]

    control_train = (tmp_path / "runs" / "sample-control" / "obj.data").read_text()
    assert "sample-control-darknet" in control_train  # trained on the shuffled labels
    table = json.loads((tmp_path / "runs" / "sample-control" / "map" / "table2.json").read_text())
    true_test = (tmp_path / "data" / "sample-darknet" / "test.txt").read_text().split()
    assert table["ground_truth"] == sum(
        len(Path(p).with_suffix(".txt").read_text().splitlines()) for p in true_test
    )


@pytest.mark.slow
def test_the_control_of_a_users_dataset_is_trained_the_same_way_and_set_beside(
    tmp_path: Path, debian_darknet
):
    from yof_darknet.samples.write import write_sample

    expw = str(write_sample(tmp_path / "raw", images=40).expw.root)
    recipe = _reproduce(tmp_path, "--expw", expw, "--profile", "sample")
    _learned_nothing(recipe)  # three iterations: exit 3 when it finds no faces
    assert "no scored recipe run" not in recipe.stdout and "## Recipe" not in recipe.stdout
    done = _reproduce(tmp_path, "--expw", expw, "--profile", "sample", "--shuffle-labels")
    _learned_nothing(done)

    runs, data = tmp_path / "runs", tmp_path / "data"
    control = runs / "sample-control"  # the recipe's run name + -control
    assert "labels permuted across faces" in done.stdout
    assert "data/darknet-control" in (control / "obj.data").read_text()  # trained on permuted
    record = json.loads((control / "control.json").read_text())
    assert record["scored_on"] == str((data / "darknet" / "obj.data").resolve())
    assert record["recipe_run"] == "runs/sample"
    tables = [
        json.loads((r / "map" / "table2.json").read_text()) for r in (runs / "sample", control)
    ]
    assert tables[0]["ground_truth"] == tables[1]["ground_truth"]  # the same true test list

    beside = (control / "control.md").read_text()
    assert beside in done.stdout
    maps = [t["map"] for t in tables]
    ratio = f"{maps[0] / maps[1]:.2f}×" if maps[1] > 0 else "∞"
    assert "## Recipe (runs/sample) vs its permuted-label control (runs/sample-control)" in beside
    assert f"{ratio} the control's" in beside
    assert "| control AP (%) | recipe AP (%) | recipe − control (pp) | recipe ÷ control |" in beside
    assert f"| **mAP** | {maps[1] * 100:.2f} | {maps[0] * 100:.2f} |" in beside


@pytest.mark.slow
def test_reproduce_forwards_the_dataset_options_to_the_real_converter(tmp_path, debian_darknet):
    from yof_darknet.samples.write import write_sample

    raw = write_sample(tmp_path / "raw")
    videos = tmp_path / "videos.txt"
    videos.write_text("102-25-320x180\n")
    done = _reproduce(
        tmp_path, "--expw", str(raw.expw.root), "--affwild2", str(raw.affwild2),
        "--videos-list", str(videos), "--face-max-side", "320", "--profile", "sample",
        "--min-face-score", "60", "--split-by", "videos", "--match-iou", "0.6",
    )  # fmt: skip
    _learned_nothing(done)
    converted = tmp_path / "data" / "darknet" / "affwild2"
    manifests = sorted(converted.rglob("manifest.json"))
    assert [m.parent.name for m in manifests] == ["102-25-320x180"]  # only the listed video
    manifest = json.loads(manifests[0].read_text())
    assert manifest["signature"]["settings"]["face_max_side"] == 320  # what the converter used
    stats = json.loads((tmp_path / "data" / "darknet" / "stats.json").read_text())
    assert stats["datasets"]["affwild2"]["details"]["videos"] == 1
    assert stats["options"]["min_face_score"] == 60 and stats["options"]["split_by"] == "videos"
    table = json.loads((tmp_path / "runs" / "sample" / "map" / "table2.json").read_text())
    assert table["iou_thresh"] == 0.6
    anchors = json.loads((tmp_path / "runs" / "sample" / "anchors.json").read_text())
    assert anchors["rule"] == "auto" and anchors["network_size"] == [64, 64]


def test_paper_profile_refuses_to_train_from_scratch_unless_asked(tmp_path, debian_darknet):
    from yof_darknet.samples.write import write_sample

    raw = write_sample(tmp_path / "raw", images=40)
    done = _reproduce(tmp_path, "--expw", str(raw.expw.root))  # real data: the paper profile
    assert done.returncode == 1
    assert "cannot download http://127.0.0.1:9/yolov3-tiny.weights" in done.stderr
    assert "pass --from-scratch (make reproduce FROM_SCRATCH=1)" in done.stderr
    assert not (tmp_path / "runs" / "paper").exists()  # refused before training started
    # the paper's split: no validation list, every image not held out for test trains
    data = tmp_path / "data" / "darknet"
    stats = json.loads((data / "stats.json").read_text())
    assert stats["validation"]["mode"] == "off" and stats["options"]["val_per_dataset"] == "0"
    assert not (data / "val.txt").exists() and "val =" not in (data / "obj.data").read_text()
    assert "validation off (--val-per-dataset 0)" in done.stdout


@pytest.mark.slow
def test_cpu_profile_trains_from_scratch_by_design_and_reaches_table_ii(tmp_path, debian_darknet):
    from yof_darknet.samples.write import write_sample

    raw = write_sample(tmp_path / "raw", images=40)
    done = _reproduce(tmp_path, "--expw", str(raw.expw.root), "--profile", "cpu")
    _learned_nothing(done)  # three iterations: exit 3 when it finds no faces
    # the cpu profile reports its best checkpoint on the validation list it draws
    assert "select: best (profile cpu)" in done.stdout
    assert "chosen on the validation list" in done.stdout
    out = done.stdout + done.stderr
    assert "weights: profile cpu trains from scratch by design (no pretrained weights)" in out
    assert "cannot download" not in out  # no COCO weights were even asked for
    assert "profile cpu on pjreddie's darknet: it trains, but on one core" in out
    cfg = (tmp_path / "runs" / "cpu" / "yolov3-tiny.cfg").read_text().splitlines()
    assert "learning_rate=0.002" in cfg and "burn_in=400" in cfg  # the profile's own values
    assert "width=64" in cfg  # --set on top of it
    table = json.loads((tmp_path / "runs" / "cpu" / "map" / "table2.json").read_text())
    assert set(table["datasets"]) == {"expw"}


def test_reproduce_takes_affectnet_and_rafdb_as_real_data(tmp_path, debian_darknet):
    from yof_darknet.samples.affectnet import write_affectnet_sample
    from yof_darknet.samples.rafdb import write_rafdb_sample

    affectnet = write_affectnet_sample(tmp_path / "raw" / "AffectNet")
    rafdb = write_rafdb_sample(tmp_path / "raw" / "RAF-DB")
    done = _reproduce(tmp_path, "--affectnet", str(affectnet.root), "--rafdb", str(rafdb.root))
    assert done.returncode == 1  # real data: the paper profile, which needs pretrained weights
    assert "EMBEDDED SAMPLE" not in done.stdout and not (tmp_path / "data" / "sample").exists()
    assert "pass --from-scratch" in done.stderr
    data = tmp_path / "data" / "darknet"
    stats = json.loads((data / "stats.json").read_text())
    assert set(stats["datasets"]) == {"affectnet", "rafdb"}
    assert stats["options"]["affectnet"] == str(affectnet.root)
    assert stats["options"]["held_out"] == "official"
    for name, info in (("affectnet", affectnet), ("rafdb", rafdb)):
        assert len((data / f"test_{name}.txt").read_text().split()) == info.held_out


@pytest.mark.slow
def test_reproduce_trains_and_scores_your_own_classes(tmp_path, debian_darknet):
    """Your photos with your class list: obj.names, the cfg's heads and Table II follow it."""
    from yof_darknet.samples.rafdb import write_rafdb_sample

    info = write_rafdb_sample(tmp_path / "raw" / "RAF-DB", compound=False)
    photos = info.root / "basic" / "Image" / "original"
    rows = ["image,x1,y1,x2,y2,label"]
    for index, (name, box) in enumerate(sorted(info.box_files.items())):
        values = box.split()
        if (photos / name).is_file() and len(values) == 4:
            rows.append(f"{name},{','.join(values)},{('smiling', 'other')[index % 2]}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "classes.txt").write_text("smiling\nother\n")
    done = _reproduce(
        tmp_path, "--images", str(photos), "--labels", str(tmp_path / "labels.csv"),
        "--classes", str(tmp_path / "classes.txt"), "--profile", "sample",
    )  # fmt: skip
    _learned_nothing(done)
    assert (tmp_path / "data" / "darknet" / "obj.names").read_text() == "smiling\nother\n"
    cfg = (tmp_path / "runs" / "sample" / "yolov3-tiny.cfg").read_text()
    assert cfg.count("classes=2") == 2 and cfg.count("filters=21") == 2  # 3 * (5 + 2)
    table = json.loads((tmp_path / "runs" / "sample" / "map" / "table2.json").read_text())
    assert [c["name"] for c in table["classes"]] == ["smiling", "other"]
    assert table["paper"] is None and "datasets" in table and "own" in table["datasets"]
    assert "| Class | Our AP (%) | TP | FP | GT |" in done.stdout
    assert "Paper AP" not in done.stdout
