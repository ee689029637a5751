"""The site's decision rule (its tiers, the tiny-face margin), its sane ranges and the liveness
verdict, as pure functions: every branch at its edges (no models, no I/O)."""

from __future__ import annotations

import json
import math
from importlib import resources

import pytest

from gatekeeper.decision import (
    CALIBRATION,
    DEFAULT_THRESHOLD,
    DLIB_MODEL,
    FACENET_MODEL,
    SFACE_MODEL,
    SHIPPED_TIERS,
    SINGLE_THRESHOLDS,
    THRESHOLD_RANGE,
    TINY_FACE_PX,
    DecisionRule,
    Evidence,
    Tier,
    _shipped,
    calibrated_rates,
    is_live,
    parse_rule,
    validate_liveness_mode,
    validate_liveness_threshold,
    validate_threshold,
)
from gatekeeper.errors import UsageError

#: A hand-made rule on exact binary fractions, so that each boundary is met exactly: a fused
#: tier of two encoders (with a margin for tiny faces), then each encoder alone.
FUSED = Tier("sface + dlib", ((SFACE_MODEL, 1.0), (DLIB_MODEL, 0.5)), -0.75, 0.125)
DLIB = Tier("dlib", ((DLIB_MODEL, 1.0),), 0.25)
FACENET = Tier("facenet", ((FACENET_MODEL, 1.0),), -0.25)
RULE = DecisionRule(0.5, (FUSED, DLIB, FACENET))


def _evidence(face_px: float | None = None, **distances: float) -> Evidence:
    names = {"sface": SFACE_MODEL, "dlib": DLIB_MODEL, "facenet": FACENET_MODEL}
    return Evidence({names[k]: v for k, v in distances.items()}, face_px)


# --- which tier decides ------------------------------------------------------------------------


def test_the_first_tier_whose_encoders_all_measured_the_face_decides() -> None:
    assert RULE.tier_for({SFACE_MODEL, DLIB_MODEL, FACENET_MODEL}) is FUSED
    assert RULE.tier_for([DLIB_MODEL, SFACE_MODEL]) is FUSED
    assert RULE.tier_for({DLIB_MODEL, FACENET_MODEL}) is DLIB
    assert RULE.tier_for({FACENET_MODEL}) is FACENET
    assert RULE.tier_for({SFACE_MODEL}) is None, "no tier of SFace alone"
    assert RULE.tier_for(set()) is None


def test_a_tier_is_not_chosen_when_one_of_its_encoders_is_missing() -> None:
    """SFace did not measure the face (weights not fetched, no template yet): the fused tier
    must not decide on dlib's distance alone, with a fused tier's offset."""
    assert FUSED.applies({SFACE_MODEL, DLIB_MODEL}) and FUSED.applies([DLIB_MODEL, SFACE_MODEL])
    assert not FUSED.applies({DLIB_MODEL}) and not FUSED.applies({SFACE_MODEL})
    assert not FUSED.applies({FACENET_MODEL}) and not FUSED.applies(())
    # dlib 0.25 under the fused tier would score -0.625: far inside; dlib alone scores 0.5.
    assert RULE.score(_evidence(dlib=0.25)) == 1.0
    assert RULE.accepts(_evidence(dlib=0.25))
    assert not RULE.accepts(_evidence(dlib=0.2500001))
    assert RULE.score(_evidence(dlib=0.375, facenet=0.5)) == 1.25, "dlib's tier, not FaceNet's"


def test_without_any_applicable_tier_the_score_is_infinite_and_nothing_is_accepted() -> None:
    assert RULE.score(_evidence(sface=0.0)) == math.inf
    assert not RULE.accepts(_evidence(sface=0.0))
    assert DecisionRule(0.5, ()).score(_evidence(dlib=0.0)) == math.inf


def test_a_fused_tier_scores_the_weighted_sum_plus_its_offset_over_the_threshold() -> None:
    both = _evidence(sface=1.0, dlib=0.5)
    assert FUSED.score(both) == 0.5, "1.0 + 0.5 · 0.5 - 0.75"
    assert RULE.score(both) == 1.0 and RULE.accepts(both), "exactly at the threshold"
    assert not RULE.accepts(_evidence(sface=1.0, dlib=0.5000001))
    assert not RULE.accepts(_evidence(sface=1.0000001, dlib=0.5))
    assert RULE.score(_evidence(sface=0.75, dlib=0.5)) == 0.5
    assert RULE.score(_evidence(sface=1.0, dlib=0.0)) == 0.5, "dlib weighs half"
    assert FACENET.score(_evidence(facenet=1.0)) == 0.75


