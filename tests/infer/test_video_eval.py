"""``evaluate-video`` (yof_darknet/workflows/videoeval/) on the embedded Aff-Wild2 sample, with real
RetinaFace and the session's trained tiny model (it lives in tests/infer/conftest.py)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.boxes import iou_xyxy
from tests.support.model import TinyModel
from yof_darknet.cli import main
from yof_darknet.core.expressions import AFFWILD2_TO_CLASS, CLASSES
from yof_darknet.datasets.affwild2 import convert_affwild2
from yof_darknet.datasets.affwild2_files import collect_jobs
from yof_darknet.infer.detector import Detector
from yof_darknet.samples.affwild2 import VIDEOS, write_affwild2_sample
from yof_darknet.tools.faces import create_detector
from yof_darknet.workflows.videoeval.options import VideoEvalOptions
from yof_darknet.workflows.videoeval.tracks import read_person_tracks

TRAIN_VIDEO, VALID_VIDEO = (v.stem for v in VIDEOS)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("affwild2")
    write_affwild2_sample(root)
    return root


def _scored_by_hand(stem: str) -> Counter:
    """(person, class name) → annotated frames with one of the 7 expressions, from the
    sample's own definition: lines past the video's last frame have no frame."""
    video = next(v for v in VIDEOS if v.stem == stem)
    counts: Counter = Counter()
    for person in video.persons:
        for label in person.labels[: video.frames]:
            if label in AFFWILD2_TO_CLASS:
                counts[person.side, CLASSES[AFFWILD2_TO_CLASS[label]]] += 1
    return counts


def _f1_by_hand(pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """Macro F1 over the 7 classes and accuracy of (truth, predicted) name pairs ('' = none)."""
    f1s = []
    for name in CLASSES:
        tp = sum(t == name and p == name for t, p in pairs)
        fp = sum(t != name and p == name for t, p in pairs)
        fn = sum(t == name and p != name for t, p in pairs)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(f1s) / len(f1s), sum(t == p for t, p in pairs) / len(pairs)


def _run(model: TinyModel, sample: Path, out: Path, *extra: str):
    args = [
        "evaluate-video", "--affwild2", str(sample), "--weights", str(model.weights),
        "--cfg", str(model.cfg), "--out", str(out), "--thresh", "0.005", "--match-iou", "0.05",
    ]  # fmt: skip
    return CliRunner().invoke(main, [*args, *extra])


def test_metrics_equal_a_recount_of_the_frames(tiny_model: TinyModel, sample: Path, tmp_path):
    out = tmp_path / "eval"
    result = _run(tiny_model, sample, out)
    assert result.exit_code == 0, result.output
    assert "## Frame-level expression metrics" in result.output
    data = json.loads((out / "metrics.json").read_text())
    assert data["details"]["videos"] == [VALID_VIDEO]
    assert data["details"]["tuning"]["videos"] == [TRAIN_VIDEO]
    penalty = data["details"]["tuning"]["penalty"]
    assert f"{penalty:g}" in data["details"]["tuning"]["macro_f1_by_penalty"]
    frames = list(csv.DictReader((out / "frames.csv").open()))
    # every annotated person-frame of the validation video, -1 excluded, _left and _right
    assert Counter((r["person"], r["truth"]) for r in frames) == _scored_by_hand(VALID_VIDEO)
    assert any(r["none"] for r in frames), "some frames must have a matched detection"
    rows = {(r["scope"], r["model"]): r for r in data["metrics"]}
    models = {"none": "none", "ema": "ema(alpha=0.5)", "centred": "centred(sigma=3)",
              "viterbi": f"viterbi(penalty={penalty:g})"}  # fmt: skip
    for column, name in models.items():
        pairs = [(r["truth"], r[column]) for r in frames]
        macro, accuracy = _f1_by_hand(pairs)
        for scope in ("overall", VALID_VIDEO):
            row = rows[scope, name]
            assert row["frames"] == len(frames) == 30
            assert row["macro_f1"] == pytest.approx(macro, abs=1e-4)
            assert row["accuracy"] == pytest.approx(accuracy, abs=1e-4)
            assert row["abaw2020"] == pytest.approx(0.67 * macro + 0.33 * accuracy, abs=1e-4)
            no_face = sum(r[column] == "" for r in frames)
            assert row["no_face"] == no_face
    # smoothing relabels frames, it never adds or removes a detection
    assert len({rows["overall", name]["no_face"] for name in models.values()}) == 1
    confusion = list(csv.reader((out / "confusion_none.csv").open()))
    assert sum(int(v) for row in confusion[1:] for v in row[1:]) == 30
    for name in ("metrics.md", "metrics.csv"):
        assert (out / name).is_file()


def test_people_get_the_faces_the_conversion_gives_them(tiny_model: TinyModel, sample, tmp_path):
    """_left/_right: the face of each person in each frame is the box the conversion wrote."""
    converted = tmp_path / "converted"
    convert_affwild2(sample, converted)
    (job,) = [j for j in collect_jobs(sample)[0] if j.stem == VALID_VIDEO]
    options = VideoEvalOptions(sample, tiny_model.weights, tiny_model.cfg, tmp_path)
    faces = create_detector(threshold=0.8, max_side=640, threads=2)
    tracks = read_person_tracks(job, faces, Detector(tiny_model.cfg, tiny_model.weights), options)
    assert [t.side for t in tracks] == ["left", "right"]
    compared = 0
    for label_file in sorted((converted / VALID_VIDEO).glob("*.txt")):
        frame = int(label_file.stem) - 1
        lines = label_file.read_text().splitlines()
        kept = [t for t in tracks if t.scored[frame]]  # the conversion's SIDE_ORDER: left, right
        assert len(lines) == len(kept)
        for line, track in zip(lines, kept, strict=True):
            class_id, cx, cy, w, h = (float(v) for v in line.split())
            assert class_id == track.truth[frame]
            width, height = 320, 180
            box = ((cx - w / 2) * width, (cy - h / 2) * height,
                   (cx + w / 2) * width, (cy + h / 2) * height)  # fmt: skip
            assert iou_xyxy(box, track.faces[frame]) > 0.99
            compared += 1
    assert compared == 30
    assert all(len(t.truth) == len(t.probs) == len(t.faces) == 20 for t in tracks)
    assert np.isnan(tracks[1].faces[16:]).all(), "Grace Hopper has left the frame"


def test_split_from_scores_only_frames_not_trained_on(tiny_model: TinyModel, sample, tmp_path):
    """Frames of the obj.data's train list are never scored; the test list picks the videos."""
    lists = {
        "train": [f"{TRAIN_VIDEO}/{k:05d}.jpg" for k in range(1, 25)]
        + [f"{VALID_VIDEO}/{k:05d}.jpg" for k in range(4, 11)],
        "test": [f"{VALID_VIDEO}/{k:05d}.jpg" for k in range(11, 21)],
    }
    for name, images in lists.items():
        (tmp_path / f"{name}.txt").write_text("".join(f"/d/affwild2/{i}\n" for i in images))
    data = tmp_path / "obj.data"
    data.write_text(f"classes=7\ntrain={tmp_path / 'train.txt'}\nvalid={tmp_path / 'test.txt'}\n"
                    f"names={tmp_path / 'obj.names'}\nbackup={tmp_path}\n")  # fmt: skip
    out = tmp_path / "eval"
    result = _run(tiny_model, sample, out, "--split-from", str(data), "--penalty", "2")
    assert result.exit_code == 0, result.output
    frames = list(csv.DictReader((out / "frames.csv").open()))
    assert {r["video"] for r in frames} == {VALID_VIDEO}
    scored = {(r["person"], int(r["frame"])) for r in frames}
    # left: lines 4..20 are Happiness, right: lines 1..6 and 10..16 are Neutral (1-based)
    expected = {("left", i) for i in range(20) if i >= 3} | {
        ("right", i) for i in [*range(6), *range(9, 16)]
    }
    trained = set(range(3, 10))
    assert scored == {(side, i) for side, i in expected if i not in trained}
    assert "viterbi(penalty=2)" in (out / "metrics.md").read_text()


