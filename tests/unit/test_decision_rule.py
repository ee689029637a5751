"""The site's decision rule, its sane ranges and the liveness verdict, as pure functions: every
branch at its edges (no models, no I/O)."""

from __future__ import annotations

import math

import pytest

from gatekeeper.decision import (
    DLIB_MODEL,
    FACENET_MODEL,
    DecisionRule,
    Evidence,
    is_live,
    validate_liveness_mode,
    validate_liveness_threshold,
    validate_threshold,
)
from gatekeeper.errors import UsageError

#: The shipped operating point: dlib at most 0.60, FaceNet at most 1.00.
RULE = DecisionRule(threshold=0.60, facenet_threshold=1.00)


# --- without FaceNet: dlib alone, with a margin ------------------------------------------------


def test_without_facenet_a_good_template_needs_dlib_005_under_the_threshold() -> None:
    assert RULE.accepts(Evidence(dlib=0.549))
    assert not RULE.accepts(Evidence(dlib=0.551)), "0.551 is within 0.60 but not 0.05 under it"
    assert RULE.score(Evidence(dlib=0.44)) == pytest.approx(0.44 / 0.55)


def test_without_facenet_a_low_quality_template_needs_dlib_012_under_the_threshold() -> None:
    assert RULE.accepts(Evidence(dlib=0.479, low_quality=True))
    assert not RULE.accepts(Evidence(dlib=0.481, low_quality=True)), "the lenient margin"
    assert not RULE.accepts(Evidence(dlib=0.52, low_quality=True))
    assert RULE.score(Evidence(dlib=0.24, low_quality=True)) == pytest.approx(0.24 / 0.48)


def test_the_margins_follow_the_sites_threshold() -> None:
    strict = DecisionRule(threshold=0.50, facenet_threshold=1.00)
    assert strict.accepts(Evidence(dlib=0.449)) and not strict.accepts(Evidence(dlib=0.451))
    assert strict.accepts(Evidence(dlib=0.379, low_quality=True))
    assert not strict.accepts(Evidence(dlib=0.381, low_quality=True))


# --- with FaceNet: both networks must agree ----------------------------------------------------


def test_with_facenet_both_distances_must_be_within_their_thresholds() -> None:
    assert RULE.accepts(Evidence(dlib=0.60, facenet=1.00)), "both bounds are inclusive"
    assert RULE.accepts(Evidence(dlib=0.58, facenet=0.40)), "no dlib margin when FaceNet agrees"
    assert not RULE.accepts(Evidence(dlib=0.61, facenet=0.40)), "dlib alone says no"
    assert not RULE.accepts(Evidence(dlib=0.30, facenet=1.01)), "FaceNet alone says no"


def test_with_facenet_a_low_quality_template_asks_facenet_for_010_more() -> None:
    assert RULE.accepts(Evidence(dlib=0.60, facenet=0.89, low_quality=True))
    assert not RULE.accepts(Evidence(dlib=0.60, facenet=0.91, low_quality=True))
    assert RULE.accepts(Evidence(dlib=0.60, facenet=0.91)), "a good template keeps 1.00"
    assert not RULE.accepts(Evidence(dlib=0.61, facenet=0.10, low_quality=True))


def test_the_score_is_the_larger_of_the_two_ratios_to_their_bounds() -> None:
    assert RULE.score(Evidence(dlib=0.30, facenet=0.80)) == pytest.approx(0.80)
    assert RULE.score(Evidence(dlib=0.45, facenet=0.50)) == pytest.approx(0.75)
    assert RULE.score(Evidence(dlib=0.30, facenet=0.45, low_quality=True)) == pytest.approx(0.5)
    assert RULE.score(Evidence(dlib=0.54, facenet=0.45, low_quality=True)) == pytest.approx(0.9)


def test_facenet_is_asked_only_about_dlibs_candidates() -> None:
    assert RULE.needs_facenet(0.60), "the threshold itself is a candidate"
    assert RULE.needs_facenet(0.10)
    assert not RULE.needs_facenet(0.601)


# --- the liveness verdict ----------------------------------------------------------------------


def test_a_live_score_exactly_at_the_threshold_is_live() -> None:
    assert is_live(0.75, 0.75)
    assert is_live(0.750001, 0.75)
    assert not is_live(0.749999, 0.75)


def test_a_nan_live_score_is_never_live() -> None:
    assert not is_live(math.nan, 0.30)
    assert is_live(1.0, 0.30)


