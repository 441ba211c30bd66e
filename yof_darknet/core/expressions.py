"""The 7 expression classes, in the paper's (ExpW's) order, and the maps from each dataset's ids."""

from __future__ import annotations

CLASSES: tuple[str, ...] = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
    "neutral",
)
NUM_CLASSES = len(CLASSES)

# ExpW label.lst: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral (our order).
EXPW_TO_CLASS: dict[int, int] = {i: i for i in range(NUM_CLASSES)}

# Aff-Wild2 EXPR: 0 Neutral, 1 Anger, 2 Disgust, 3 Fear, 4 Happiness, 5 Sadness, 6 Surprise,
# 7 Other (ABAW3+ only, not one of our classes), -1 ignore.
AFFWILD2_TO_CLASS: dict[int, int] = {0: 6, 1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5}
AFFWILD2_IGNORE = -1
AFFWILD2_OTHER = 7

# AffectNet (original release, Manually_Annotated): 0 Neutral, 1 Happy, 2 Sad, 3 Surprise, 4 Fear,
# 5 Disgust, 6 Anger; 7 Contempt, 8 None, 9 Uncertain, 10 No-Face have no class of ours.
AFFECTNET_TO_CLASS: dict[int, int] = {0: 6, 1: 3, 2: 4, 3: 5, 4: 2, 5: 1, 6: 0}
AFFECTNET_UNCLASSED: dict[int, str] = {7: "contempt", 8: "no_expression", 9: "uncertain",
                                       10: "no_face"}  # fmt: skip

# RAF-DB basic (EmoLabel/list_patition_label.txt): 1 Surprise, 2 Fear, 3 Disgust, 4 Happiness,
# 5 Sadness, 6 Anger, 7 Neutral.
RAFDB_TO_CLASS: dict[int, int] = {1: 5, 2: 2, 3: 1, 4: 3, 5: 4, 6: 0, 7: 6}

# Label names a user's own annotations may use for our classes (matched without case), besides
# the class names themselves: the adjectives, and the words FER2013, KDEF, JAFFE and CK+ use.
CLASS_ALIASES: dict[str, int] = {
    "angry": 0, "an": 0,
    "disgusted": 1, "disgust": 1, "di": 1,
    "fearful": 2, "afraid": 2, "scared": 2, "af": 2, "fe": 2,
    "happy": 3, "ha": 3,
    "sad": 4, "sa": 4,
    "surprised": 5, "su": 5,
    "calm": 6, "ne": 6,
}  # fmt: skip

# The datasets ``datasets`` converts (its OUT/<name>/ folders, test_<name>.txt) and their titles.
DATASET_TITLES: dict[str, str] = {
    "expw": "ExpW",
    "affwild2": "Aff-Wild2",
    "affectnet": "AffectNet",
    "rafdb": "RAF-DB",
    "own": "Own photos",
}


def class_of_name(name: str, classes: tuple[str, ...] = CLASSES) -> int | None:
    """The index in ``classes`` of a label name (case and edge spaces ignored; for our 7
    classes the ``CLASS_ALIASES`` too), None when it names none of them.

    >>> class_of_name("Happy"), class_of_name("contempt"), class_of_name("cat", ("dog", "cat"))
    (3, None, 1)
    """
    key = name.strip().lower()
    for index, known in enumerate(classes):
        if known.strip().lower() == key:
            return index
    return CLASS_ALIASES.get(key) if tuple(classes) == CLASSES else None


# Table II of the paper: AP (%) per class in CLASSES order, and the mAP (%).
PAPER_AP: dict[str, float] = {
    "anger": 43.23,
    "disgust": 6.91,
    "fear": 67.66,
    "happiness": 33.25,
    "sadness": 31.18,
    "surprise": 23.66,
    "neutral": 31.64,
}
PAPER_MAP = 33.93
