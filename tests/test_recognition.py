"""Gallery matching against a brute-force reference, and the access-decision rules."""

import math

import numpy as np
import pytest

from gatekeeper.errors import GatekeeperError
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


def random_gallery(rng, people=40, per_person=(1, 6), dim=128):
    """Templates of ``people`` persons, 1-5 each, shuffled so a person's rows are scattered."""
    counts = rng.integers(*per_person, size=people)
    ids = np.repeat(np.arange(people), counts)
    rng.shuffle(ids)
    centres = rng.normal(0, 0.12, size=(people, dim)).astype(np.float32)
    embeddings = centres[ids] + rng.normal(0, 0.03, size=(len(ids), dim)).astype(np.float32)
    names = [f"person{i}" for i in ids]
    return names, ids, embeddings.astype(np.float32), centres


def brute_force(names, ids, embeddings, query):
    """Per person, the minimum distance over their templates, by plain Python loops."""
    best_by_person = {}
    for name, pid, template in zip(names, ids, embeddings, strict=True):
        d = float(np.sqrt(np.sum((template.astype(np.float64) - query) ** 2)))
        if pid not in best_by_person or d < best_by_person[pid][1]:
            best_by_person[pid] = (name, d)
    ranked = sorted(best_by_person.items(), key=lambda item: item[1][1])
    return ranked[0], (ranked[1] if len(ranked) > 1 else None)


def test_batch_matching_agrees_with_brute_force_reference():
    rng = np.random.default_rng(7)
    names, ids, embeddings, centres = random_gallery(rng)
    gallery = Gallery(names, embeddings, model_id=MODEL, person_ids=ids.tolist())
    queries = np.concatenate(
        [
            centres[:10] + rng.normal(0, 0.03, size=(10, 128)),  # near an enrolled person
            rng.normal(0, 0.12, size=(10, 128)),  # nobody in particular
        ]
    ).astype(np.float32)

    matches = gallery.match(queries, model_id=MODEL)

    assert len(matches) == len(queries)
    for query, match in zip(queries, matches, strict=True):
        (best_id, (best_name, best_d)), runner = brute_force(names, ids, embeddings, query)
        assert (match.person_id, match.name) == (best_id, best_name)
        assert match.distance == pytest.approx(best_d, abs=1e-5)
        runner_id, (runner_name, runner_d) = runner
        assert (match.runner_up_person_id, match.runner_up_name) == (runner_id, runner_name)
        assert match.runner_up_distance == pytest.approx(runner_d, abs=1e-5)
        assert match.margin == pytest.approx(runner_d - best_d, abs=1e-5)
        assert match.margin >= 0


def test_single_query_returns_one_match_equal_to_its_batch_row():
    rng = np.random.default_rng(1)
    names, ids, embeddings, centres = random_gallery(rng, people=5)
    gallery = Gallery(names, embeddings, model_id=MODEL)

    single = gallery.match(centres[2], model_id=MODEL)
    batch = gallery.match(centres[2:3], model_id=MODEL)

    assert isinstance(single, Match)
    assert batch == [single]
    assert single.name == "person2"
    assert single.person_id is None  # no person ids given: persons are told apart by name


def test_runner_up_is_another_person_not_the_best_persons_second_template():
    # Bob has two templates right next to the query; Carol is further away.
    embeddings = np.zeros((3, 128), dtype=np.float32)
    embeddings[0, 0] = 0.1  # bob, 0.1 away
    embeddings[1, 0] = 0.2  # bob again, 0.2 away
    embeddings[2, 0] = 0.5  # carol, 0.5 away
    gallery = Gallery(["bob", "bob", "carol"], embeddings, model_id=MODEL)

    match = gallery.match(np.zeros(128, dtype=np.float32), model_id=MODEL)

    assert match.name == "bob"
    assert match.distance == pytest.approx(0.1)
    assert match.runner_up_name == "carol"
    assert match.runner_up_distance == pytest.approx(0.5)
    assert match.margin == pytest.approx(0.4)


def test_person_ids_tell_apart_two_people_with_the_same_name():
    embeddings = np.zeros((2, 128), dtype=np.float32)
    embeddings[0, 0], embeddings[1, 0] = 0.1, 0.3
    gallery = Gallery(["sam", "sam"], embeddings, model_id=MODEL, person_ids=[11, 12])

    match = gallery.match(np.zeros(128), model_id=MODEL)

    assert (match.name, match.person_id) == ("sam", 11)
    assert (match.runner_up_name, match.runner_up_person_id) == ("sam", 12)
    assert match.runner_up_distance == pytest.approx(0.3)
    assert gallery.person_count == 2


