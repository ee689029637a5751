"""Gallery matching and the per-camera decision policy at their edges: exact messages, float32
distances, quality flags, inclusive bounds and rate limits at exactly the interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gatekeeper import recognition
from gatekeeper.recognition import (
    Decision,
    DecisionPolicy,
    FaceObservation,
    Gallery,
    Match,
    ModelMismatchError,
)

MODEL = "dlib_resnet_v1"
BOX = (10, 20, 80, 80)


def _faces(seed: int, count: int, dim: int = 128) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, size=(count, dim)).astype(np.float32)


# --- Gallery -----------------------------------------------------------------------------------


def test_distances_are_the_float32_distances_whatever_the_input_dtype() -> None:
    templates = _faces(1, 6)
    queries = _faces(2, 5)
    for given_templates, given_queries in [
        (templates, queries),
        (templates.astype(np.float64), queries.astype(np.float64)),
        (templates.tolist(), queries.tolist()),
    ]:
        gallery = Gallery([f"p{i}" for i in range(6)], given_templates, model_id=MODEL)
        for query, match in zip(queries, gallery.match(given_queries, model_id=MODEL), strict=True):
            closest = np.linalg.norm(templates - query, axis=1)  # float32 arithmetic
            assert match.distance == float(closest.min())
            assert match.runner_up_distance == float(np.sort(closest)[1])


def test_galleries_larger_than_one_transpose_block_are_copied_whole(monkeypatch) -> None:
    monkeypatch.setattr(recognition, "_TRANSPOSE_BLOCK", 4)
    templates = _faces(3, 11)
    gallery = Gallery([f"p{i}" for i in range(11)], templates, model_id=MODEL)
    for i in range(11):
        match = gallery.match(templates[i], model_id=MODEL)
        assert (match.name, match.distance) == (f"p{i}", 0.0)


def test_the_low_quality_flag_of_the_closest_template_is_reported() -> None:
    templates = _faces(4, 3)
    gallery = Gallery(
        ["ann", "bob", "cy"], templates, model_id=MODEL, low_quality=[False, True, False]
    )
    flags = [m.low_quality for m in gallery.match(templates, model_id=MODEL)]
    assert flags == [False, True, False]
    assert gallery.match(templates[1], model_id=MODEL).low_quality is True
    plain = Gallery(["ann", "bob"], templates[:2], model_id=MODEL)
    assert [m.low_quality for m in plain.match(templates[:2], model_id=MODEL)] == [False, False]


def test_quality_flags_must_be_one_per_template() -> None:
    with pytest.raises(ValueError) as refused:
        Gallery(["ann", "bob"], _faces(5, 2), model_id=MODEL, low_quality=[True])
    assert str(refused.value) == "1 quality flags for 2 embeddings"
    Gallery(["ann", "bob"], _faces(5, 2), model_id=MODEL, low_quality=[True, False])


def test_templates_with_nan_are_refused_with_a_message() -> None:
    bad = _faces(6, 2)
    bad[1, 3] = np.inf
    with pytest.raises(ValueError) as refused:
        Gallery(["ann", "bob"], bad, model_id=MODEL)
    assert str(refused.value) == "embeddings contain NaN or infinite values"


def test_query_refusals_say_what_is_wrong() -> None:
    gallery = Gallery(["ann"], _faces(7, 1), model_id=MODEL)
    with pytest.raises(ModelMismatchError) as refused:
        gallery.match(np.zeros(128), model_id="facenet_keras_v1")
    assert str(refused.value) == (
        "cannot match facenet_keras_v1 embeddings against a gallery of dlib_resnet_v1 "
        "embeddings; re-encode the enrolled photos with the current model"
    )
    with pytest.raises(ValueError) as refused:
        gallery.match(np.zeros((2, 64)), model_id=MODEL)
    assert str(refused.value) == "query must have shape (128,) or (Q, 128), got (2, 64)"
    with pytest.raises(ValueError) as refused:
        gallery.match(np.full(128, np.nan), model_id=MODEL)
    assert str(refused.value) == "query contains NaN or infinite values"


def test_an_empty_gallery_reports_infinite_distances_and_margin() -> None:
    match = Gallery.empty(MODEL).match(np.zeros(128), model_id=MODEL)
    assert match == Match(None, None, math.inf, None, None, math.inf)
    assert match.margin == math.inf and not match.is_known(2.0)


def test_one_persons_gallery_has_no_runner_up_even_with_person_ids() -> None:
    templates = _faces(8, 2)
    gallery = Gallery(["ann", "ann"], templates, model_id=MODEL, person_ids=[7, 7])
    match = gallery.match(templates[0], model_id=MODEL)
    assert (match.person_id, match.runner_up_person_id, match.runner_up_name) == (7, None, None)
    assert match.runner_up_distance == math.inf and match.margin == math.inf


def test_the_margin_is_the_runner_ups_lead() -> None:
    assert Match("ann", 1, 0.25, "bob", 2, 0.75).margin == 0.5


# --- DecisionPolicy ----------------------------------------------------------------------------


def seen(name, distance=0.4, box=BOX, spoof=False):
    return FaceObservation(name, distance, box, spoof)


def test_the_default_window_is_the_last_five_frames() -> None:
    policy = DecisionPolicy()
    frames = [[seen("ann")], [seen("ann")], [], [], [], [seen("ann")]]
    assert [policy.update(float(t), faces) for t, faces in enumerate(frames)] == [[]] * 6


def test_one_vote_may_be_enough_and_all_votes_of_the_window_may_be_needed() -> None:
    (decision,) = DecisionPolicy(votes_required=1, votes_window=1).update(0.0, [seen("ann")])
    assert decision.kind == "granted"
    every = DecisionPolicy(votes_required=5, votes_window=5)
    assert [every.update(float(t), [seen("ann")]) != [] for t in range(5)] == [False] * 4 + [True]


@pytest.mark.parametrize("interval", [0.0, 0.5])
def test_an_interval_under_a_second_is_allowed(interval) -> None:
    policy = DecisionPolicy(votes_required=1, votes_window=1, interval_s=interval)
    assert [len(policy.update(t, [seen("ann")])) for t in (0.0, 0.5, 1.0)] == [1, 1, 1]


def test_bad_settings_are_refused_with_the_values() -> None:
    with pytest.raises(ValueError) as refused:
        DecisionPolicy(votes_required=0, votes_window=5)
    assert str(refused.value) == "need 1 <= votes_required <= votes_window, got 0 of 5"
    with pytest.raises(ValueError) as refused:
        DecisionPolicy(interval_s=-0.5)
    assert str(refused.value) == "interval_s must be >= 0, got -0.5"


def test_two_frames_at_the_same_time_are_fine_and_backwards_is_refused() -> None:
    policy = DecisionPolicy()
    policy.update(5.0, [])
    policy.update(5.0, [])
    with pytest.raises(ValueError) as refused:
        policy.update(4.5, [])
    assert str(refused.value) == "frame time went backwards: 4.5 after 5.0"


def test_a_person_is_decided_again_exactly_one_interval_later() -> None:
    policy = DecisionPolicy(votes_required=1, votes_window=1, interval_s=10.0)
    times = [t for t in (0.0, 9.99, 10.0, 19.99, 20.0) if policy.update(t, [seen("ann")])]
    assert times == [0.0, 10.0, 20.0]


def test_could_decide_again_exactly_one_interval_later() -> None:
    policy = DecisionPolicy(votes_required=1, votes_window=1, interval_s=10.0)
    policy.update(3.0, [seen("ann")])
    assert not policy.could_decide("ann", 12.99)
    assert policy.could_decide("ann", 13.0)


def test_spoofs_of_a_person_are_one_decision_per_interval_counted_from_the_spoof() -> None:
    policy = DecisionPolicy(votes_required=1, votes_window=1, interval_s=10.0)
    photo = [seen("ann", 0.3, spoof=True)]
    kinds = {t: [d.kind for d in policy.update(t, photo)] for t in (6.0, 7.0, 15.99, 16.0)}
    assert kinds == {6.0: ["spoof"], 7.0: [], 15.99: [], 16.0: ["spoof"]}


def test_the_closest_of_two_spoofed_faces_of_one_person_is_reported() -> None:
    policy = DecisionPolicy(votes_required=1, votes_window=1)
    far, near = seen("ann", 0.5, (0, 0, 10, 10), True), seen("ann", 0.2, (5, 5, 30, 30), True)
    assert policy.update(0.0, [far, near]) == [Decision("spoof", "ann", 0.2, near.box, 0.0)]


def test_the_largest_unknown_face_is_the_widest_when_heights_agree() -> None:
    policy = DecisionPolicy(votes_required=1, votes_window=1)
    narrow, wide = seen(None, 0.8, (0, 0, 20, 50)), seen(None, 0.9, (60, 0, 40, 50))
    (decision,) = policy.update(0.0, [narrow, wide])
    assert (decision.box, decision.distance) == (wide.box, 0.9)
    policy = DecisionPolicy(votes_required=1, votes_window=1)
    (decision,) = policy.update(0.0, [wide, narrow])
    assert decision.box == wide.box


# --- distances to each person ------------------------------------------------------------------


def test_person_distances_are_each_persons_closest_template_in_persons_order() -> None:
    templates = _faces(3, 7)
    names = ["ann", "bo", "ann", "cy", "bo", "bo", "dee"]
    gallery = Gallery(names, templates, model_id=MODEL, person_ids=[4, 2, 4, 9, 2, 2, 1])
    queries = _faces(4, 3)
    result = gallery.person_distances(queries, model_id=MODEL)
    assert sorted(gallery.persons) == [1, 2, 4, 9]
    assert result.dtype == np.float64 and result.shape == (3, 4)
    for q, query in enumerate(queries.astype(np.float64)):
        per_template = np.sqrt(((templates.astype(np.float64) - query) ** 2).sum(axis=1))
        for column, person in enumerate(gallery.persons):
            rows = [i for i, p in enumerate([4, 2, 4, 9, 2, 2, 1]) if p == person]
            assert result[q, column] == pytest.approx(per_template[rows].min(), abs=1e-5)
    one = gallery.person_distances(queries[0], model_id=MODEL)
    assert one.shape == (1, 4) and np.array_equal(one[0], result[0])


def test_a_query_on_a_template_is_at_distance_zero_never_nan() -> None:
    templates = _faces(5, 3)
    gallery = Gallery(["a", "b", "c"], templates, model_id=MODEL)
    result = gallery.person_distances(templates, model_id=MODEL)
    assert not np.isnan(result).any()
    assert np.allclose(np.diag(result), 0.0, atol=1e-3) and (result >= 0).all()


def test_person_distances_of_an_empty_gallery_have_no_columns() -> None:
    result = Gallery.empty(MODEL).person_distances(_faces(6, 2), model_id=MODEL)
    assert result.shape == (2, 0)


def test_person_distances_refuse_another_model_and_a_wrong_width() -> None:
    gallery = Gallery(["a"], _faces(7, 1), model_id=MODEL)
    with pytest.raises(ModelMismatchError) as mismatch:
        gallery.person_distances(_faces(8, 1), model_id="sface_int8bq_v1")
    assert str(mismatch.value) == (
        f"cannot match sface_int8bq_v1 embeddings against a gallery of {MODEL} embeddings; "
        "re-encode the enrolled photos with the current model"
    )
    with pytest.raises(ValueError) as width:
        gallery.person_distances(_faces(8, 2, dim=64), model_id=MODEL)
    assert str(width.value) == "queries must have shape (Q, 128), got (2, 64)"


def test_person_distances_are_the_float32_distances_whatever_the_query_dtype() -> None:
    gallery = Gallery(["a", "b", "a"], _faces(9, 3), model_id=MODEL)
    queries = _faces(10, 4)
    expected = gallery.person_distances(queries, model_id=MODEL)
    for given in (queries.astype(np.float64), queries.tolist()):
        assert np.array_equal(gallery.person_distances(given, model_id=MODEL), expected)


def test_person_distances_with_one_template_are_its_distances() -> None:
    template, query = _faces(11, 2)
    gallery = Gallery(["solo"], template[None], model_id=MODEL)
    result = gallery.person_distances(query, model_id=MODEL)
    expected = np.linalg.norm(template.astype(np.float64) - query.astype(np.float64))
    assert result.shape == (1, 1) and result[0, 0] == pytest.approx(expected, abs=1e-5)
