"""The run cfg: Table I template, profiles, classes, --set, validation; darknet accepts it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support import ROOT
from yof_darknet.cli import main
from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import (
    parse_cfg,
    yolo_heads,
)
from yof_darknet.tools.darknet import probe
from yof_darknet.training.options import TrainOptions
from yof_darknet.training.profiles import (
    PROFILES,
    SCRATCH_PROFILES,
    SELECT_DEFAULTS,
    TEMPLATE,
    default_select,
    generate_cfg,
    profile_settings,
)
from yof_darknet.training.train import train

# The paper's Table I (YOLOv3-tiny at 416x416) with 7 classes: layer, type, filters, size,
# stride, input (w, h, c), output (w, h, c); route lists its source layers in `filters`.
TABLE_I = [
    (0, "conv", 16, 3, 1, (416, 416, 3), (416, 416, 16)),
    (1, "max", None, 2, 2, (416, 416, 16), (208, 208, 16)),
    (2, "conv", 32, 3, 1, (208, 208, 16), (208, 208, 32)),
    (3, "max", None, 2, 2, (208, 208, 32), (104, 104, 32)),
    (4, "conv", 64, 3, 1, (104, 104, 32), (104, 104, 64)),
    (5, "max", None, 2, 2, (104, 104, 64), (52, 52, 64)),
    (6, "conv", 128, 3, 1, (52, 52, 64), (52, 52, 128)),
    (7, "max", None, 2, 2, (52, 52, 128), (26, 26, 128)),
    (8, "conv", 256, 3, 1, (26, 26, 128), (26, 26, 256)),
    (9, "max", None, 2, 2, (26, 26, 256), (13, 13, 256)),
    (10, "conv", 512, 3, 1, (13, 13, 256), (13, 13, 512)),
    (11, "max", None, 2, 1, (13, 13, 512), (13, 13, 512)),
    (12, "conv", 1024, 3, 1, (13, 13, 512), (13, 13, 1024)),
    (13, "conv", 256, 1, 1, (13, 13, 1024), (13, 13, 256)),
    (14, "conv", 512, 3, 1, (13, 13, 256), (13, 13, 512)),
    (15, "conv", 36, 1, 1, (13, 13, 512), (13, 13, 36)),
    (16, "yolo", None, None, None, None, None),
    (17, "route", (13,), None, None, None, None),
    (18, "conv", 128, 1, 1, (13, 13, 256), (13, 13, 128)),
    (19, "upsample", None, None, 2, (13, 13, 128), (26, 26, 128)),
    (20, "route", (19, 8), None, None, None, None),
    (21, "conv", 256, 3, 1, (26, 26, 384), (26, 26, 256)),
    (22, "conv", 36, 1, 1, (26, 26, 256), (26, 26, 36)),
    (23, "yolo", None, None, None, None, None),
]
_SHAPE = r"(\d+) x\s*(\d+) x\s*(\d+)"


def parse_layer_table(text: str) -> list[tuple]:
    """Rows of the layer table pjreddie's darknet prints while parsing a cfg (stderr)."""
    rows = []
    for line in text.splitlines():
        conv = re.match(
            rf"\s*(\d+) conv\s+(\d+)\s+(\d+) x \d+ / (\d+)\s+{_SHAPE}\s+->\s+{_SHAPE}", line
        )
        pool = re.match(rf"\s*(\d+) max\s+(\d+) x \d+ / (\d+)\s+{_SHAPE}\s+->\s+{_SHAPE}", line)
        upsample = re.match(rf"\s*(\d+) upsample\s+(\d+)x\s+{_SHAPE}\s+->\s+{_SHAPE}", line)
        route = re.match(r"\s*(\d+) route\s+([\d ]+)$", line)
        yolo = re.match(r"\s*(\d+) yolo\s*$", line)
        if conv:
            g = [int(x) for x in conv.groups()]
            rows.append((g[0], "conv", g[1], g[2], g[3], tuple(g[4:7]), tuple(g[7:10])))
        elif pool:
            g = [int(x) for x in pool.groups()]
            rows.append((g[0], "max", None, g[1], g[2], tuple(g[3:6]), tuple(g[6:9])))
        elif upsample:
            g = [int(x) for x in upsample.groups()]
            rows.append((g[0], "upsample", None, None, g[1], tuple(g[2:5]), tuple(g[5:8])))
        elif route:
            sources = tuple(int(x) for x in route.group(2).split())
            rows.append((int(route.group(1)), "route", sources, None, None, None, None))
        elif yolo:
            rows.append((int(yolo.group(1)), "yolo", None, None, None, None, None))
    return rows


def test_template_is_the_documented_cfg_and_ships_in_the_package():
    assert TEMPLATE.is_file()
    assert (ROOT / "cfg" / "yolov3-tiny.cfg").resolve() == TEMPLATE.resolve()
    assert TEMPLATE.is_relative_to(ROOT / "yof_darknet")


def test_paper_cfg_has_the_paper_settings_and_7_classes():
    sections = parse_cfg(generate_cfg(7, "paper"))
    net = sections[0].options
    expected = {
        "width": "416", "height": "416", "batch": "64", "subdivisions": "16",
        "max_batches": "14000", "steps": "11200,12600", "scales": ".1,.1",
        "learning_rate": "0.001", "momentum": "0.9", "decay": "0.0005", "burn_in": "1000",
    }  # fmt: skip
    assert {key: net[key] for key in expected} == expected
    heads = [sections[i] for i in yolo_heads(sections)]
    assert [h.get("mask") for h in heads] == ["3,4,5", "0,1,2"]
    assert all(h.get("classes") == "7" for h in heads)
    assert all(sections[i - 1].get("filters") == "36" for i in yolo_heads(sections))


