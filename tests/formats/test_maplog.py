"""`detector map` output parsers, against the real AlexeyAB and hank-ai captures."""

from __future__ import annotations

from pathlib import Path

import pytest

from yof_darknet.errors import EvaluationError
from yof_darknet.formats.maplog import parse_map_blocks, parse_map_output, read_map_log
from yof_darknet.formats.trainlog import strip_escapes

NAMES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
TP_FP_IOU050 = [(2, 4), (0, 0), (2, 2), (2, 1), (1, 1), (3, 1), (1, 2)]

# (fixture, APs in percent as printed, mAP as printed, points, IoU, per-class (TP, FP),
#  precision, recall, F1, TP, FP, FN, average IoU %): typed from the logs, not from the parser.
ALEXEYAB = [
    ("map_default", [43.92, 24.36, 69.64, 57.65, 85.00, 95.00, 45.00], 0.600806, 0, 0.5,
     TP_FP_IOU050, 0.50, 0.37, 0.42, 11, 11, 19, 40.11),
    ("map_points11", [43.87, 24.30, 71.43, 61.50, 85.45, 94.55, 43.64], 0.606757, 11, 0.5,
     TP_FP_IOU050, 0.50, 0.37, 0.42, 11, 11, 19, 40.11),
    ("map_points101", [43.91, 24.35, 69.94, 58.07, 85.15, 95.05, 45.15], 0.602313, 101, 0.5,
     TP_FP_IOU050, 0.50, 0.37, 0.42, 11, 11, 19, 40.11),
    ("map_iou075", [11.44, 16.67, 62.50, 44.00, 25.00, 41.67, 12.50], 0.305393, 0, 0.75,
     [(1, 5), (0, 0), (2, 2), (2, 1), (1, 1), (2, 2), (1, 2)], 0.41, 0.30, 0.35, 9, 13, 21,
     33.61),
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
    assert (result.detections, result.ground_truth) == (244, 30)
    assert result.iteration is None


def test_combined_output_with_stderr_parses_the_same(darknet_fixtures: Path) -> None:
    folder = darknet_fixtures / "alexeyab"
    combined = parse_map_output((folder / "map_default.combined.txt").read_text())
    assert combined == parse_map_output((folder / "map_default.stdout.txt").read_text())


HANKAI_DEFAULT = [
    # AP, TP, FP, GT, F1, AvgIoU (percent, as printed)
    (43.9153, 2, 4, 6, 33.3333, 25.1013),
    (24.3590, 0, 0, 3, 0.0, 0.0),
    (69.6429, 2, 2, 4, 50.0, 41.1819),
    (57.6471, 2, 1, 5, 50.0, 55.7343),
    (85.0, 1, 1, 4, 33.3333, 46.0061),
    (95.0, 3, 1, 4, 75.0, 58.1909),
    (45.0, 1, 2, 4, 28.5714, 25.0474),
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
    assert result.map == pytest.approx(0.6008)
    assert (result.precision, result.recall, result.f1) == (0.5, 0.366667, 0.423077)
    assert (result.tp, result.fp, result.fn) == (11, 11, 19)
    assert result.avg_iou == pytest.approx(0.40111656)
    assert (result.points, result.iou_thresh) == (0, 0.5)
    assert (result.detections, result.ground_truth) == (244, 30)


@pytest.mark.parametrize(
    ("name", "points", "iou", "map_percent", "first_ap"),
    [
        ("map_points11", 11, 0.5, 60.68, 43.8672),
        ("map_points11_nocolour", 11, 0.5, 60.68, 43.8672),
        ("map_points101", 101, 0.5, 60.23, 43.9101),
        ("map_iou075", 0, 0.75, 30.54, 11.4418),
        ("map_iou075_nocolour", 0, 0.75, 30.54, 11.4418),
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
    assert differ and all("images/sec" in line for line in differ)  # timing-dependent progress


def test_alexeyab_training_log_gives_one_result_per_map_block(darknet_fixtures: Path) -> None:
    text = (darknet_fixtures / "alexeyab" / "train_map.stdout.txt").read_text()
    blocks = parse_map_blocks(text, "train_map")
    assert [(b.iteration, b.map) for b in blocks] == [
        (100, 0.292910),
        (200, 0.387925),
        (300, 0.418882),
        (400, 0.600806),
    ]
    first = blocks[0]
    assert first.f1 is None  # printed `-nan` (TP = 0): not an error, just undefined
    assert (first.precision, first.recall, first.tp, first.fp, first.fn) == (0.0, 0.0, 0, 1, 30)
    assert [round(c.ap * 100, 2) for c in first.classes] == [
        14.38, 73.33, 19.94, 6.20, 11.11, 13.41, 66.67
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
    assert [(b.iteration, round(b.map * 100, 2)) for b in blocks] == [(100, 82.56), (110, 83.25)]
    assert (blocks[0].precision, blocks[0].recall, blocks[0].f1) == (0.67, 0.73, 0.70)
    assert (blocks[1].tp, blocks[1].fp, blocks[1].fn) == (23, 13, 7)
    assert round(blocks[1].classes[5].ap * 100, 4) == 100.0  # `100.0000` fills its column
    finetune = parse_map_blocks((folder / "train_map_finetune.stdout.txt").read_text())
    assert [(b.iteration, round(b.map * 100, 2)) for b in finetune] == [(40, 68.76)]
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
    with pytest.raises(EvaluationError, match=r"average IoU is inf.*random weights"):
        read_map_log(darknet_fixtures / "hankai" / "bad_map_missing_weights.stdout.txt")


def test_output_without_map_is_an_error(darknet_fixtures: Path, tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="no `detector map` output"):
        read_map_log(darknet_fixtures / "hankai" / "train_nomap.stdout.txt")
    with pytest.raises(EvaluationError, match="not found"):
        read_map_log(tmp_path / "absent.log")


def test_valid_list_plus_a_missing_image_still_parses(darknet_fixtures: Path) -> None:
    # darknet scored the phantom detections of the black 10x10 stand-in image as FPs: 60.00 %
    # instead of 60.08 %; `yof-darknet map` refuses such a list before running darknet.
    result = read_map_log(darknet_fixtures / "alexeyab" / "bad_map_valid_plus_missing.stdout.txt")
    assert (result.map, result.detections, result.ground_truth) == (0.600021, 289, 30)
    assert [round(c.ap * 100, 2) for c in result.classes][:2] == [43.92, 23.81]
