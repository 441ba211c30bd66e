"""End to end with Debian's (pjreddie) darknet: train 2 iterations, then `yof-darknet map`.

pjreddie has no `detector map`, so the command runs `detector valid` and scores its result files
with our evaluator. The same weights through OpenCV (`--engine opencv`) give a second table.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.darknet import NAMES
from tests.support.model import NET, TinyModel
from yof_darknet.cli import main

pytestmark = pytest.mark.slow
SIZE = 64
COLOURS = [(0, 0, 255), (0, 160, 0), (160, 0, 160), (0, 220, 220), (255, 0, 0), (0, 128, 255),
           (0, 0, 0)]  # fmt: skip


def _tiny_cfg(fixture_cfg: Path) -> str:
    text = fixture_cfg.read_text()
    for key, value in {"batch": "2", "width": str(SIZE), "height": str(SIZE), "burn_in": "1",
                       "max_batches": "2", "steps": "1,2"}.items():  # fmt: skip
        text, count = re.subn(rf"(?m)^{key}\s*=.*$", f"{key}={value}", text, count=1)
        assert count == 1, key
    return text


def _write_dataset(root: Path) -> list[Path]:
    """8 images of 64 px with one coloured square each (class = colour), labels beside them."""
    rng = np.random.default_rng(1)
    folder = root / "faces"
    folder.mkdir(parents=True)
    images = []
    for index in range(8):
        class_id = index % 7
        image = np.full((SIZE, SIZE, 3), 200, dtype=np.uint8)
        side = int(rng.integers(20, 32))
        x, y = (int(v) for v in rng.integers(2, SIZE - side - 2, 2))
        cv2.rectangle(image, (x, y), (x + side, y + side), COLOURS[class_id], -1)
        path = folder / f"face_{index:02d}.jpg"
        cv2.imwrite(str(path), image)
        cx, cy, w = (x + side / 2) / SIZE, (y + side / 2) / SIZE, side / SIZE
        path.with_suffix(".txt").write_text(f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {w:.6f}\n")
        images.append(path)
    return images


@pytest.fixture(scope="module")
def trained(tmp_path_factory, debian_darknet: Path, darknet_fixtures: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("e2e")
    images = _write_dataset(root)
    listing = root / "test.txt"
    listing.write_text("".join(f"{p}\n" for p in images))
    (root / "test_expw.txt").write_text("".join(f"{p}\n" for p in images[:4]))
    (root / "test_affwild2.txt").write_text("".join(f"{p}\n" for p in images[4:]))
    (root / "obj.names").write_text("\n".join(NAMES) + "\n")
    (root / "backup").mkdir()
    data = root / "obj.data"
    data.write_text(f"classes = 7\ntrain = {listing}\nvalid = {listing}\n"
                    f"names = {root / 'obj.names'}\nbackup = {root / 'backup'}\n")  # fmt: skip
    cfg = root / "tiny.cfg"
    cfg.write_text(_tiny_cfg(darknet_fixtures / "dataset" / "yolov3-tiny-obj.cfg"))
    done = subprocess.run(
        [str(debian_darknet), "detector", "train", str(data), str(cfg)],
        cwd=root, capture_output=True, timeout=600, check=False,
    )  # fmt: skip
    weights = root / "backup" / "tiny_final.weights"
    assert done.returncode == 0 and weights.is_file(), done.stderr[-2000:]
    return {"root": root, "data": data, "cfg": cfg, "weights": weights}


def _check_table(out: Path, stdout: str) -> dict:
    rows = [line for line in stdout.splitlines() if re.match(r"\| [a-z]+ \| [\d.]+ \|", line)]
    assert [row.split(" | ")[0][2:] for row in rows[:7]] == list(NAMES)
    data = json.loads((out / "table2.json").read_text())
    assert [c["name"] for c in data["classes"]] == list(NAMES)
    assert 0.0 <= data["map"] <= 1.0
    assert data["ground_truth"] == 8
    assert set(data["datasets"]) == {"expw", "affwild2"}
    assert (out / "confusion_matrix.png").is_file() and (out / "pr_curves.png").is_file()
    return data


def test_map_through_pjreddie_valid(trained: dict[str, Path], debian_darknet: Path) -> None:
    out = trained["root"] / "map_darknet"
    args = ["map", "--data", str(trained["data"]), "--weights", str(trained["weights"]),
            "--cfg", str(trained["cfg"]), "--darknet", str(debian_darknet),
            "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = _check_table(out, result.stdout)
    assert data["flavor"] == "pjreddie"
    assert "pjreddie darknet `detector valid`" in data["method"]
    assert data["detections"] > 0
    assert "Total Detection Time" in (out / "valid.log").read_text()


def test_map_with_opencv_engine(trained: dict[str, Path]) -> None:
    out = trained["root"] / "map_python"
    args = ["map", "--data", str(trained["data"]), "--weights", str(trained["weights"]),
            "--engine", "opencv", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = _check_table(out, result.stdout)
    assert data["flavor"] is None and "OpenCV DNN" in data["method"]


def _valid_results(debian_darknet: Path, model: TinyModel, images: list[Path]) -> Path:
    """Debian's own `detector valid` of ``model`` on ``images``: the result folder."""
    listing = model.root / "valid_list.txt"
    listing.write_text("".join(f"{p}\n" for p in images))
    results = model.root / "valid_results"
    results.mkdir()
    data = model.root / "valid.data"
    data.write_text(f"classes = 7\nvalid = {listing}\nnames = {model.names}\n"
                    f"results = {results}\nbackup = {model.root / 'backup'}\n")  # fmt: skip
    done = subprocess.run(
        [str(debian_darknet), "detector", "valid", str(data), str(model.cfg), str(model.weights)],
        cwd=model.root, capture_output=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return results


def _labelled_copy(folder: Path, images: list[Path], labels: dict[str, list[str]]) -> Path:
    """``images`` linked into ``folder`` with the label lines ``labels[stem]``; the list."""
    folder.mkdir()
    for image in images:
        (folder / image.name).symlink_to(image)
        (folder / image.with_suffix(".txt").name).write_text("".join(labels[image.stem]))
    listing = folder / "test.txt"
    listing.write_text("".join(f"{folder / p.name}\n" for p in images))
    return listing


def test_face_ap_through_pjreddie_valid_equals_the_files_merged_by_hand(
    tiny_model: TinyModel, debian_darknet: Path
) -> None:
    """`map` (Debian's `detector valid` + our evaluator) merges the classes into one face class;
    merging Debian's own result files by hand (best probability per box as printed) and scoring
    them as one class gives the same AP. The faces are boxes the model found (a model of 20
    iterations finds few of the drawn shapes), of every class, plus one it missed."""
    images = tiny_model.valid_images
    size = NET
    results = _valid_results(debian_darknet, tiny_model, images)
    best: dict[tuple[str, ...], float] = {}  # (image, box as printed) -> best probability
    for name in NAMES:
        for line in (results / f"comp4_det_test_{name}.txt").read_text().splitlines():
            image, prob, *box = line.split()
            best[(image, *box)] = max(best.get((image, *box), 0.0), float(prob))
    records = sum(len((results / f"comp4_det_test_{n}.txt").read_text().splitlines())
                  for n in NAMES)  # fmt: skip
    assert records > len(best)  # boxes with several classes, merged

    def face_line(class_id: int, box: tuple[str, ...]) -> str:  # 1-based pixels -> YOLO
        x1, y1, x2, y2 = (float(v) - 1 for v in box)
        return f"{class_id} {(x1 + x2) / 2 / size:.6f} {(y1 + y2) / 2 / size:.6f} " \
               f"{(x2 - x1) / size:.6f} {(y2 - y1) / size:.6f}\n"  # fmt: skip

    by_image: dict[str, list[tuple[float, tuple[str, ...]]]] = {}
    for (image, *box), prob in best.items():
        x1, y1, x2, y2 = (float(v) for v in box)
        if 8 <= x2 - x1 < size - 8 and 8 <= y2 - y1 < size - 8:  # not degenerate, not clipped
            by_image.setdefault(image, []).append((prob, tuple(box)))
    chosen = {  # the two most probable boxes of each image, each a face of some class
        image: sorted(found, reverse=True)[:2] for image, found in by_image.items()
    }
    assert sum(map(len, chosen.values())) >= 6
    missed = ("1", "1", "9", "9")
    seven = {p.stem: [face_line(i % 7, box) for i, (_, box) in enumerate(chosen.get(p.stem, []))]
             + [face_line(3, missed)] for p in images}  # fmt: skip
    one = {stem: ["0" + line[line.index(" ") :] for line in lines] for stem, lines in seven.items()}

    root = tiny_model.root
    listing = _labelled_copy(root / "faces7", images, seven)
    (root / "faces7" / "obj.data").write_text(
        f"classes = 7\ntrain = {listing}\nvalid = {listing}\nnames = {tiny_model.names}\n"
    )
    out = root / "map_face"
    args = ["map", "--data", str(root / "faces7" / "obj.data"), "--weights",
            str(tiny_model.weights), "--cfg", str(tiny_model.cfg), "--darknet",
            str(debian_darknet), "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = json.loads((out / "table2.json").read_text())
    assert "pjreddie darknet `detector valid`" in table["method"]
    assert "Face AP (every class merged into one face class" in result.stdout
    assert f"Verdict: {table['face']['verdict_text']}." in result.stdout

    listing = _labelled_copy(root / "faces1", images, one)
    (root / "faces1" / "face.names").write_text("face\n")
    (root / "faces1" / "obj.data").write_text(
        f"classes = 1\ntrain = {listing}\nvalid = {listing}\n"
        f"names = {root / 'faces1' / 'face.names'}\n"
    )
    merged = root / "merged"
    merged.mkdir()
    (merged / "comp4_det_test_face.txt").write_text(
        "".join(f"{key[0]} {prob:f} {' '.join(key[1:])}\n" for key, prob in best.items())
    )
    args = ["map", "--data", str(root / "faces1" / "obj.data"), "--results", str(merged),
            "--out", str(root / "map_one")]  # fmt: skip
    by_hand = CliRunner().invoke(main, args)
    assert by_hand.exit_code == 0, by_hand.output
    one_class = json.loads((root / "map_one" / "table2.json").read_text())
    assert 0.2 < one_class["map"] < 1.0  # faces found, one per image missed
    assert table["face_ap"] == pytest.approx(one_class["map"], rel=1e-9)
    assert table["map"] < table["face_ap"]


def test_crlf_cfg_and_names_score_as_their_lf_originals(
    trained: dict[str, Path], debian_darknet: Path
) -> None:
    """A cfg and a names file saved on Windows: pjreddie's darknet reads a CR as part of each
    line ("First section must be [net]"); map hands it copies with LF line ends instead."""
    root = trained["root"]
    crlf = root / "crlf"
    crlf.mkdir()
    cfg = crlf / "tiny.cfg"
    cfg.write_bytes(trained["cfg"].read_bytes().replace(b"\n", b"\r\n"))
    names = crlf / "obj.names"
    names.write_bytes((root / "obj.names").read_bytes().replace(b"\n", b"\r\n"))
    data = crlf / "obj.data"
    data.write_bytes(trained["data"].read_bytes().replace(
        str(root / "obj.names").encode(), str(names).encode()).replace(b"\n", b"\r\n"))  # fmt: skip
    before = {p: p.read_bytes() for p in (cfg, names, data)}
    tables = {}
    for key, (use_cfg, use_data) in {"lf": (trained["cfg"], trained["data"]),
                                     "crlf": (cfg, data)}.items():  # fmt: skip
        out = crlf / f"map_{key}"
        args = ["map", "--data", str(use_data), "--weights", str(trained["weights"]), "--cfg",
                str(use_cfg), "--darknet", str(debian_darknet), "--out", str(out)]  # fmt: skip
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        tables[key] = json.loads((out / "table2.json").read_text())
    assert tables["crlf"]["classes"] == tables["lf"]["classes"]
    assert tables["crlf"]["map"] == tables["lf"]["map"]
    assert {p: p.read_bytes() for p in before} == before


def test_map_without_weights_says_what_to_give(trained: dict[str, Path]) -> None:
    out = trained["root"] / "map_none"
    result = CliRunner().invoke(main, ["map", "--data", str(trained["data"]), "--out", str(out)])
    assert result.exit_code == 1
    assert "None" not in result.output and "no model to score: give --weights" in result.output
    assert not out.exists()
