from __future__ import annotations

from yof_darknet.core import expressions as ex


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


def test_affectnet_and_rafdb_maps_send_each_name_to_the_same_name():
    affectnet = ["neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger"]
    for code, name in enumerate(affectnet):
        assert ex.CLASSES[ex.AFFECTNET_TO_CLASS[code]] == name
    assert set(ex.AFFECTNET_UNCLASSED) == {7, 8, 9, 10}
    rafdb = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]
    for code, name in enumerate(rafdb, start=1):
        assert ex.CLASSES[ex.RAFDB_TO_CLASS[code]] == name


def test_label_names_are_matched_without_case_and_with_the_usual_words():
    words = {"Angry": 0, "DISGUSTED": 1, "scared": 2, "happy": 3, " sad ": 4, "surprised": 5,
             "neutral": 6, "HA": 3}  # fmt: skip
    for word, class_id in words.items():
        assert ex.class_of_name(word) == class_id, word
    assert ex.class_of_name("contempt") is None
    assert ex.class_of_name("happy", ("happiness", "cat")) is None  # aliases: our 7 only
    assert ex.class_of_name("Cat", ("dog", "cat")) == 1
