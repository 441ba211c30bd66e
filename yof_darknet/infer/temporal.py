"""Temporal models over one face track: per-frame class probabilities (T, C) → labels (T,).

- ``none``: the frame's own argmax (the frame-by-frame baseline);
- ``ema``: causal exponential moving average, ``ema_t = alpha * p_t + (1 - alpha) * ema_{t-1}``
  (the only model that works live: it never looks ahead);
- ``centred``: offline weighted average over a window centred on each frame, a Gaussian of
  ``sigma`` frames (cut at 3 sigma) or, with ``box``, a box of that many frames; at the ends of
  the track the weights inside it are renormalised, so a constant track stays constant;
- ``viterbi``: offline decoding of the label sequence that maximises
  ``sum_t log p_t(y_t) - penalty * (number of label changes)``; penalty 0 is the argmax,
  a huge penalty one label for the whole track.

Every model returns exactly one label per frame.

>>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.9, 0.1], [0.8, 0.2]])
>>> smooth_labels(probs, TemporalOptions("none")).tolist()
[0, 1, 0, 0]
>>> smooth_labels(probs, TemporalOptions("viterbi", penalty=5.0)).tolist()
[0, 0, 0, 0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from yof_darknet.core.errors import InferenceError

MODELS = ("none", "ema", "centred", "viterbi")
OFFLINE = frozenset({"centred", "viterbi"})
# Floor added to every class probability before the log: darknet's probabilities are
# objectness x class probability and are often exactly 0 for most classes.
_FLOOR = 1e-3


@dataclass(frozen=True)
class TemporalOptions:
    """One temporal model and its parameters (CLI: --temporal, --smooth-alpha, --sigma, --box,
    --penalty)."""

    model: str = "none"
    alpha: float = 0.5
    sigma: float = 3.0
    box: int = 0
    penalty: float = 2.0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise InferenceError(f"--temporal {self.model}: use one of {', '.join(MODELS)}")
        if not 0 < self.alpha <= 1:
            raise InferenceError(f"--smooth-alpha {self.alpha}: use a value in (0, 1]")
        if self.sigma <= 0 or self.box < 0:
            raise InferenceError("--sigma must be > 0 and --box >= 0 (0: Gaussian window)")
        if self.penalty < 0:
            raise InferenceError(f"--penalty {self.penalty}: use 0 or more")

    @property
    def causal(self) -> bool:
        return self.model not in OFFLINE

    def describe(self) -> str:
        """Short name with parameters, e.g. ``centred(sigma=3)``, for tables and plots."""
        if self.model == "ema":
            return f"ema(alpha={self.alpha:g})"
        if self.model == "centred":
            return f"centred(box={self.box})" if self.box else f"centred(sigma={self.sigma:g})"
        if self.model == "viterbi":
            return f"viterbi(penalty={self.penalty:g})"
        return "none"


def ema(probs: np.ndarray, alpha: float) -> np.ndarray:
    """Causal EMA of each column of ``probs`` (T, C); row 0 is kept as it is."""
    probs = np.asarray(probs, dtype=np.float64)
    out = np.empty_like(probs)
    for index, row in enumerate(probs):
        out[index] = row if index == 0 else alpha * row + (1 - alpha) * out[index - 1]
    return out


def window_weights(sigma: float, box: int) -> np.ndarray:
    """Weights of the centred window, index ``r`` is the frame itself (length ``2r + 1``)."""
    if box:
        radius = box // 2
        return np.ones(2 * radius + 1)
    radius = max(1, math.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    return np.exp(-0.5 * (offsets / sigma) ** 2)


def centred(probs: np.ndarray, sigma: float = 3.0, box: int = 0) -> np.ndarray:
    """Centred weighted average of each column of ``probs`` (T, C); same shape out."""
    probs = np.asarray(probs, dtype=np.float64)
    weights = window_weights(sigma, box)
    radius = len(weights) // 2
    frames = len(probs)
    total = np.zeros_like(probs)
    norm = np.zeros(frames)
    for offset, weight in zip(range(-radius, radius + 1), weights, strict=True):
        # frame t takes weight * probs[t + offset] where t + offset is inside the track
        lo, hi = max(0, -offset), min(frames, frames - offset)
        if lo >= hi:
            continue
        total[lo:hi] += weight * probs[lo + offset : hi + offset]
        norm[lo:hi] += weight
    return total / norm[:, None] if frames else total


def viterbi(probs: np.ndarray, penalty: float) -> np.ndarray:
    """Labels (T,) maximising the sum of log probabilities minus ``penalty`` per label change."""
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 0:
        return np.zeros(0, dtype=np.int64)
    floored = probs.clip(0) + _FLOOR
    log_p = np.log(floored / floored.sum(axis=1, keepdims=True))
    frames, classes = log_p.shape
    back = np.zeros((frames, classes), dtype=np.int64)
    score = log_p[0].copy()
    switch = penalty * (1 - np.eye(classes))  # cost of going from label i (row) to j (column)
    for index in range(1, frames):
        candidates = score[:, None] - switch
        back[index] = candidates.argmax(axis=0)
        score = candidates[back[index], np.arange(classes)] + log_p[index]
    labels = np.empty(frames, dtype=np.int64)
    labels[-1] = int(score.argmax())
    for index in range(frames - 1, 0, -1):
        labels[index - 1] = back[index, labels[index]]
    return labels


def smoothed_probs(probs: np.ndarray, options: TemporalOptions) -> np.ndarray:
    """The probabilities the model's labels are read from (Viterbi: the frames' own)."""
    if options.model == "ema":
        return ema(probs, options.alpha)
    if options.model == "centred":
        return centred(probs, options.sigma, options.box)
    return np.asarray(probs, dtype=np.float64)


def smooth_labels(probs: np.ndarray, options: TemporalOptions) -> np.ndarray:
    """One label per row of ``probs`` (T, C) under ``options``' model."""
    if options.model == "viterbi":
        return viterbi(probs, options.penalty)
    smoothed = smoothed_probs(probs, options)
    return smoothed.argmax(axis=1) if len(smoothed) else np.zeros(0, dtype=np.int64)
