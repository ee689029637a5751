"""Visits: faces followed from frame to frame, and the visit's aggregate embedding."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import person_embedding

from gatekeeper.visits import (
    CONTINUITY,
    MAX_GAP_S,
    WINDOW,
    Visits,
    frame_weight,
    weighted_unit_mean,
)


def _frame_of(person: np.ndarray, rng: np.random.Generator, noise: float = 0.03) -> np.ndarray:
    """One frame's embedding of ``person``: the person plus per-frame noise (about 0.34 away
    at ``noise`` 0.03, like a video frame from its template)."""
    return (person + rng.normal(scale=noise, size=128)).astype(np.float32)


def test_a_face_that_stays_in_place_is_one_visit_across_frames() -> None:
    ada, rng, visits = person_embedding(1), np.random.default_rng(0), Visits()
    seen = [
        visits.observe(t / 10, [(100 + t, 80, 90, 110)], _frame_of(ada, rng)[None], [90])[0]
        for t in range(12)
    ]
    assert len({v.id for v in seen}) == 1
    assert seen[-1].frames == 12 and len(seen[-1].recent) == WINDOW


def test_the_aggregate_is_closer_to_the_person_than_its_frames_are() -> None:
    ada, rng, visits = person_embedding(1), np.random.default_rng(0), Visits()
    frames = [_frame_of(ada, rng) for _ in range(WINDOW)]
    for t, frame in enumerate(frames):
        (visit,) = visits.observe(t / 10, [(100, 80, 90, 110)], frame[None], [90])
    single = np.median([np.linalg.norm(f - ada) for f in frames])
    aggregate = np.linalg.norm(visit.dlib() - ada)
    assert aggregate < single / 2, (aggregate, single)
    assert np.linalg.norm(visit.dlib()) == pytest.approx(
        np.mean([np.linalg.norm(f) for f in frames]), rel=1e-5
    ), "the aggregate keeps the frames' scale"


def test_a_different_person_in_the_same_place_starts_a_new_visit() -> None:
    """A cut: another person's face where the last one was (Obama after Lin on the clip)."""
    ada, bob, rng, visits = (
        person_embedding(1),
        person_embedding(2),
        np.random.default_rng(0),
        Visits(),
    )
    assert np.linalg.norm(ada - bob) > CONTINUITY
    box = (100, 80, 90, 110)
    first = [visits.observe(t / 10, [box], _frame_of(ada, rng)[None], [90])[0] for t in range(3)]
    (second,) = visits.observe(0.3, [box], _frame_of(bob, rng)[None], [90])
    assert second.id != first[0].id and second.frames == 1
    assert np.linalg.norm(second.dlib() - bob) < np.linalg.norm(second.dlib() - ada)


def test_a_face_gone_for_longer_than_the_gap_comes_back_as_a_new_visit() -> None:
    ada, rng, visits = person_embedding(1), np.random.default_rng(0), Visits()
    box = (100, 80, 90, 110)
    (before,) = visits.observe(0.0, [box], _frame_of(ada, rng)[None], [90])
    visits.observe(0.5, [], np.empty((0, 128), np.float32), [])
    (soon,) = visits.observe(MAX_GAP_S, [box], _frame_of(ada, rng)[None], [90])
    (late,) = visits.observe(2 * MAX_GAP_S + 0.01, [box], _frame_of(ada, rng)[None], [90])
    assert soon.id == before.id and late.id != before.id


def test_two_faces_in_view_are_two_visits_and_keep_their_own() -> None:
    ada, bob, rng, visits = (
        person_embedding(1),
        person_embedding(2),
        np.random.default_rng(0),
        Visits(),
    )
    left, right = (50, 80, 90, 110), (300, 80, 90, 110)
    ids = set()
    for t in range(5):
        faces = np.stack([_frame_of(ada, rng), _frame_of(bob, rng)])
        a, b = visits.observe(t / 10, [left, right], faces, [90, 90])
        ids.add((a.id, b.id))
    ((a_id, b_id),) = ids
    assert a_id != b_id
    assert np.linalg.norm(a.dlib() - ada) < 0.2 and np.linalg.norm(b.dlib() - bob) < 0.2


def test_a_small_face_counts_less_than_a_large_one() -> None:
    assert frame_weight(20) == 0.25 and frame_weight(40) == 0.5 and frame_weight(200) == 1.0
    north, east = np.array([[0.0, 1.0], [1.0, 0.0]])
    mean = weighted_unit_mean(np.stack([north, east]), np.array([1.0, 0.25]))
    assert np.linalg.norm(mean) == pytest.approx(1.0)
    assert mean[1] > mean[0] * 3.9


def test_another_encoder_aggregates_only_the_frames_it_measured() -> None:
    ada, rng, visits = person_embedding(1), np.random.default_rng(0), Visits()
    box = (100, 80, 90, 110)
    (visit,) = visits.observe(0.0, [box], _frame_of(ada, rng)[None], [90])
    assert visit.aggregate("facenet_keras_v1") is None
    (visit,) = visits.observe(0.1, [box], _frame_of(ada, rng)[None], [90])
    second = np.zeros(128, np.float32)
    second[0] = 2.0
    aggregate = visits.add(visit, "facenet_keras_v1", second)
    assert aggregate[0] == pytest.approx(1.0), "one measured frame: its unit vector"
