"""Visits at their edges: the overlap of two boxes, the weights and means a visit's aggregate
is made of, and which face continues which visit when several compete for one, when the first
candidate is refused, and at the exact bounds of overlap and continuity."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import person_embedding

from gatekeeper.visits import (
    CONTINUITY,
    MIN_OVERLAP,
    QUALITY_FLOOR,
    Visits,
    _overlap,
    frame_weight,
    weighted_unit_mean,
)


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 0, 10, 10), 50 / 150),
        ((0, 0, 10, 10), (9, 0, 10, 10), 10 / 190),  # one pixel column in common
        ((0, 0, 10, 10), (0, 9, 10, 10), 10 / 190),  # one pixel row in common
        ((0, 0, 10, 20), (0, 0, 5, 6), 30 / 200),  # one inside the other
        ((0, 0, 10, 10), (10, 0, 10, 10), 0.0),  # touching side by side
        ((0, 0, 10, 10), (20, 5, 10, 10), 0.0),  # apart, though level with each other
        ((0, 0, 10, 10), (5, 20, 10, 10), 0.0),  # apart, though one above the other
        ((0, 0, 0, 10), (0, 0, 0, 10), 0.0),  # no width: nothing in common
        ((0, 0, 10, 0), (0, 0, 10, 0), 0.0),  # no height
    ],
)
def test_the_overlap_of_two_boxes_is_their_intersection_over_their_union(a, b, iou) -> None:
    assert _overlap(a, b) == pytest.approx(iou)
    assert _overlap(b, a) == pytest.approx(iou)


def test_a_tiny_face_counts_at_least_the_floor_and_a_large_one_at_most_fully() -> None:
    assert frame_weight(2.0) == QUALITY_FLOOR
    assert frame_weight(40.0) == 0.5
    assert frame_weight(500.0) == 1.0


def test_the_weighted_mean_direction_ignores_each_vector_s_length() -> None:
    vectors = np.array([[4.0, 0.0], [0.0, 1.0]])
    mean = weighted_unit_mean(vectors, np.array([1.0, 1.0]))
    assert mean.dtype == np.float32
    np.testing.assert_allclose(mean, [2**-0.5, 2**-0.5], rtol=1e-6)
    np.testing.assert_allclose(
        weighted_unit_mean(vectors, np.array([3.0, 1.0])), [0.9486833, 0.3162278], rtol=1e-6
    )


def test_a_visit_starts_where_its_face_was_first_seen() -> None:
    visit = Visits().observe(2.5, [(10, 20, 30, 40)], person_embedding(1)[None], [30])[0]
    assert (visit.box, visit.time, visit.frames) == ((10, 20, 30, 40), 2.5, 1)


def test_another_encoder_s_embedding_belongs_to_the_frame_just_observed() -> None:
    ada, visits = person_embedding(1), Visits()
    a, b = np.eye(128, dtype=np.float32)[:2]
    for t, width in enumerate((80, 40, 20)):
        visit = visits.observe(t / 10, [(100, 80, 80, 80)], ada[None], [width])[0]
        if t == 0:
            visits.add(visit, "other", a)
    aggregate = visits.add(visit, "other", b)
    # frame 0 weighs 1, frame 2 (20 px) the floor 0.25; frame 1 (0.5) measured nothing
    np.testing.assert_allclose(aggregate[:2], np.array([1.0, 0.25]) / np.hypot(1.0, 0.25))


def test_two_faces_where_one_visit_was_continue_it_once() -> None:
    ada, visits = person_embedding(1), Visits()
    first = visits.observe(0.0, [(0, 0, 10, 10)], ada[None], [10])[0]
    both = visits.observe(0.1, [(0, 0, 10, 10), (1, 0, 10, 10)], np.stack([ada, ada]), [10, 10])
    assert both[0].id == first.id
    assert both[1].id != first.id


def test_a_face_refused_by_a_taken_visit_still_continues_the_next_one_it_overlaps() -> None:
    ada, bea, visits = person_embedding(1), person_embedding(2), Visits()
    a, b = visits.observe(0.0, [(0, 0, 10, 10), (7, 0, 10, 10)], np.stack([ada, bea]), [10, 10])
    # Bea's new box overlaps Ada's visit more (0.54) than her own (0.43), but Ada's is taken.
    assert _overlap((3, 0, 10, 10), (0, 0, 10, 10)) > _overlap((3, 0, 10, 10), (7, 0, 10, 10))
    now = visits.observe(0.1, [(0, 0, 10, 10), (3, 0, 10, 10)], np.stack([ada, bea]), [10, 10])
    assert [v.id for v in now] == [a.id, b.id]


def test_a_stranger_in_one_visit_s_place_does_not_stop_another_face_continuing_its_own() -> None:
    ada, bea, cid, visits = person_embedding(1), person_embedding(2), person_embedding(3), Visits()
    a, b = visits.observe(0.0, [(0, 0, 10, 10), (50, 0, 10, 10)], np.stack([ada, bea]), [10, 10])
    # Cid stands exactly where Ada was (overlap 1, refused: another person); Bea moved a little.
    now = visits.observe(0.1, [(0, 0, 10, 10), (51, 0, 10, 10)], np.stack([cid, bea]), [10, 10])
    assert now[0].id not in (a.id, b.id)
    assert now[1].id == b.id


def test_a_face_at_exactly_the_least_overlap_continues_its_visit() -> None:
    ada, visits = person_embedding(1), Visits()
    first = visits.observe(0.0, [(0, 0, 10, 10)], ada[None], [10])[0]
    assert _overlap((0, 0, 10, 10), (0, 0, 5, 6)) == MIN_OVERLAP
    assert visits.observe(0.1, [(0, 0, 5, 6)], ada[None], [5])[0].id == first.id


def test_a_face_at_exactly_the_continuity_bound_continues_its_visit() -> None:
    here = np.zeros(128)
    here[0] = 1.5
    visits = Visits()
    first = visits.observe(0.0, [(0, 0, 10, 10)], here[None], [10])[0]
    there = here.copy()
    there[0] = 0.9  # 1.5 - 0.9 == 0.6 exactly
    assert float(np.linalg.norm(first.dlib() - there)) == CONTINUITY
    assert visits.observe(0.1, [(0, 0, 10, 10)], there[None], [10])[0].id == first.id


def test_embeddings_are_kept_as_float32_whatever_dtype_they_come_in() -> None:
    rng = np.random.default_rng(7)
    frames = [person_embedding(1) + rng.normal(scale=0.03, size=128) for _ in range(4)]
    others = [rng.normal(size=128) for _ in range(4)]
    aggregates = []
    for dtype in (np.float32, np.float64):
        visits = Visits()
        for t, (frame, other) in enumerate(zip(frames, others, strict=True)):
            visit = visits.observe(t / 10, [(0, 0, 50, 50)], frame.astype(dtype)[None], [50])[0]
            other_aggregate = visits.add(visit, "other", other.astype(dtype))
        assert visit.recent[-1].dlib.dtype == np.float32
        aggregates.append((visit.dlib(), other_aggregate))
    (dlib32, other32), (dlib64, other64) = aggregates
    assert np.array_equal(dlib32, dlib64) and np.array_equal(other32, other64)