def test_the_score_follows_the_sites_threshold() -> None:
    strict = DecisionRule(0.25, (DLIB,))
    assert strict.score(_evidence(dlib=0.0)) == 1.0 and strict.accepts(_evidence(dlib=0.0))
    assert strict.score(_evidence(dlib=0.25)) == 2.0
    assert not strict.accepts(_evidence(dlib=0.0000001))


# --- the tiny-face margin: only for tiny faces -------------------------------------------------


def test_a_face_is_tiny_below_40_px_and_unknown_width_is_not_tiny() -> None:
    assert TINY_FACE_PX == 40.0
    assert _evidence(39.999, dlib=0.1).tiny
    assert not _evidence(40.0, dlib=0.1).tiny, "40 px is not below 40 px"
    assert not _evidence(None, dlib=0.1).tiny
    assert not Evidence({DLIB_MODEL: 0.1}).tiny


def test_the_tiny_face_margin_applies_to_tiny_faces_only_at_both_boundaries() -> None:
    at_tiny = _evidence(39.999, sface=0.875, dlib=0.5)  # 0.875 + 0.25 - 0.75 + 0.125
    assert FUSED.score(at_tiny) == 0.5 and RULE.accepts(at_tiny)
    assert not RULE.accepts(_evidence(39.999, sface=0.8750001, dlib=0.5)), "tiny: just outside"
    at_forty = _evidence(40.0, sface=1.0, dlib=0.5)
    assert FUSED.score(at_forty) == 0.5 and RULE.accepts(at_forty), "40 px: no margin"
    assert not RULE.accepts(_evidence(40.0, sface=1.0000001, dlib=0.5))
    assert not RULE.accepts(_evidence(39.999, sface=1.0, dlib=0.5)), "the margin refuses it"
    assert RULE.accepts(_evidence(None, sface=1.0, dlib=0.5)), "unknown width: no margin"
    assert RULE.score(_evidence(10.0, sface=1.0, dlib=0.5)) == 1.25


def test_a_tier_without_a_margin_treats_tiny_faces_alike() -> None:
    assert DLIB.tiny_face_margin == 0.0
    assert DLIB.score(_evidence(10.0, dlib=0.25)) == DLIB.score(_evidence(100.0, dlib=0.25)) == 0.5


# --- the rule as shipped -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shipped",
    [
        lambda: (SHIPPED_TIERS, SINGLE_THRESHOLDS, CALIBRATION),
        _shipped,  # read again now, as a changed rule.json would be at the next start
    ],
    ids=["loaded at import", "read again"],
)
def test_the_shipped_tiers_are_rule_json_s(shipped) -> None:
    document = json.loads(
        resources.files("gatekeeper").joinpath("rule.json").read_text(encoding="utf-8")
    )
    tiers, singles, calibration = shipped()
    assert [t.name for t in tiers] == [t["name"] for t in document["tiers"]]
    for tier, entry in zip(tiers, document["tiers"], strict=True):
        assert tier.weights == tuple((m, float(w)) for m, w in entry["weights"])
        assert all(type(w) is float for _, w in tier.weights)
        assert type(tier.offset) is float and type(tier.tiny_face_margin) is float
        assert tier.offset == entry["offset"] and tier.tiny_face_margin == entry["tiny_face_margin"]
    assert document["single_thresholds"] == singles
    assert document["calibration"] == calibration
    assert DecisionRule(0.6).tiers == SHIPPED_TIERS


def test_a_rule_file_s_tiers_are_read_with_their_tiny_face_margins() -> None:
    text = json.dumps(
        {
            "tiers": [
                {
                    "name": "fused",
                    "weights": [["m1", 1], ["m2", "0.5"]],
                    "offset": -1,
                    "tiny_face_margin": "0.125",
                },
                {"name": "m1", "weights": [["m1", 1]], "offset": 0.25, "tiny_face_margin": 0},
            ],
            "single_thresholds": {"m1": 0.5},
            "calibration": {"points": []},
        }
    )
    tiers, singles, calibration = parse_rule(text)
    assert tiers == (
        Tier("fused", (("m1", 1.0), ("m2", 0.5)), -1.0, 0.125),
        Tier("m1", (("m1", 1.0),), 0.25, 0.0),
    )
    assert type(tiers[0].tiny_face_margin) is float and type(tiers[0].offset) is float
    assert singles == {"m1": 0.5} and calibration == {"points": []}


