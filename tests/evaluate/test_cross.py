"""`map --cross`: each model on each held-out set, every cell the mAP `map` gives that model on
that set; the training datasets read from the run, leaks counted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.expw import tree_digest
from yof_darknet.cli import main
from yof_darknet.core.errors import EvaluationError
from yof_darknet.evaluate.cross import find_model
from yof_darknet.evaluate.options import MapOptions


def _lines(paths) -> str:
    return "".join(f"{p}\n" for p in paths)


@pytest.fixture
def setup(tiny_model, tmp_path):
    """A converted-dataset folder with two held-out sets, and two run folders of the tiny
    model: one trained on ExpW, one whose training list holds two ExpW test images."""
    valid = tiny_model.valid_images
    data = tmp_path / "data"
    data.mkdir()
    (data / "test.txt").write_text(_lines(valid))
    (data / "test_expw.txt").write_text(_lines(valid[:3]))
    (data / "test_rafdb.txt").write_text(_lines(valid[3:]))
    shutil.copy(tiny_model.names, data / "obj.names")
    (data / "obj.data").write_text(
        f"classes=7\ntrain={data / 'test.txt'}\nvalid={data / 'test.txt'}\n"
        f"names={data / 'obj.names'}\nbackup={data}\n"
    )
    runs = {}
    for name, train, datasets in (
        ("on-expw", tiny_model.train_images, {"expw": 16, "affwild2": 0}),
        ("leaky", [*tiny_model.train_images, *valid[:2]], {"rafdb": 18}),
    ):
        lists = tmp_path / f"lists-{name}"
        lists.mkdir()
        (lists / "train.txt").write_text(_lines(train))
        stats = {"datasets": {d: {"images": {"train": n}} for d, n in datasets.items()}}
        (lists / "stats.json").write_text(json.dumps(stats))
        run = tmp_path / "runs" / name
        (run / "weights").mkdir(parents=True)
        shutil.copy(tiny_model.cfg, run / "tiny.cfg")
        shutil.copy(tiny_model.weights, run / "weights" / "tiny_final.weights")
        (run / "obj.data").write_text(
            f"classes=7\ntrain={lists / 'train.txt'}\nvalid={data / 'test.txt'}\n"
            f"names={data / 'obj.names'}\nbackup={run / 'weights'}\n"
        )
        runs[name] = run
    return data, runs


def test_every_cell_is_that_models_map_on_that_set(setup, tmp_path):
    data, runs = setup
    before = {name: tree_digest(run) for name, run in runs.items()}
    out = tmp_path / "cross"
    args = ["map", "--data", str(data / "obj.data"), "--engine", "opencv", "--out", str(out),
            "--cross", str(runs["on-expw"]), "--cross", str(runs["leaky"])]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    cross = json.loads((out / "cross.json").read_text())
    assert cross["sets"] == ["expw", "rafdb", "combined"]
    models = {m["name"]: m for m in cross["models"]}
    assert models["on-expw"]["trained_on"] == ["expw"] and models["leaky"]["trained_on"] == [
        "rafdb"
    ]
    for name, run in runs.items():
        alone = tmp_path / f"alone-{name}"
        single = CliRunner().invoke(main, [
            "map", "--data", str(data / "obj.data"), "--engine", "opencv", "--out", str(alone),
            "--weights", str(run / "weights" / "tiny_final.weights"),
            "--cfg", str(run / "tiny.cfg"),
        ])  # fmt: skip
        assert single.exit_code == 0, single.output
        table = json.loads((alone / "table2.json").read_text())
        want = {name: table["datasets"][name]["map"] for name in ("expw", "rafdb")}
        want["combined"] = table["map"]
        assert models[name]["map"] == want
        assert json.loads((out / name / "table2.json").read_text())["map"] == table["map"]
    assert models["leaky"]["leaked_images"] == {"expw": 2, "combined": 2}
    assert models["on-expw"]["leaked_images"] == {}
    markdown = (out / "cross.md").read_text()
    assert result.stdout == markdown
    assert "| Model | Trained on | ExpW | RAF-DB | All test images |" in markdown
    expw_cell = f"{models['on-expw']['map']['expw'] * 100:.2f}*"
    assert f"| on-expw | ExpW | {expw_cell} |" in markdown
    assert "Leak: 2 images of ExpW are in the training list of leaky" in markdown
    rows = (out / "cross.csv").read_text().splitlines()
    assert rows[0] == "model,trained_on,test_set,class,ap,leaked_images"
    assert len(rows) == 1 + 2 * 3 * 8
    assert {name: tree_digest(run) for name, run in runs.items()} == before


def test_a_run_without_final_weights_says_what_to_pass(tmp_path):
    (tmp_path / "run" / "weights").mkdir(parents=True)
    with pytest.raises(EvaluationError, match=r"no \*_final.weights .* pass the weights file"):
        find_model(tmp_path / "run")


def test_cross_refuses_a_weights_option():
    with pytest.raises(EvaluationError, match="--weights cannot apply with --cross"):
        MapOptions(cross=(Path("runs/a"),), weights=Path("a.weights"))
