from __future__ import annotations

import pytest

from tests.support.classifier import ITERATIONS
from tests.support.skips import NO_ALEXEYAB, alexeyab_darknet
from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import net_int, parse_cfg
from yof_darknet.infer.cascade import crop_margin
from yof_darknet.tools.darknet import probe
from yof_darknet.training.classifier import classifier_cfg, classifier_darknet, train_classifier
from yof_darknet.training.results import read_results


def test_darknet_trains_the_classifier_on_the_crops_and_reads_every_label(tiny_classifier):
    log = (tiny_classifier.run_dir / "train.log").read_text()
    assert "Too many or too few labels" not in log and "Couldn't open" not in log
    rows = read_results(tiny_classifier.run_dir / "results.csv")
    assert [r.line.iteration for r in rows] == list(range(1, ITERATIONS + 1))
    assert tiny_classifier.weights.stat().st_size > 0
    sections = parse_cfg(tiny_classifier.cfg.read_text())
    assert (net_int(sections, "width"), net_int(sections, "min_crop")) == (32, 32)
    assert crop_margin(tiny_classifier.cfg) == 0.2  # recorded for the cascade


def test_a_finished_run_is_not_overwritten_and_resume_needs_weights(
    tiny_classifier, debian_darknet, tmp_path
):
    darknet = probe(debian_darknet)
    with pytest.raises(DarknetError, match="already holds trained weights"):
        train_classifier(
            tiny_classifier.crops,
            name=tiny_classifier.run_dir.name,
            runs_dir=tiny_classifier.run_dir.parent,
            darknet=darknet,
            progress=False,
        )
    with pytest.raises(DarknetError, match="no weights to resume from"):
        train_classifier(
            tiny_classifier.crops, resume=True, runs_dir=tmp_path, darknet=darknet, progress=False
        )


def test_the_profile_sets_the_softmax_size_and_refuses_unknown_profiles():
    sections = parse_cfg(classifier_cfg(5, "paper"))
    assert [s for s in sections if s.name == "convolutional"][-1].options["filters"] == "5"
    assert sections[-1].name == "softmax" and net_int(sections, "batch") == 128
    with pytest.raises(DarknetError, match="unknown classifier profile"):
        classifier_cfg(7, "huge")


def test_the_cpu_profile_reaches_its_rate_after_a_burn_in():
    sections = parse_cfg(classifier_cfg(7, "cpu"))
    assert net_int(sections, "batch") == 64 and net_int(sections, "burn_in") == 100
    assert sections[0].options["learning_rate"] == "0.01"


@pytest.mark.skipif(alexeyab_darknet() is None, reason=NO_ALEXEYAB)
def test_alexeyabs_cpu_build_is_refused_and_replaced_by_pjreddies(
    tiny_classifier, debian_darknet, tmp_path
):
    alexeyab = probe(alexeyab_darknet())
    if alexeyab.gpu:
        pytest.skip(f"{alexeyab.path} is a CUDA build, which clears every gradient")
    with pytest.raises(DarknetError, match=r"never clears the gradient of the \[avgpool\] layer"):
        train_classifier(tiny_classifier.crops, runs_dir=tmp_path, darknet=alexeyab, progress=False)
    assert not any(tmp_path.iterdir())  # refused before anything was written
    said: list[str] = []
    chosen = classifier_darknet(alexeyab, said.append)
    assert chosen.flavor == "pjreddie" and chosen.path == probe(debian_darknet).path
    assert "(pjreddie) instead" in said[0]
    assert classifier_darknet(chosen, said.append) is chosen and len(said) == 1
