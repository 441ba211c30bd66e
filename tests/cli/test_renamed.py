"""Old spellings keep working for one release: each runs the same as the new one and prints one
line naming the new spelling (``cli/params.py``: ``rename_args``, ``RenamedChoice``,
``RENAMED_COMMANDS``)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tests.support.classifier import make_split_dataset
from yof_darknet.cli import main
from yof_darknet.cli.params import rename_args


def _run(args: list[str]):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def _warnings(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("yof-darknet: ")]


def test_map_engine_python_and_iou_are_opencv_and_match_iou(tiny_model, tmp_path):
    args = ["map", "--data", tiny_model.data, "--weights", tiny_model.weights, "--cfg",
            tiny_model.cfg, "--points", "11"]  # fmt: skip
    old = _run([*args, "--engine", "python", "--iou", "0.4", "--out", tmp_path / "old"])
    new = _run([*args, "--engine", "opencv", "--match-iou", "0.4", "--out", tmp_path / "new"])
    assert _warnings(old) == [
        "yof-darknet: --iou is now --match-iou",
        "yof-darknet: --engine python is now --engine opencv",
    ]
    assert _warnings(new) == []
    assert old.stdout == new.stdout and "OpenCV DNN" in new.stdout
    old_json = (tmp_path / "old" / "table2.json").read_text()
    assert old_json == (tmp_path / "new" / "table2.json").read_text()


def test_map_engine_onnx_is_ort(tiny_model, tmp_path):
    args = ["map", "--data", tiny_model.data, "--weights", tiny_model.weights, "--cfg",
            tiny_model.cfg]  # fmt: skip
    old = _run([*args, "--engine=onnx", "--out", tmp_path / "old"])
    new = _run([*args, "--engine=ort", "--out", tmp_path / "new"])
    assert _warnings(old) == ["yof-darknet: --engine onnx is now --engine ort"]
    assert old.stdout == new.stdout and "ONNX Runtime" in new.stdout


def test_export_and_cfg_out_are_out_file(tiny_model, tiny_data, tmp_path):
    args = ["export", "--cfg", tiny_model.cfg, "--weights", tiny_model.weights]
    old = _run([*args, "--out", tmp_path / "old.onnx"])
    _run([*args, "--out-file", tmp_path / "new.onnx"])
    assert _warnings(old) == ["yof-darknet: --out is now --out-file"]
    assert (tmp_path / "old.onnx").read_bytes() == (tmp_path / "new.onnx").read_bytes()
    args = ["cfg", "--data", tiny_data, "--profile", "sample"]
    old = _run([*args, "--out=" + str(tmp_path / "old.cfg")])
    _run([*args, "--out-file", tmp_path / "new.cfg"])
    assert _warnings(old) == ["yof-darknet: --out is now --out-file"]
    assert (tmp_path / "old.cfg").read_text() == (tmp_path / "new.cfg").read_text()


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in [*sorted(root.rglob("*.png")), root / "labels.txt", root / "train.list"]
    }


def test_crops_size_is_crop_size(tmp_path):
    data = make_split_dataset(tmp_path / "set")
    old = _run(["crops", "--data", data, "--out", tmp_path / "old", "--size", "40"])
    _run(["crops", "--data", data, "--out", tmp_path / "new", "--crop-size", "40"])
    assert _warnings(old) == ["yof-darknet: --size is now --crop-size"]
    assert _tree(tmp_path / "old") == _tree(tmp_path / "new")
    assert '"size": 40' in (tmp_path / "old" / "crops.json").read_text()


def test_evaluate_cascade_is_map_cascade(tiny_classifier, tmp_path):
    spec = f"{tiny_classifier.cfg}:{tiny_classifier.weights}"
    args = ["--data", tiny_classifier.data, "--cascade", spec]
    old = _run(["evaluate-cascade", *args, "--face-threshold", "0.01", "--out", tmp_path / "old"])
    new = _run(["map", *args, "--cascade-face-threshold", "0.01", "--out", tmp_path / "new"])
    assert _warnings(old) == [
        "yof-darknet: evaluate-cascade is now map --cascade",
        "yof-darknet: --face-threshold is now --cascade-face-threshold",
    ]
    assert old.stdout == new.stdout and "cascade" in new.stdout.lower()
    for name in ("table2.json", "face_accuracy.json"):
        assert (tmp_path / "old" / name).read_text() == (tmp_path / "new" / name).read_text()


def test_reproduce_and_hygiene_data_is_data_dir(tmp_path, capsys):
    # a whole reproduction is too long for a test: what each spelling parses to
    for name in ("reproduce", "hygiene"):
        command = main.commands[name]
        old_args = rename_args(command, ["--data", str(tmp_path / "d"), "--profile", "sample"])
        assert capsys.readouterr().err == "yof-darknet: --data is now --data-dir\n"
        new_args = ["--data-dir", str(tmp_path / "d"), "--profile", "sample"]
        old = command.make_context(name, old_args).params
        assert old == command.make_context(name, new_args).params
        assert old["data"] == tmp_path / "d"


def test_nothing_after_a_double_dash_is_renamed():
    command = main.commands["crops"]
    assert rename_args(command, ["--", "--size"]) == ["--", "--size"]
