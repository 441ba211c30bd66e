from __future__ import annotations

from yof_darknet import expressions as ex


def test_classes_are_in_the_papers_order():
    assert ex.CLASSES == (
        "anger",
        "disgust",
        "fear",
        "happiness",
        "sadness",
        "surprise",
        "neutral",
    )


def test_affwild2_map_sends_each_name_to_the_same_name():
    affwild2_names = ["neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    for aff_id, name in enumerate(affwild2_names):
        assert ex.CLASSES[ex.AFFWILD2_TO_CLASS[aff_id]] == name
    assert ex.AFFWILD2_OTHER not in ex.AFFWILD2_TO_CLASS
    assert ex.AFFWILD2_IGNORE not in ex.AFFWILD2_TO_CLASS


def test_paper_map_is_the_mean_of_its_aps():
    mean = sum(ex.PAPER_AP.values()) / len(ex.PAPER_AP)
    assert round(mean, 2) == ex.PAPER_MAP
    assert list(ex.PAPER_AP) == list(ex.CLASSES)
