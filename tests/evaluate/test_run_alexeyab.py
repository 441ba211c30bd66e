"""The `detector map` path (AlexeyAB / hank-ai), driven through a stand-in darknet executable
that answers like AlexeyAB's build with the real captured outputs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from click.testing import CliRunner

from yof_darknet.cli import main
from yof_darknet.formats.cfg import read_cfg
from yof_darknet.formats.safenames import list_line_problem
from yof_darknet.formats.weights import layer_param_counts, pack_header

FAKE = """#!{python}
import json, pathlib, sys
fixtures = pathlib.Path({fixtures!r})
args = sys.argv[1:]
with open({calls!r}, "a") as handle:
    handle.write(json.dumps({{"args": args, "cwd": str(pathlib.Path.cwd())}}) + "\\n")
if args[:2] == ["detector", "map"]:
    data = dict(
        line.split(" = ", 1) for line in pathlib.Path(args[2]).read_text().splitlines()
    )
    listed = pathlib.Path(data["valid"]).read_text()
    seen = [[str(pathlib.Path(p).resolve()), str(pathlib.Path(p).with_suffix(".txt").resolve())]
            for p in listed.split()]
    with open({calls!r}, "a") as handle:
        handle.write(json.dumps({{"valid": listed, "seen": seen}}) + "\\n")
    sys.stdout.write((fixtures / "map_points11.stdout.txt").read_text())
    sys.stderr.write((fixtures / "map_points11.stderr.txt").read_text())
elif args == ["detector"]:
    sys.stdout.write((fixtures / "usage_detector.combined.txt").read_text())
elif args[:2] == ["detector", "calc_anchors"]:
    sys.stdout.write("Couldn't open file: /nonexistent/yof-probe.data\\n")
"""


def test_detector_map_per_list_with_flags(darknet_fixtures: Path, tmp_path: Path) -> None:
    calls = tmp_path / "calls.jsonl"
    fake = tmp_path / "bin" / "darknet"
    fake.parent.mkdir()
    fake.write_text(FAKE.format(python=sys.executable, fixtures=str(darknet_fixtures / "alexeyab"),
                                calls=str(calls)))  # fmt: skip
    fake.chmod(0o755)
    dataset = tmp_path / "dataset"
    source = darknet_fixtures / "dataset"
    shutil.copytree(source / "JPEGImages", dataset / "JPEGImages")
    shutil.copytree(source / "labels" / "valid", dataset / "labels" / "valid")
    for name in ("obj.names", "valid.txt", "obj.data", "yolov3-tiny-obj.cfg"):
        shutil.copy(source / name, dataset / name)
    lines = (source / "valid.txt").read_text().splitlines()
    (dataset / "test_expw.txt").write_text("\n".join(lines[:12]) + "\n")
    weights = tmp_path / "final.weights"  # the fake darknet reads nothing; map checks the size
    floats = sum(layer_param_counts(read_cfg(dataset / "yolov3-tiny-obj.cfg")))
    weights.write_bytes(pack_header(0) + bytes(4 * floats))
    out = tmp_path / "out"
    args = ["map", "--data", str(dataset / "obj.data"), "--weights", str(weights),
            "--cfg", str(dataset / "yolov3-tiny-obj.cfg"), "--points", "11",
            "--darknet", str(fake), "--out", str(out), "--format", "json"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["flavor"] == "alexeyab" and data["map"] == 0.526439 and data["points"] == 11
    assert "Darknet's own `detector map`" in data["method"]
    assert set(data["datasets"]) == {"expw"}
    runs = [json.loads(line) for line in calls.read_text().splitlines()]
    maps = [r for r in runs if r.get("args", [])[:2] == ["detector", "map"]]
    listed = [r["valid"].splitlines() for r in runs if "valid" in r]
    assert len(maps) == 2 and [len(v) for v in listed] == [20, 12]
    # the test images are handed over as numbered links (their labels beside them), so no
    # name a shell would interpret reaches darknet's lists (formats.safenames)
    assert [Path(line).name for line in listed[0][:2]] == ["0000000.jpg", "0000001.jpg"]
    assert all(list_line_problem(line) is None for lists in listed for line in lists)
    (seen, _) = [r["seen"] for r in runs if "seen" in r]
    image = (dataset / lines[0]).resolve()
    label = dataset / "labels" / "valid" / image.with_suffix(".txt").name
    assert seen[0] == [str(image), str(label.resolve())]  # what darknet opens: image, label
    for run in maps:
        assert run["args"][4:] == [str(weights.resolve()), "-dont_show", "-points", "11",
                                   "-iou_thresh", "0.5"]  # fmt: skip
    assert "(mAP@0.50) = 0.526439" in (out / "map.log").read_text()
    assert (out / "map_expw.log").is_file()
    assert not (out / "confusion_matrix.csv").exists()  # darknet's map gives no detections
    # ... so the face AP comes from ONNX Runtime detections of the same weights
    assert data["face"]["source"].startswith("ONNX Runtime detections of the same weights")
    assert data["face_ap"] == data["face"]["face_ap"]
    assert "Face AP (every class merged" in result.stderr  # under a --format json table
