"""`detector map` output parsers, against the real AlexeyAB and hank-ai captures."""

from __future__ import annotations

from pathlib import Path

import pytest

from yof_darknet.core.errors import EvaluationError
from yof_darknet.formats.maplog import parse_map_blocks, parse_map_output, read_map_log
from yof_darknet.formats.trainlog import strip_escapes

NAMES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
TP_FP = [(0, 0), (1, 0), (2, 2), (0, 0), (1, 1), (2, 1), (1, 2)]

# (fixture, APs in percent as printed, mAP as printed, points, IoU, per-class (TP, FP),
#  precision, recall, F1, TP, FP, FN, average IoU %): typed from the logs, not from the parser.
ALEXEYAB = [
    ("map_default", [52.65, 27.61, 69.76, 54.12, 39.23, 68.75, 41.25], 0.504813, 0, 0.5,
     TP_FP, 0.54, 0.23, 0.33, 7, 6, 23, 44.45),
    ("map_points11", [54.96, 33.00, 70.65, 55.14, 43.84, 68.18, 42.73], 0.526439, 11, 0.5,
     TP_FP, 0.54, 0.23, 0.33, 7, 6, 23, 44.45),
    ("map_points101", [53.12, 28.33, 70.06, 54.58, 39.83, 69.06, 41.83], 0.509715, 101, 0.5,
     TP_FP, 0.54, 0.23, 0.33, 7, 6, 23, 44.45),
    # AlexeyAB counts TP / FP at conf_thresh with IoU 0.5 whatever -iou_thresh says
    ("map_iou075", [29.55, 20.00, 50.00, 14.29, 20.00, 50.00, 35.00], 0.312616, 0, 0.75,
     TP_FP, 0.54, 0.23, 0.33, 7, 6, 23, 44.45),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "aps", "map_value", "points", "iou", "counts", "p", "r", "f1", "tp", "fp", "fn",
     "avg_iou"),
    ALEXEYAB,
)  # fmt: skip
def test_alexeyab_map_outputs_parse_to_their_printed_numbers(
    darknet_fixtures: Path, name, aps, map_value, points, iou, counts, p, r, f1, tp, fp, fn, avg_iou
) -> None:
    result = read_map_log(darknet_fixtures / "alexeyab" / f"{name}.stdout.txt")
    assert result.source == "alexeyab"
    assert [c.name for c in result.classes] == NAMES
    assert [c.id for c in result.classes] == list(range(7))
    assert [round(c.ap * 100, 2) for c in result.classes] == aps
    assert [(c.tp, c.fp) for c in result.classes] == counts
    assert result.map == map_value
    assert (result.points, result.iou_thresh, result.conf_thresh) == (points, iou, 0.25)
    assert (result.precision, result.recall, result.f1) == (p, r, f1)
    assert (result.tp, result.fp, result.fn) == (tp, fp, fn)
    assert round(result.avg_iou * 100, 2) == avg_iou
    assert (result.detections, result.ground_truth) == (396, 30)
    assert result.iteration is None


def test_combined_output_with_stderr_parses_the_same(darknet_fixtures: Path) -> None:
    folder = darknet_fixtures / "alexeyab"
    combined = parse_map_output((folder / "map_default.combined.txt").read_text())
    assert combined == parse_map_output((folder / "map_default.stdout.txt").read_text())


HANKAI_DEFAULT = [
    # AP, TP, FP, GT, F1, AvgIoU (percent, as printed)
    (52.6515, 0, 0, 4, 0.0, 0.0),
    (27.6087, 1, 0, 5, 33.3333, 78.0352),
    (69.7619, 2, 2, 4, 50.0, 40.9761),
    (54.1209, 0, 0, 4, 0.0, 0.0),
    (39.2258, 1, 1, 5, 28.5714, 44.6926),
    (68.75, 2, 1, 4, 57.1429, 54.6411),
    (41.25, 1, 2, 4, 28.5714, 27.5205),
]


