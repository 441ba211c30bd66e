"""The README as a user meets it: short, its links lead somewhere, its Table II is the recorded
one, and every command of its copy-paste block ("Use your model on a photo, a video, your
webcam") runs on the embedded sample with a model Debian's darknet trained.

The webcam command needs a camera and a display, which CI has not: it is parsed with every
option instead (click's own parsing, the paths checked), which is what fails when an option is
renamed. Every other command runs for real, from a folder laid out as `make reproduce` leaves it.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.model import TinyModel
from yof_darknet.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK_MARKER = "<!-- tests/test_readme.py runs every yof-darknet command of the next block -->"
MAX_LINES = 300


def readme_commands(text: str) -> list[list[str]]:
    """The ``yof-darknet`` commands of the first ```sh block after the marker, as argument
    lists (backslash continuations joined, comments and blank lines left out).

    >>> block = "```sh\\n# a\\nyof-darknet detect x \\\\\\n  --show\\n```\\n"
    >>> readme_commands(BLOCK_MARKER + "\\n" + block)
    [['yof-darknet', 'detect', 'x', '--show']]
    """
    after = text[text.index(BLOCK_MARKER) :]
    block = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert block, "no ```sh block after the marker"
    joined = block[1].replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines()]
    return [shlex.split(line) for line in lines if line and not line.startswith("#")]


def test_the_readme_is_a_short_manual():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines: move detail to docs/"
    first_screen = "\n".join(lines[:40])
    assert "finds no real" in first_screen, "the first screen must say the sample model's limit"
    assert "docs/real-data.md" in first_screen
    assert "PROFILE=cpu" in first_screen and "AFFWILD2=" in first_screen


def test_every_relative_link_of_the_readme_leads_to_a_file():
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, "no links found: the pattern is wrong"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_table_ii_and_the_results_page_are_rendered_from_the_records():
    done = subprocess.run(
        [sys.executable, "scripts/results.py", "render", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_the_block_holds_a_photo_a_folder_a_video_and_the_webcam():
    commands = readme_commands(README.read_text())
    sources = [c[2] for c in commands if c[:2] == ["yof-darknet", "detect"]]
    assert any(s.endswith(".jpg") for s in sources), sources
    assert any(s.endswith((".mp4", ".avi")) for s in sources), sources
    assert "0" in sources, "no webcam command"
    assert all(c[0] == "yof-darknet" for c in commands), commands


def _lay_out_a_reproduced_sample(root: Path, model: TinyModel) -> None:
    """What `make reproduce` leaves that the block uses: data/sample, the sample's training
    list and runs/sample's cfg and final weights (here the test model's)."""
    done = subprocess.run(
        [sys.executable, "-m", "yof_darknet", "sample", "data/sample", "--images", "12"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    images = sorted((root / "data/sample/ExpW/image/origin").glob("*.jpg"))
    (root / "data/sample-darknet").mkdir(parents=True)
    (root / "data/sample-darknet/train.txt").write_text("".join(f"{p}\n" for p in images))
    (root / "runs/sample/weights").mkdir(parents=True)
    shutil.copy(model.cfg, root / "runs/sample/yolov3-tiny.cfg")
    shutil.copy(model.weights, root / "runs/sample/weights/yolov3-tiny_final.weights")


def _needs_a_camera_or_display(command: list[str]) -> bool:
    return "--show" in command or (command[1] == "detect" and command[2].isdigit())


def _outputs(command: list[str]) -> list[str]:
    return [command[i + 1] for i, arg in enumerate(command) if arg in ("--save", "--json", "--out")]


@pytest.mark.slow
def test_every_command_of_the_copy_paste_block_runs(tmp_path, tiny_model, monkeypatch):
    root = tmp_path / "clone"  # a fixed name: pjreddie rewrites 'images'/'raw' in paths
    root.mkdir()
    _lay_out_a_reproduced_sample(root, tiny_model)
    commands = readme_commands(README.read_text())
    ran = parsed = 0
    for command in commands:
        if _needs_a_camera_or_display(command):
            monkeypatch.chdir(root)
            sub = main.commands[command[1]]
            with sub.make_context(command[1], command[2:]) as ctx:  # parses, checks paths
                assert ctx.params["show"] is True
            parsed += 1
            continue
        done = subprocess.run(
            [sys.executable, "-m", "yof_darknet", *command[1:]],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, (command, done.stderr[-3000:])
        for output in _outputs(command):
            assert (root / output).exists(), (command, output, done.stderr[-2000:])
        if not _outputs(command) and command[1] == "detect":  # JSON lines on stdout
            records = [json.loads(line) for line in done.stdout.splitlines()]
            assert records and "detections" in records[0], done.stdout
        ran += 1
    assert ran >= 4 and parsed == 1, (ran, parsed)
    photo = root / "runs/detect/photo.jsonl"
    record = json.loads(photo.read_text().splitlines()[0])
    assert record["source"].endswith("joyful_man_3.jpg")
    folder = sorted((root / "runs/detect/folder").rglob("*.jpg"))
    assert len(folder) == len(list((root / "data/sample/ExpW/image/origin").glob("*.jpg")))
    assert (root / "runs/detect/video/102-25-320x180.mp4").stat().st_size > 0