def test_tuning_never_on_evaluated_videos(tiny_model: TinyModel, sample: Path, tmp_path: Path):
    listing = tmp_path / "videos.txt"
    listing.write_text(f"{VALID_VIDEO}\n")
    clash = _run(tiny_model, sample, tmp_path / "a", "--tune-on", str(listing))
    assert clash.exit_code == 1 and "both tuned on and evaluated" in clash.output
    everything = tmp_path / "all.txt"
    everything.write_text(f"{TRAIN_VIDEO}\n{VALID_VIDEO}\n")
    none_left = _run(tiny_model, sample, tmp_path / "b", "--videos-list", str(everything))
    assert none_left.exit_code == 1 and "--penalty" in none_left.output
    fixed = _run(tiny_model, sample, tmp_path / "c", "--videos-list", str(everything),
                 "--penalty", "4", "--temporal", "none", "--temporal", "viterbi")  # fmt: skip
    assert fixed.exit_code == 0, fixed.output
    rows = json.loads((tmp_path / "c" / "metrics.json").read_text())["metrics"]
    assert {r["scope"] for r in rows} == {"overall", TRAIN_VIDEO, VALID_VIDEO}
    assert {r["model"] for r in rows} == {"none", "viterbi(penalty=4)"}


def test_reruns_reuse_the_videos_already_read(tiny_model: TinyModel, sample: Path, tmp_path):
    out = tmp_path / "eval"
    first = _run(tiny_model, sample, out, "--penalty", "1")
    assert first.exit_code == 0, first.output
    cache = out / "cache" / f"{VALID_VIDEO}.npz"
    stamp = cache.stat().st_mtime_ns
    again = _run(tiny_model, sample, out, "--penalty", "1", "--temporal", "none")
    assert again.exit_code == 0, again.output
    assert cache.stat().st_mtime_ns == stamp, "same video, model and settings: read from cache"
    rows = json.loads((out / "metrics.json").read_text())["metrics"]
    before = list(csv.DictReader((tmp_path / "eval" / "frames.csv").open()))
    assert [r["model"] for r in rows if r["scope"] == "overall"] == ["none"]
    changed = _run(tiny_model, sample, out, "--penalty", "1", "--match-iou", "0.3")
    assert changed.exit_code == 0, changed.output
    assert cache.stat().st_mtime_ns != stamp, "another --match-iou: the video is read again"
    assert len(before) == 30