@pytest.mark.parametrize("name", ["map_default", "map_nocolour"])
def test_hankai_table_parses_with_and_without_colour(darknet_fixtures: Path, name: str) -> None:
    result = read_map_log(darknet_fixtures / "hankai" / f"{name}.stdout.txt")
    assert result.source == "hank-ai"
    assert [c.name for c in result.classes] == NAMES
    got = [
        (round(c.ap * 100, 4), c.tp, c.fp, c.gt, round(c.f1 * 100, 4), round(c.avg_iou * 100, 4))
        for c in result.classes
    ]
    assert got == HANKAI_DEFAULT
    assert result.map == pytest.approx(0.5048)
    assert (result.precision, result.recall, result.f1) == (0.538462, 0.233333, 0.325581)
    assert (result.tp, result.fp, result.fn) == (7, 6, 23)
    assert result.avg_iou == pytest.approx(0.44446857)
    assert (result.points, result.iou_thresh) == (0, 0.5)
    assert (result.detections, result.ground_truth) == (396, 30)


@pytest.mark.parametrize(
    ("name", "points", "iou", "map_percent", "first_ap"),
    [
        ("map_points11", 11, 0.5, 52.64, 54.9587),
        ("map_points11_nocolour", 11, 0.5, 52.64, 54.9587),
        ("map_points101", 101, 0.5, 50.97, 53.1203),
        ("map_iou075", 0, 0.75, 31.26, 29.5455),
        ("map_iou075_nocolour", 0, 0.75, 31.26, 29.5455),
    ],
)
def test_hankai_points_and_iou_variants(
    darknet_fixtures: Path, name: str, points: int, iou: float, map_percent: float, first_ap: float
) -> None:
    result = read_map_log(darknet_fixtures / "hankai" / f"{name}.stdout.txt")
    assert (result.points, result.iou_thresh) == (points, iou)
    assert round(result.map * 100, 2) == map_percent
    assert round(result.classes[0].ap * 100, 4) == first_ap


def test_stripping_colour_gives_the_nocolour_output(darknet_fixtures: Path) -> None:
    folder = darknet_fixtures / "hankai"
    coloured = strip_escapes((folder / "map_default.stdout.txt").read_text()).splitlines()
    plain = (folder / "map_nocolour.stdout.txt").read_text().splitlines()
    differ = [a for a, b in zip(coloured, plain, strict=True) if a != b]
    # only the timing-dependent progress and total differ
    assert differ and all("images/sec" in line or "took a total of" in line for line in differ)


def test_alexeyab_training_log_gives_one_result_per_map_block(darknet_fixtures: Path) -> None:
    text = (darknet_fixtures / "alexeyab" / "train_map.stdout.txt").read_text()
    blocks = parse_map_blocks(text, "train_map")
    assert [(b.iteration, b.map) for b in blocks] == [
        (100, 0.018499),
        (200, 0.113824),
        (300, 0.258355),
        (400, 0.281484),
        (500, 0.327550),
        (600, 0.312230),
        (700, 0.326813),
        (800, 0.487366),
        (900, 0.499929),
        (1000, 0.504813),
    ]
    first = blocks[0]
    assert first.f1 is None  # printed `-nan` (TP = 0): not an error, just undefined
    assert (first.precision, first.recall, first.tp, first.fp, first.fn) == (0.0, 0.0, 0, 34, 30)
    assert [round(c.ap * 100, 2) for c in first.classes] == [
        3.46, 0.68, 3.45, 2.01, 2.71, 0.13, 0.50
    ]  # fmt: skip
    assert (
        blocks[-1].classes
        == parse_map_output(
            (darknet_fixtures / "alexeyab" / "map_default.stdout.txt").read_text()
        ).classes
    )