@pytest.mark.parametrize("classes", [1, 3, 80])
def test_filters_follow_classes(classes):
    sections = parse_cfg(generate_cfg(classes, "sample"))
    for index in yolo_heads(sections):
        assert sections[index - 1].get("filters") == str((classes + 5) * 3)


def test_sample_profile_is_applied_verbatim():
    net = parse_cfg(generate_cfg(7, "sample"))[0].options
    for key, value in profile_settings("sample").items():
        if "." not in key:
            assert net[key] == value
    assert set(PROFILES) == {"paper", "sample", "cpu"}


def test_cpu_profile_is_the_measured_starting_point_on_every_flavor():
    """The recipe measured on real faces on 2 CPU cores (160 px, batch 16, rate 0.002,
    burn-in 400, 2000 iterations, steps at 80 and 90 %), the same for every darknet."""
    expected = {
        "width": "160", "height": "160", "batch": "16", "subdivisions": "1",
        "learning_rate": "0.002", "burn_in": "400", "max_batches": "2000", "steps": "1600,1800",
    }  # fmt: skip
    for flavor in (None, "pjreddie", "alexeyab", "hank-ai"):
        settings = profile_settings("cpu", flavor=flavor)
        assert {key: settings[key] for key in expected} == expected
        net = parse_cfg(generate_cfg(7, "cpu", flavor=flavor))[0].options
        assert {key: net[key] for key in expected} == expected
    assert {"cpu"} == SCRATCH_PROFILES  # reproduce fetches no COCO weights for it


@pytest.mark.slow
def test_cpu_profile_on_pjreddies_darknet_says_it_is_much_slower(
    tmp_path, tiny_data, debian_darknet
):
    said: list[str] = []
    options = TrainOptions(
        profile="cpu", max_batches=2, runs=tmp_path, overrides=("width=64", "height=64", "batch=2")
    )
    result = train(
        tiny_data, options, darknet=probe(debian_darknet), progress=False, echo=said.append
    )
    assert result.iterations == 2 and result.run_dir == tmp_path / "cpu"
    notes = [line for line in said if "profile cpu" in line]
    assert notes == [
        "train: profile cpu on pjreddie's darknet: it trains, but on one core without OpenMP or "
        "AVX, much slower than AlexeyAB's (`make darknet` builds it with OpenMP/AVX)"
    ]
    net = parse_cfg((tmp_path / "cpu" / "yolov3-tiny.cfg").read_text())[0].options
    assert (net["learning_rate"], net["burn_in"], net["subdivisions"]) == ("0.002", "400", "1")


def test_set_overrides_net_and_every_yolo_section():
    text = generate_cfg(7, "sample", ["net.width=160", "height=160", "yolo.thresh=0.001"])
    sections = parse_cfg(text)
    assert sections[0].get("width") == "160" and sections[0].get("height") == "160"
    assert [sections[i].get("thresh") for i in yolo_heads(sections)] == ["0.001", "0.001"]
    assert "--set net.width=160 height=160 yolo.thresh=0.001" in text.splitlines()[0]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["width=100"], "multiples of 32"),
        (["batch=10", "subdivisions=4"], "no multiple of subdivisions"),
        (["max_batches=1000"], "below max_batches"),
        (["region.thresh=1"], r"no \[region\] section"),
        (["width"], "expected key=value"),
        (["yolo.classes=3"], r"filters=36, but classes=3"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(DarknetError, match=message):
        generate_cfg(7, "paper", settings)


def test_cli_cfg_writes_the_file(tmp_path, tiny_data):
    out = tmp_path / "run.cfg"
    result = CliRunner().invoke(
        main, ["cfg", "--data", str(tiny_data), "--profile", "sample", "--out-file", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert parse_cfg(out.read_text())[0].get("width") == str(PROFILES["sample"]["width"])


@pytest.mark.slow
def test_darknet_builds_table_one_from_the_generated_cfg(tmp_path, debian_darknet):
    cfg = tmp_path / "paper.cfg"
    cfg.write_text(generate_cfg(7, "paper"))
    done = subprocess.run(
        [str(debian_darknet), "partial", str(cfg), "", str(tmp_path / "header.weights"), "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert parse_layer_table(done.stderr) == TABLE_I
    assert Path(tmp_path / "header.weights").stat().st_size == 20


def test_the_sample_profile_burns_in_longer_on_alexeyabs_darknet():
    assert profile_settings("sample")["burn_in"] == "50"  # pjreddie's (Debian's), as measured
    assert profile_settings("sample", flavor="pjreddie")["burn_in"] == "50"
    for flavor in ("alexeyab", "hank-ai"):
        assert profile_settings("sample", flavor=flavor)["burn_in"] == "100"
        text = generate_cfg(7, "sample", flavor=flavor)
        assert "burn_in=100" in text and f"(as {flavor}'s darknet trains it)" in text
    assert profile_settings("paper", flavor="alexeyab") == profile_settings("paper")


def test_every_profile_says_which_weights_it_reports() -> None:
    assert set(SELECT_DEFAULTS) == set(PROFILES)  # a new profile adds its row
    assert default_select("paper") == "final"  # what the paper did
    assert default_select("sample") == "best"
    assert default_select("cpu") == "best"  # from scratch: its peak need not be its end
    assert set(SELECT_DEFAULTS.values()) <= {"best", "final"}
