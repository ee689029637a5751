"""The live score the liveness verdict judges (``decision.is_live``): the models' logits → the
original's summed softmax of the live class, averaged over the models. No model is loaded: the
score is a pure function of the logits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gatekeeper.vision.liveness import REAL_CLASS, live_score

LN2 = math.log(2.0)


def test_the_score_is_the_live_classs_softmax_averaged_over_the_models() -> None:
    first = np.array([[0.0, 0.0, 0.0], [0.0, LN2, 0.0], [LN2, 0.0, LN2]])  # 1/3, 1/2, 1/5
    second = np.array([[0.0, LN2, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # 1/2, 1/3, 1/3
    scores = live_score([first, second])
    assert scores.dtype == np.float32 and scores.shape == (3,)
    assert scores.tolist() == pytest.approx([5 / 12, 5 / 12, (1 / 5 + 1 / 3) / 2], abs=1e-7)


def test_one_model_alone_is_its_own_softmax() -> None:
    logits = np.array([[1.0, 3.0, 0.5]])
    expected = math.exp(3.0) / (math.exp(1.0) + math.exp(3.0) + math.exp(0.5))
    assert live_score([logits]).tolist() == pytest.approx([expected], abs=1e-7)
    assert REAL_CLASS == 1


def test_large_logits_give_a_finite_score_for_each_face() -> None:
    logits = np.array([[0.0, 1000.0, 0.0], [1000.0, 0.0, 1000.0]], dtype=np.float32)
    assert live_score([logits, logits]).tolist() == pytest.approx([1.0, 0.0], abs=1e-7)


def test_each_face_is_scored_on_its_own_row() -> None:
    logits = np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    total = math.exp(5.0) + 2.0
    assert live_score([logits]).tolist() == pytest.approx([1 / total, math.exp(5.0) / total])


def test_faces_of_very_different_logits_are_each_scored_on_their_own_scale() -> None:
    logits = np.array([[0.0, 800.0, 0.0], [0.0, 1.0, 0.0]])
    assert live_score([logits]).tolist() == pytest.approx([1.0, math.e / (2 + math.e)], abs=1e-7)


def test_half_precision_logits_are_scored_in_double_precision() -> None:
    logits = np.array([[0.1, 0.7, 0.3]], dtype=np.float16)
    z = logits.astype(np.float64)[0]
    expected = math.exp(z[1]) / sum(math.exp(v) for v in z)
    assert live_score([logits]).tolist() == pytest.approx([expected], abs=1e-7)