def test_single_person_gallery_has_no_runner_up():
    embeddings = np.full((3, 128), 0.01, dtype=np.float32)
    gallery = Gallery(["ann"] * 3, embeddings, model_id=MODEL)

    match = gallery.match(np.zeros(128), model_id=MODEL)

    assert match.name == "ann"
    assert match.runner_up_name is None
    assert math.isinf(match.runner_up_distance)
    assert math.isinf(match.margin)


def test_threshold_is_inclusive():
    embeddings = np.zeros((1, 128), dtype=np.float32)
    embeddings[0, 0] = 0.5  # exactly representable: the distance is exactly 0.5
    gallery = Gallery(["ann"], embeddings, model_id=MODEL)

    match = gallery.match(np.zeros(128), model_id=MODEL)

    assert match.distance == 0.5
    assert match.is_known(0.5) and match.decide(0.5) == "ann"
    assert not match.is_known(0.4999) and match.decide(0.4999) is None


def test_embeddings_of_another_model_are_refused():
    gallery = Gallery(["ann"], np.zeros((1, 128)), model_id=MODEL)

    with pytest.raises(ModelMismatchError, match="facenet_v2.*dlib_resnet_v1"):
        gallery.match(np.zeros(128), model_id="facenet_v2")
    assert issubclass(ModelMismatchError, GatekeeperError)


def test_empty_gallery_knows_nobody():
    gallery = Gallery.empty(MODEL)

    single = gallery.match(np.zeros(128), model_id=MODEL)
    batch = gallery.match(np.zeros((3, 128)), model_id=MODEL)

    assert len(gallery) == 0 and gallery.person_count == 0
    assert single.name is None and math.isinf(single.distance)
    assert not single.is_known(10.0)
    assert len(batch) == 3 and all(m.name is None for m in batch)


def test_large_batches_are_matched_in_chunks_with_the_same_result(monkeypatch):
    rng = np.random.default_rng(3)
    names, ids, embeddings, _ = random_gallery(rng, people=20)
    gallery = Gallery(names, embeddings, model_id=MODEL)
    queries = rng.normal(0, 0.12, size=(25, 128)).astype(np.float32)
    whole = gallery.match(queries, model_id=MODEL)

    monkeypatch.setattr("gatekeeper.recognition._MAX_DISTANCE_ELEMENTS", len(gallery) * 4)

    assert gallery.match(queries, model_id=MODEL) == whole


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (np.zeros(64), "shape"),
        (np.zeros((2, 3, 128)), "shape"),
        (np.full(128, np.nan), "NaN"),
    ],
)
def test_malformed_queries_are_rejected(query, message):
    gallery = Gallery(["ann"], np.zeros((1, 128)), model_id=MODEL)
    with pytest.raises(ValueError, match=message):
        gallery.match(query, model_id=MODEL)


def test_gallery_rejects_inconsistent_inputs():
    with pytest.raises(ValueError, match="2 names for 1 embeddings"):
        Gallery(["a", "b"], np.zeros((1, 128)), model_id=MODEL)
    with pytest.raises(ValueError, match="person ids"):
        Gallery(["a"], np.zeros((1, 128)), model_id=MODEL, person_ids=[1, 2])
    with pytest.raises(ValueError, match="2-d"):
        Gallery(["a"], np.zeros(128), model_id=MODEL)


def test_gallery_is_a_copy_unaffected_by_later_changes_to_the_input():
    embeddings = np.zeros((1, 128), dtype=np.float32)
    gallery = Gallery(["ann"], embeddings, model_id=MODEL)
    embeddings[0, 0] = 9.0

    assert gallery.match(np.zeros(128), model_id=MODEL).distance == 0.0


# --- DecisionPolicy ---------------------------------------------------------------------------


def seen(name, distance=0.4, box=BOX):
    return FaceObservation(name, distance, box)


def run(policy, frames, start=0.0, step=0.2):
    """Feed ``frames`` (lists of observations) at ``step`` s apart; return all decisions."""
    decisions = []
    for i, faces in enumerate(frames):
        decisions += policy.update(start + i * step, faces)
    return decisions


