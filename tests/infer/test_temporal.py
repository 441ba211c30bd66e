from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest

from yof_darknet.core.errors import InferenceError
from yof_darknet.infer import temporal
from yof_darknet.infer.temporal import (
    MODELS,
    TemporalOptions,
    centred,
    ema,
    smooth_labels,
    smoothed_probs,
    viterbi,
)


def _noisy(frames: int = 60, classes: int = 7, seed: int = 3) -> np.ndarray:
    """Class probabilities of a track: class 3 for 30 frames, then class 6, with noise that
    flips the argmax of some frames."""
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0, 0.5, size=(frames, classes))
    probs[:30, 3] += 0.25
    probs[30:, 6] += 0.25
    return probs


def test_doctests():
    assert doctest.testmod(temporal).failed == 0


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("frames", [0, 1, 2, 5, 60])
def test_every_model_keeps_the_frame_count(model: str, frames: int):
    probs = _noisy()[:frames]
    labels = smooth_labels(probs, TemporalOptions(model, sigma=4, penalty=3))
    assert labels.shape == (frames,)
    assert smoothed_probs(probs, TemporalOptions(model)).shape == probs.shape


def test_viterbi_with_penalty_zero_is_the_argmax():
    probs = _noisy()
    assert (viterbi(probs, 0.0) == probs.argmax(axis=1)).all()
    assert (probs.argmax(axis=1)[:30] != 3).any(), "the noise must flip some frames"


def test_viterbi_with_a_huge_penalty_is_one_label():
    probs = _noisy()
    labels = viterbi(probs, 1e9)
    assert len(set(labels.tolist())) == 1
    # the one label that explains the frames best overall
    floored = probs + 1e-3
    log_p = np.log(floored / floored.sum(axis=1, keepdims=True))
    assert labels[0] == log_p.sum(axis=0).argmax()


def test_viterbi_with_a_moderate_penalty_finds_the_one_change():
    labels = viterbi(_noisy(), 3.0)
    assert labels.tolist() == [3] * 30 + [6] * 30


def test_viterbi_matches_brute_force_on_a_small_case():
    rng = np.random.default_rng(0)
    probs = rng.uniform(0, 1, size=(5, 3))
    floored = probs + 1e-3
    log_p = np.log(floored / floored.sum(axis=1, keepdims=True))
    penalty = 0.7
    best = max(
        np.ndindex(*(3,) * 5),
        key=lambda seq: (
            sum(log_p[t, c] for t, c in enumerate(seq))
            - penalty * sum(a != b for a, b in itertools.pairwise(seq))
        ),
    )
    assert viterbi(probs, penalty).tolist() == list(best)


@pytest.mark.parametrize("box", [0, 1, 4, 9])
def test_centred_smoothing_of_a_constant_sequence_is_the_identity(box: int):
    probs = np.tile([0.1, 0.0, 0.2, 0.6, 0.05, 0.05, 0.0], (25, 1))
    np.testing.assert_allclose(centred(probs, sigma=3.0, box=box), probs, rtol=1e-12)


def test_centred_box_window_is_the_mean_of_the_frames_around():
    values = np.arange(10, dtype=np.float64)[:, None]
    out = centred(values, box=3)[:, 0]
    assert out[0] == pytest.approx((0 + 1) / 2)  # renormalised at the edge
    assert out[5] == pytest.approx((4 + 5 + 6) / 3)
    assert out[9] == pytest.approx((8 + 9) / 2)


def test_centred_smoothing_removes_isolated_flips_and_looks_ahead():
    probs = _noisy()
    labels = smooth_labels(probs, TemporalOptions("centred", sigma=3))
    flips = (probs.argmax(axis=1)[:30] != 3).sum()
    assert (labels[:27] != 3).sum() < flips
    # symmetric: the change is found near frame 30 from both sides
    assert labels[:26].tolist() == [3] * 26 and labels[34:].tolist() == [6] * 26


def test_ema_is_the_recursive_average():
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(ema(probs, 0.5), [[1, 0], [0.5, 0.5], [0.25, 0.75]])
    np.testing.assert_allclose(ema(probs, 1.0), probs)


def test_options_reject_bad_values():
    with pytest.raises(InferenceError, match="--temporal"):
        TemporalOptions("lstm")
    with pytest.raises(InferenceError, match="--penalty"):
        TemporalOptions("viterbi", penalty=-1)
    assert not TemporalOptions("viterbi").causal and TemporalOptions("ema").causal
    assert TemporalOptions("centred", box=5).describe() == "centred(box=5)"
