"""Stage options: one dataclass per stage generates the options of its command and of
`reproduce`, so that a shared option has one name, one type, one range and one default."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from yof_darknet.cli import main
from yof_darknet.core.errors import DarknetError, DatasetError, EvaluationError
from yof_darknet.datasets.options import DatasetsOptions
from yof_darknet.evaluate.options import MapOptions
from yof_darknet.training.options import TrainOptions
from yof_darknet.training.profiles import PROFILES


def _options(command: str) -> dict[str, click.Option]:
    found = main.commands[command].params
    return {p.name: p for p in found if isinstance(p, click.Option)}


def _shape(option: click.Option) -> tuple:
    kind = option.type
    bounds = tuple(getattr(kind, name, None) for name in ("min", "max", "min_open", "max_open"))
    choices = tuple(getattr(kind, "choices", ()))
    return (tuple(option.opts), type(kind).__name__, bounds, choices, option.default, option.help)


@pytest.mark.parametrize("stage", ["datasets", "train", "map"])
def test_reproduce_shares_each_stage_option_exactly(stage):
    reproduce, own = _options("reproduce"), _options(stage)
    shared = sorted(set(reproduce) & set(own) - {"darknet_path", "data"})
    assert shared, stage
    for name in shared:
        assert _shape(reproduce[name]) == _shape(own[name]), name


def test_reproduce_accepts_every_dataset_option_and_the_train_and_map_ones_that_matter():
    reproduce = _options("reproduce")
    cluster_steps = {"shard", "merge", "convert_missing"}  # one array task's part, the merge
    datasets = set(_options("datasets")) - {"expw", "affwild2", "out", *cluster_steps}
    assert datasets <= set(reproduce)
    assert {"gpus", "overrides", "max_batches", "profile", "points", "iou_thresh"} <= set(reproduce)
    assert {"arch", "class_weights", "hygiene", "unannotated", "balance"} <= set(reproduce)
    assert reproduce["overrides"].opts == ["--set"]
    assert reproduce["test_per_dataset"].type.min == 0  # 0 allowed in both now


def test_profile_choices_come_from_the_registry():
    for command in ("train", "reproduce", "cfg"):
        assert tuple(_options(command)["profile"].type.choices) == tuple(sorted(PROFILES))


def test_train_profile_or_cfg_with_resume_is_an_error():
    for given in ({"profile": "paper"}, {"cfg": Path("x.cfg")}, {"weights": Path("w")}):
        with pytest.raises(DarknetError, match="cannot apply with --resume"):
            TrainOptions(resume=True, **given)
    result = CliRunner().invoke(
        main, ["train", "--data", __file__, "--resume", "--profile", "sample"]
    )
    assert result.exit_code == 1
    assert "error: --profile cannot apply with --resume" in result.output


def test_gpus_must_be_indices():
    assert TrainOptions(gpus="0,1").gpu_count == 2
    with pytest.raises(DarknetError, match="--gpus 0;1"):
        TrainOptions(gpus="0;1")


def test_map_from_log_with_scoring_options_is_an_error(tmp_path):
    log = tmp_path / "map.log"
    log.write_text("")
    with pytest.raises(EvaluationError, match="--match-iou cannot apply with --from-log"):
        MapOptions(from_log=log, iou_thresh=0.7)
    both = "--points and --match-iou cannot apply with --from-log"
    with pytest.raises(EvaluationError, match=both):
        MapOptions(from_log=log, points=11, iou_thresh=0.7)
    with pytest.raises(EvaluationError, match="--weights cannot apply with --results"):
        MapOptions(results=tmp_path, weights=log)
    result = CliRunner().invoke(main, ["map", "--from-log", str(log), "--points", "101"])
    assert result.exit_code == 1
    assert "error: --points cannot apply with --from-log" in result.output
    assert MapOptions().points_or_default == 0 and MapOptions().iou_or_default == 0.5


def test_datasets_options_reach_the_affwild2_converter_options(tmp_path):
    listed = tmp_path / "videos.txt"
    listed.write_text("a.mp4\n")
    options = DatasetsOptions(face_max_side=320, videos_list=listed, split_by="videos")
    converter = options.affwild2(shard=(0, 2))
    assert (converter.face_max_side, converter.videos_list, converter.split_by) == (
        320,
        listed,
        "videos",
    )
    assert converter.shard == (0, 2)


def test_detect_options_come_from_its_dataclass():
    detect = _options("detect")
    # --weights + --cfg, or an exported --model: none of the three is required on its own.
    assert not (detect["weights"].required or detect["cfg"].required or detect["model"].required)
    assert detect["cascade"].metavar == "CLASSIFIER_CFG:WEIGHTS"
    assert detect["engine"].type.choices == ("ort", "opencv")
    assert detect["size"].type.convert("416x320", None, None) == (416, 320)
    assert detect["smooth_alpha"].type.min_open and detect["json"].metavar == "FILE|-"
    result = CliRunner().invoke(main, ["detect", "x.jpg", "--cfg", __file__])
    assert (
        result.exit_code == 2
        and "give --weights and --cfg, or --model, or --cascade" in result.output
    )


def test_hygiene_turns_on_masking_and_oversampling_and_refuses_a_contrary_choice():
    assert (DatasetsOptions().unannotated, DatasetsOptions().balance) == ("keep", "none")  # paper
    clean = DatasetsOptions(hygiene=True)
    assert (clean.unannotated, clean.balance) == ("mask", "oversample")
    assert DatasetsOptions(hygiene=True, balance="oversample:2").balance == "oversample:2"
    for contrary in ({"unannotated": "drop"}, {"balance": "none"} | {"unannotated": "report"}):
        with pytest.raises(DatasetError, match="--hygiene sets --unannotated mask; it cannot"):
            DatasetsOptions(hygiene=True, **contrary)
    result = CliRunner().invoke(
        main, ["datasets", "--out", "x", "--hygiene", "--unannotated", "drop"]
    )
    assert result.exit_code == 1
    assert "error: --hygiene sets --unannotated mask" in result.output
