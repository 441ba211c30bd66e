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
