"""Training-output parsers on every real training log in the fixtures (all three flavors)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from yof_darknet.formats.trainlog import (
    LineSplitter,
    TrainLine,
    find_failure,
    parse_duration_s,
    parse_map_line,
    parse_train_line,
    records,
    strip_escapes,
)

# log -> (iterations, [(iteration, mAP)], first iteration whose avg loss is NaN)
TRAINING_LOGS = {
    "alexeyab/train_map": (
        1000,
        [
            (100, 0.018499),
            (200, 0.113824),
            (300, 0.258355),
            (400, 0.281484),
            (500, 0.32755),
            (600, 0.31223),
            (700, 0.326813),
            (800, 0.487366),
            (900, 0.499929),
            (1000, 0.504813),
        ],
        None,
    ),
    "debian/train": (300, [], None),
    "hankai/train_map": (40, [(40, 0.0)], 6),
    "hankai/train_map_nocolour": (40, [(40, 0.0)], 6),
    "hankai/train_nomap": (40, [], 6),
    "hankai/train_map_finetune": (40, [(40, 0.5274)], None),
    "hankai/train_map_finetune110": (110, [(100, 0.4974), (110, 0.496)], None),
}


def _lines_in_chunks(text: str, size: int) -> list[str]:
    splitter = LineSplitter()
    lines: list[str] = []
    for start in range(0, len(text), size):
        lines += splitter.feed(text[start : start + size])
    return lines + splitter.close()


def test_every_training_log_in_the_fixtures_is_covered(darknet_fixtures):
    found = {
        f"{p.parent.name}/{p.name.removesuffix('.stdout.txt')}"
        for p in darknet_fixtures.glob("*/train*.stdout.txt")
    }
    assert found == set(TRAINING_LOGS)


@pytest.mark.parametrize("name", sorted(TRAINING_LOGS))
def test_training_log(name, darknet_fixtures):
    iterations, maps, first_nan = TRAINING_LOGS[name]
    text = (darknet_fixtures / f"{name}.stdout.txt").read_bytes().decode("utf-8", "replace")
    rows = list(records(_lines_in_chunks(text, 4096)))  # pjreddie's pipe block size
    assert [r.line.iteration for r in rows] == list(range(1, iterations + 1))
    assert [(r.line.iteration, r.map) for r in rows if r.map is not None] == maps
    assert repr(rows) == repr(list(records(_lines_in_chunks(text, 333))))  # NaN != NaN
    assert [r.line.images for r in rows] == [8 * r.line.iteration for r in rows]
    diverged = [r.line.iteration for r in rows if r.line.diverged]
    assert (diverged[0] if diverged else None) == first_nan
    if first_nan:
        assert diverged == list(range(first_nan, iterations + 1))


def test_field_values_per_flavor(darknet_fixtures: Path):
    def rows(name: str) -> list:
        text = (darknet_fixtures / f"{name}.stdout.txt").read_text(errors="replace")
        return list(records(text.splitlines()))

    assert rows("alexeyab/train_map")[0].line == TrainLine(
        1, 49.010666, 49.010666, 0.0, 1.154933, 8, None
    )
    assert rows("alexeyab/train_map")[1].line.seconds_left == pytest.approx(0.335392 * 3600)
    assert rows("debian/train")[-1].line == TrainLine(
        300, 1.092148, 1.273245, 0.00005, 1.043521, 2400
    )
    first = rows("hankai/train_map")[0].line
    assert first == TrainLine(1, 54.393, 54.393, 0.00008, 1.1, 8, 39.0)


def test_line_forms():
    assert parse_train_line("12: 1.5, 2.5 avg, 0.001000 rate, 0.5 seconds, 24 images") == (
        TrainLine(12, 1.5, 2.5, 0.001, 0.5, 24)
    )
    nan = parse_train_line(
        " 7: -nan, nan avg loss, 0.001 rate, 1.0 seconds, 56 images, 1.5 hours left"
    )
    assert nan is not None and math.isnan(nan.avg_loss) and nan.diverged
    assert nan.seconds_left == 5400
    colour = (
        "\x1b]2;3/40: loss=60.9 time=49 seconds\x07\x1b[1;37m3\x1b[0m: loss=\x1b[0;31m60.939"
        "\x1b[0m, avg loss=\x1b[0;31m64.317\x1b[0m, last=\x1b[0mnone\x1b[0m, best=\x1b[0mnone"
        "\x1b[0m, mAP=100, rate=0.00012960, load 8=16.3 milliseconds, train=2.7 minutes, "
        "24 images, time remaining=unknown"
    )
    hank = parse_train_line(colour)
    assert hank == TrainLine(3, 60.939, 64.317, 0.0001296, 162.0, 24, None)
    assert parse_train_line(" (next mAP calculation at 100 iterations) 1/400: loss=47.5") is None
    assert parse_map_line(" mean_average_precision (mAP@0.50) = 0.292910 ") == 0.29291
    assert parse_map_line("-> mean average precision (mAP@0.50)=\x1b[1;34m82.56%\x1b[0m") == 0.8256
    assert parse_map_line(" mean average precision (mAP@0.50) = 0.600806, or 60.08 % ") is None
    assert parse_duration_s("1 second") == 1.0 and parse_duration_s("12.5 milliseconds") == 0.0125
    assert strip_escapes("\x1b[H\x1b[J1/400\x07") == "1/400"


def test_line_splitter_handles_carriage_returns_and_cut_lines():
    splitter = LineSplitter()
    assert splitter.feed("a\r\nb\rc") == ["a", "b"]
    assert splitter.feed("d\ne") == ["cd"]
    assert splitter.close() == ["e"]


@pytest.mark.parametrize(
    ("path", "line_start", "expected"),
    [
        ("debian/bad_train_alexeyab_flags.stderr.txt", "Loading weights", "unknown flag"),
        ("alexeyab/bad_calc_anchors_no_labels.stdout.txt", "Can't open", "no label file"),
        ("alexeyab/bad_map_missing_weights.stderr.txt", "Loading weights", "the weights file"),
        ("hankai/bad_train_cpu_no_yes.stdout.txt", "* Error message", "wants `yes`"),
    ],
)
def test_known_failures_in_real_output(darknet_fixtures, path, line_start, expected):
    text = (darknet_fixtures / path).read_text(errors="replace")
    line = next(x for x in text.splitlines() if strip_escapes(x).lstrip().startswith(line_start))
    message = find_failure(line)
    assert message is not None and expected in message


def test_known_failures_in_darknets_formats():
    # message formats from AlexeyAB's src/data.c and dark_cuda.c at the pinned commit
    wrong = " Wrong annotation: class_id = 7. But class_id should be [from 0 to 6], file: a/b.txt "
    assert "bad label in a/b.txt" in find_failure(wrong)
    assert "out of memory" in find_failure(" CUDA Error: out of memory")
    assert "image list or a label file" in find_failure("Couldn't open file: data/x.txt")
    assert find_failure(" 1: 47.474121, 47.474121 avg loss, 0 rate, 6.8 seconds, 8 images") is None