def test_hankai_training_logs(darknet_fixtures: Path) -> None:
    folder = darknet_fixtures / "hankai"
    blocks = parse_map_blocks((folder / "train_map_finetune110.stdout.txt").read_text())
    assert [(b.iteration, round(b.map * 100, 2)) for b in blocks] == [(100, 49.74), (110, 49.60)]
    assert (blocks[0].precision, blocks[0].recall, blocks[0].f1) == (0.53, 0.27, 0.36)
    assert (blocks[1].tp, blocks[1].fp, blocks[1].fn) == (7, 6, 23)
    assert round(blocks[0].classes[5].ap * 100, 4) == 74.0132
    finetune = parse_map_blocks((folder / "train_map_finetune.stdout.txt").read_text())
    assert [(b.iteration, round(b.map * 100, 2)) for b in finetune] == [(40, 52.74)]
    nan_loss = parse_map_output((folder / "train_map_nocolour.stdout.txt").read_text())
    assert nan_loss.detections == 0 and nan_loss.map == 0.0
    assert any("no detection" in note for note in nan_loss.notes)


def test_pjreddie_prints_nothing_for_map(darknet_fixtures: Path) -> None:
    text = (darknet_fixtures / "debian" / "unsupported_map.combined.txt").read_text()
    with pytest.raises(EvaluationError, match=r"printed nothing.*pjreddie"):
        parse_map_output(text)


def test_truncated_output_is_an_error(darknet_fixtures: Path) -> None:
    text = (darknet_fixtures / "alexeyab" / "map_default.stdout.txt").read_text()
    cut = text[: text.index("class_id = 4")]
    with pytest.raises(EvaluationError, match=r"cut short after 4 class line\(s\)"):
        parse_map_output(cut, "map.log")


def test_empty_valid_list_nan_precision_is_an_error(darknet_fixtures: Path) -> None:
    with pytest.raises(EvaluationError, match=r"no ground truth.*means nothing"):
        read_map_log(darknet_fixtures / "alexeyab" / "bad_map_empty_valid.stdout.txt")


def test_missing_image_run_is_an_error(darknet_fixtures: Path) -> None:
    with pytest.raises(EvaluationError, match="no ground truth"):
        read_map_log(darknet_fixtures / "alexeyab" / "bad_map_missing_image.stdout.txt")
    with pytest.raises(EvaluationError, match="validation image filename is invalid"):
        read_map_log(darknet_fixtures / "hankai" / "bad_map_missing_image.stdout.txt")


def test_missing_weights_is_an_error(darknet_fixtures: Path) -> None:
    with pytest.raises(EvaluationError, match=r"could not open backup/does_not_exist\.weights"):
        read_map_log(darknet_fixtures / "alexeyab" / "bad_map_missing_weights.combined.txt")
    # hank-ai runs on random weights when the .weights path does not exist (`yof-darknet map`
    # refuses a missing weights file before it runs darknet): here every record a false positive
    text = (darknet_fixtures / "hankai" / "bad_map_missing_weights.stdout.txt").read_text()
    random = parse_map_output(text)
    assert (random.map, random.tp, random.fp, random.detections) == (0.0, 0, 20646, 20646)
    # other random weights print `average IoU=inf%`, which gives no honest mAP
    infinite = text.replace("average IoU=0.000000%", "average IoU=inf%")
    assert infinite != text
    with pytest.raises(EvaluationError, match=r"average IoU is inf.*random weights"):
        parse_map_output(infinite)


def test_output_without_map_is_an_error(darknet_fixtures: Path, tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="no `detector map` output"):
        read_map_log(darknet_fixtures / "debian" / "train.stdout.txt")
    # hank-ai's training without -map: at its end it aborts (`double free`) and hangs
    with pytest.raises(EvaluationError, match=r"stopped with an error before the mAP line: .*#6"):
        read_map_log(darknet_fixtures / "hankai" / "train_nomap.stdout.txt")
    with pytest.raises(EvaluationError, match="not found"):
        read_map_log(tmp_path / "absent.log")


def test_valid_list_plus_a_missing_image_still_parses(darknet_fixtures: Path) -> None:
    # darknet scored the phantom detections of the black 10x10 stand-in image as FPs: 50.01 %
    # instead of 50.48 %; `yof-darknet map` refuses such a list before running darknet.
    result = read_map_log(darknet_fixtures / "alexeyab" / "bad_map_valid_plus_missing.stdout.txt")
    assert (result.map, result.detections, result.ground_truth) == (0.500146, 468, 30)
    assert [round(c.ap * 100, 2) for c in result.classes][:2] == [52.33, 26.75]