def test_a_rules_encoders_are_listed_once_first_tiers_first() -> None:
    assert RULE.models == (SFACE_MODEL, DLIB_MODEL, FACENET_MODEL)
    assert DecisionRule(0.5, (DLIB, FUSED)).models == (DLIB_MODEL, SFACE_MODEL)
    assert FUSED.models == (SFACE_MODEL, DLIB_MODEL)


def test_each_shipped_single_encoder_tiers_operating_point_is_the_default_threshold() -> None:
    """At the default threshold a shipped tier of one encoder accepts exactly what that
    encoder alone accepts at its own fitted threshold: the tiers mean the same false-accept
    rate. Without SFace, FaceNet decides before dlib; SFace alone has no tier."""
    rule = DecisionRule(DEFAULT_THRESHOLD)
    singles = [t for t in SHIPPED_TIERS if len(t.models) == 1]
    assert [t.models for t in singles] == [(FACENET_MODEL,), (DLIB_MODEL,)]
    for tier in singles:
        (model,) = tier.models
        at = Evidence({model: SINGLE_THRESHOLDS[model]})
        assert tier.score(at) == pytest.approx(DEFAULT_THRESHOLD)
    assert rule.tier_for({DLIB_MODEL, FACENET_MODEL}) is singles[0]
    assert rule.tier_for({DLIB_MODEL}) is singles[1]
    assert SHIPPED_TIERS[0].models == (SFACE_MODEL, FACENET_MODEL)
    assert rule.tier_for({SFACE_MODEL, FACENET_MODEL, DLIB_MODEL}) is SHIPPED_TIERS[0]
    assert rule.tier_for({SFACE_MODEL, DLIB_MODEL}) is singles[1], "no FaceNet: dlib decides"


def test_the_calibrated_rates_are_those_of_the_nearest_calibrated_threshold() -> None:
    points = CALIBRATION["points"]
    second = points[1]
    between = (points[1]["threshold"] + points[2]["threshold"]) / 2 - 1e-6
    assert calibrated_rates(between) == {k: second[k] for k in ("far_hard", "far_random", "frr")}
    assert calibrated_rates(-5.0) == {k: points[0][k] for k in ("far_hard", "far_random", "frr")}
    assert calibrated_rates(9.0) == {k: points[-1][k] for k in ("far_hard", "far_random", "frr")}


def test_without_a_calibration_there_are_no_rates(monkeypatch) -> None:
    monkeypatch.setitem(CALIBRATION, "points", [])
    assert calibrated_rates(0.6) is None
    monkeypatch.delitem(CALIBRATION, "points")
    assert calibrated_rates(0.6) is None


# --- the liveness verdict ----------------------------------------------------------------------


def test_a_live_score_exactly_at_the_threshold_is_live() -> None:
    assert is_live(0.75, 0.75)
    assert is_live(0.750001, 0.75)
    assert not is_live(0.749999, 0.75)


def test_a_nan_live_score_is_never_live() -> None:
    assert not is_live(math.nan, 0.30)
    assert is_live(1.0, 0.30)


# --- sane ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(0.30, 0.30), (0.80, 0.80), ("0.55", 0.55)])
def test_thresholds_inside_the_range_are_taken_as_floats(value, expected) -> None:
    result = validate_threshold(value)
    assert result == expected and type(result) is float
    assert THRESHOLD_RANGE == (0.30, 0.80)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.29, "threshold 0.29 is outside the sane range 0.3–0.8 (the decision rule's score)"),
        (0.81, "threshold 0.81 is outside the sane range 0.3–0.8 (the decision rule's score)"),
        (50, "threshold 50 is outside the sane range 0.3–0.8 (the decision rule's score)"),
        (math.nan, "threshold nan is outside the sane range 0.3–0.8 (the decision rule's score)"),
        (math.inf, "threshold inf is outside the sane range 0.3–0.8 (the decision rule's score)"),
        ("nan", "threshold 'nan' is outside the sane range 0.3–0.8 (the decision rule's score)"),
        ("fast", "threshold must be a number, got 'fast'"),
        (True, "threshold must be a number, not bool"),
        (None, "threshold must be a number, not NoneType"),
        ([0.6], "threshold must be a number, not list"),
    ],
)
def test_a_bad_threshold_is_refused_in_one_line(value, message) -> None:
    with pytest.raises(UsageError) as refused:
        validate_threshold(value)
    assert str(refused.value) == message


def test_the_refusal_names_the_setting() -> None:
    with pytest.raises(UsageError) as refused:
        validate_threshold(2.0, what="--threshold")
    assert str(refused.value) == (
        "--threshold 2.0 is outside the sane range 0.3–0.8 (the decision rule's score)"
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