def test_three_votes_out_of_five_grant_once():
    policy = DecisionPolicy()
    decisions = run(policy, [[seen("ann", 0.30)], [seen("ann", 0.50)], [seen("ann", 0.40)]])

    assert decisions == [Decision("granted", "ann", 0.40, BOX, pytest.approx(0.4))]


def test_a_spoof_is_its_own_rate_limited_decision_and_consumes_the_votes():
    photo = FaceObservation("ann", 0.35, BOX, spoof=True)
    policy = DecisionPolicy(interval_s=10.0)
    decisions = run(policy, [[seen("ann", 0.30)], [seen("ann", 0.50)], [photo]])
    assert decisions == [Decision("spoof", "ann", 0.35, BOX, pytest.approx(0.4))]  # median
    assert not policy.could_decide("ann", 0.6), "the spoof took Ann's votes with it"
    again = run(policy, [[seen("ann")], [seen("ann")], [photo]], start=0.6)
    assert again == [], "one spoof decision per interval"
    later = run(policy, [[seen("ann")], [seen("ann")], [seen("ann")]], start=1.2)
    assert [(d.kind, d.name) for d in later] == [("granted", "ann")]


def test_one_lucky_frame_never_grants():
    policy = DecisionPolicy()
    frames = [[seen("ann")], [], [seen(None)], [], [], [seen("ann")], [], [], [], []]
    assert run(policy, frames) == []


def test_votes_must_fall_within_the_window_of_the_last_frames():
    # ann in every fourth frame: never three votes within five consecutive frames
    every_fourth = [[seen("ann")] if i % 4 == 0 else [] for i in range(20)]
    assert run(DecisionPolicy(votes_required=3, votes_window=5), every_fourth) == []
    # ann in every other frame: frames 0, 2 and 4 are three votes within five frames
    every_other = [[seen("ann")] if i % 2 == 0 else [] for i in range(20)]
    decisions = run(DecisionPolicy(votes_required=3, votes_window=5), every_other)
    assert [d.time for d in decisions] == [pytest.approx(0.8)]


@pytest.mark.parametrize("window", [3, 5, 8])
def test_the_window_is_exactly_n_frames_long(window):
    # votes in the first and last frame of N + 1 frames: never 2 votes within N frames
    spread = [[seen("ann")]] + [[]] * (window - 1) + [[seen("ann")]]
    assert run(DecisionPolicy(votes_required=2, votes_window=window), spread) == []
    strangers = [[seen(None)]] + [[]] * (window - 1) + [[seen(None)]]
    assert run(DecisionPolicy(votes_required=2, votes_window=window), strangers) == []
    # the same two votes N frames apart, the first and the last of a window: a grant
    within = [[seen("ann")]] + [[]] * (window - 2) + [[seen("ann")]]
    decisions = run(DecisionPolicy(votes_required=2, votes_window=window), within)
    assert [d.time for d in decisions] == [pytest.approx(0.2 * (window - 1))]


def test_granted_once_per_interval_while_present_and_again_after():
    policy = DecisionPolicy(interval_s=10.0)
    frames = [[seen("ann")]] * 130  # 26 s in front of the camera at 5 processed frames/s

    decisions = run(policy, frames)

    assert [d.kind for d in decisions] == ["granted"] * 3
    assert [d.time for d in decisions] == pytest.approx([0.4, 10.4, 20.4])


def test_two_people_are_decided_independently():
    policy = DecisionPolicy()
    frames = [[seen("ann"), seen("bob", box=(200, 20, 60, 60))]] * 3

    decisions = run(policy, frames)

    assert sorted((d.kind, d.name) for d in decisions) == [("granted", "ann"), ("granted", "bob")]
    assert next(d for d in decisions if d.name == "bob").box == (200, 20, 60, 60)


def test_same_name_twice_in_a_frame_counts_as_one_vote_the_closest():
    policy = DecisionPolicy()
    double = [seen("ann", 0.5), seen("ann", 0.2, box=(1, 2, 3, 4))]

    assert run(policy, [double, double]) == []
    decisions = policy.update(0.4, double)
    assert [(d.distance, d.box) for d in decisions] == [(0.2, (1, 2, 3, 4))]


def test_inactive_person_is_denied_with_a_set_or_a_callable():
    for is_active in ({"bob"}, lambda name: name == "bob"):
        policy = DecisionPolicy(is_active=is_active)
        decisions = run(policy, [[seen("ann"), seen("bob")]] * 3)
        assert sorted((d.kind, d.name) for d in decisions) == [
            ("denied", "ann"),
            ("granted", "bob"),
        ]