# --- sane ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "model_id", "expected"),
    [
        (0.30, DLIB_MODEL, 0.30),
        (0.80, DLIB_MODEL, 0.80),
        ("0.55", DLIB_MODEL, 0.55),
        (0.50, FACENET_MODEL, 0.50),
        (1, FACENET_MODEL, 1.0),
        (1.40, FACENET_MODEL, 1.40),
    ],
)
def test_thresholds_inside_each_encoders_range_are_taken_as_floats(value, model_id, expected):
    result = validate_threshold(value, model_id=model_id)
    assert result == expected and type(result) is float


def test_the_default_encoder_is_dlib() -> None:
    assert validate_threshold(0.6) == 0.6
    with pytest.raises(UsageError):
        validate_threshold(1.0)


@pytest.mark.parametrize(
    ("value", "model_id", "message"),
    [
        (
            0.29,
            DLIB_MODEL,
            "threshold 0.29 is outside the sane range 0.3–0.8 for dlib_resnet_v1 (L2 distance)",
        ),
        (
            0.81,
            DLIB_MODEL,
            "threshold 0.81 is outside the sane range 0.3–0.8 for dlib_resnet_v1 (L2 distance)",
        ),
        (
            50,
            DLIB_MODEL,
            "threshold 50 is outside the sane range 0.3–0.8 for dlib_resnet_v1 (L2 distance)",
        ),
        (
            1.41,
            FACENET_MODEL,
            "threshold 1.41 is outside the sane range 0.5–1.4 for facenet_keras_v1 (L2 distance)",
        ),
        (
            0.49,
            FACENET_MODEL,
            "threshold 0.49 is outside the sane range 0.5–1.4 for facenet_keras_v1 (L2 distance)",
        ),
        (
            math.nan,
            DLIB_MODEL,
            "threshold nan is outside the sane range 0.3–0.8 for dlib_resnet_v1 (L2 distance)",
        ),
        (
            math.inf,
            DLIB_MODEL,
            "threshold inf is outside the sane range 0.3–0.8 for dlib_resnet_v1 (L2 distance)",
        ),
        (
            "nan",
            DLIB_MODEL,
            "threshold 'nan' is outside the sane range 0.3–0.8 for dlib_resnet_v1 (L2 distance)",
        ),
        ("fast", DLIB_MODEL, "threshold must be a number, got 'fast'"),
        (True, DLIB_MODEL, "threshold must be a number, not bool"),
        (None, DLIB_MODEL, "threshold must be a number, not NoneType"),
        ([0.6], DLIB_MODEL, "threshold must be a number, not list"),
    ],
)
def test_a_bad_threshold_is_refused_in_one_line(value, model_id, message) -> None:
    with pytest.raises(UsageError) as refused:
        validate_threshold(value, model_id=model_id)
    assert str(refused.value) == message


def test_the_refusal_names_the_setting() -> None:
    with pytest.raises(UsageError) as refused:
        validate_threshold(2.0, model_id=FACENET_MODEL, what="facenet_threshold")
    assert str(refused.value) == (
        "facenet_threshold 2.0 is outside the sane range 0.5–1.4 for facenet_keras_v1 (L2 distance)"
    )


@pytest.mark.parametrize("value", [0.30, 0.95, "0.75", 0.5])
def test_liveness_thresholds_inside_the_range_are_taken(value) -> None:
    assert validate_liveness_threshold(value) == float(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.29, "liveness_threshold 0.29 is outside the sane range 0.3–0.95 (live score, 0–1)"),
        (0.96, "liveness_threshold 0.96 is outside the sane range 0.3–0.95 (live score, 0–1)"),
        ("high", "liveness_threshold must be a number, got 'high'"),
        (False, "liveness_threshold must be a number, not bool"),
    ],
)
def test_a_bad_liveness_threshold_is_refused_in_one_line(value, message) -> None:
    with pytest.raises(UsageError) as refused:
        validate_liveness_threshold(value)
    assert str(refused.value) == message


def test_the_liveness_threshold_refusal_names_the_key() -> None:
    with pytest.raises(UsageError) as refused:
        validate_liveness_threshold(1.5, what="--liveness-threshold")
    assert str(refused.value).startswith("--liveness-threshold 1.5 is outside")


def test_liveness_modes_are_passive_or_off() -> None:
    assert validate_liveness_mode("passive") == "passive"
    assert validate_liveness_mode("off") == "off"
    with pytest.raises(UsageError) as refused:
        validate_liveness_mode("on")
    assert str(refused.value) == "liveness must be one of passive, off, got 'on'"
    with pytest.raises(UsageError) as refused:
        validate_liveness_mode(None, what="--liveness")
    assert str(refused.value) == "--liveness must be one of passive, off, got None"