def test_denied_is_rate_limited_like_granted():
    policy = DecisionPolicy(is_active=set())
    decisions = run(policy, [[seen("ann")]] * 60)  # 12 s
    assert [(d.kind, d.time) for d in decisions] == [
        ("denied", pytest.approx(0.4)),
        ("denied", pytest.approx(10.4)),
    ]


def test_unknown_face_for_three_of_five_frames_is_one_attempt_rate_limited():
    policy = DecisionPolicy(interval_s=10.0)
    stranger = seen(None, 0.9)
    decisions = run(policy, [[stranger]] * 75)  # 15 s

    assert [(d.kind, d.name, d.time) for d in decisions] == [
        ("unknown", None, pytest.approx(0.4)),
        ("unknown", None, pytest.approx(10.4)),
    ]
    assert decisions[0].distance == 0.9


def test_unknown_decision_reports_the_largest_unknown_face():
    policy = DecisionPolicy()
    small, large = seen(None, 0.7, (0, 0, 20, 20)), seen(None, 0.8, (50, 50, 90, 90))

    decisions = run(policy, [[small, large]] * 3)

    assert [(d.box, d.distance) for d in decisions] == [((50, 50, 90, 90), 0.8)]


def test_known_and_unknown_faces_in_the_same_frames():
    policy = DecisionPolicy()
    decisions = run(policy, [[seen("ann"), seen(None, 0.9)]] * 3)
    assert sorted(d.kind for d in decisions) == ["granted", "unknown"]


def test_from_match_applies_the_threshold():
    match = Match("ann", 1, 0.55, "bob", 2, 0.8)
    assert FaceObservation.from_match(match, 0.6, BOX) == FaceObservation("ann", 0.55, BOX)
    assert FaceObservation.from_match(match, 0.5, BOX) == FaceObservation(None, 0.55, BOX)


def test_policy_depends_on_the_frames_and_their_times_alone():
    # ann in the odd frames at 0.31, 0.33, 0.35..., a stranger in the even ones, for 8 s
    frames = [[seen("ann", 0.3 + 0.01 * i)] if i % 2 else [seen(None)] for i in range(40)]
    expected = [
        Decision("unknown", None, 0.4, BOX, pytest.approx(0.8)),  # frames 0, 2, 4
        Decision("granted", "ann", pytest.approx(0.33), BOX, pytest.approx(1.0)),  # 1, 3, 5
    ]
    assert run(DecisionPolicy(), frames) == expected
    # the same frames an hour later: the same decisions, an hour later
    later = run(DecisionPolicy(), frames, start=3600.0)
    assert [(d.kind, d.name, d.distance) for d in later] == [
        (d.kind, d.name, d.distance) for d in expected
    ]
    assert [d.time for d in later] == pytest.approx([3600.8, 3601.0])


def test_policy_rejects_bad_settings_and_time_going_backwards():
    with pytest.raises(ValueError, match="votes_required"):
        DecisionPolicy(votes_required=6, votes_window=5)
    with pytest.raises(ValueError, match="interval"):
        DecisionPolicy(interval_s=-1)
    policy = DecisionPolicy()
    policy.update(5.0, [])
    with pytest.raises(ValueError, match="backwards"):
        policy.update(4.0, [])


def test_could_decide_says_when_the_next_vote_would_decide() -> None:
    policy = DecisionPolicy(votes_required=3, votes_window=5, interval_s=10.0)
    box = (0, 0, 60, 60)
    ada = [FaceObservation("ada", 0.3, box)]
    # Votes at t = 0 and 1, none at 2 and 3: the next vote completes 3 of the last 5.
    for t, faces in enumerate([ada, ada, [], []]):
        assert not policy.could_decide("ada", t) or t >= 2
        assert policy.update(t, faces) == []
    assert policy.could_decide("ada", 4)
    assert not policy.could_decide("bob", 4)
    # One more empty frame pushes the first vote out of the window.
    assert policy.update(4, []) == []
    assert not policy.could_decide("ada", 5)
    assert policy.update(5, ada) == []
    assert not policy.could_decide("ada", 6)  # only t = 5 among the newest four frames
    assert policy.update(6, ada) == []
    assert policy.could_decide("ada", 7)
    (decision,) = policy.update(7, ada)
    assert decision.kind == "granted"
    # Within the recognition interval nothing decides, whatever the votes.
    assert not policy.could_decide("ada", 8)
    assert policy.could_decide("ada", 17.5)
