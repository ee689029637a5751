"""The held-out evaluation on small hand-made corpora: pairs (genuine, random, and each probe's
nearest stranger in its gallery), cuts at a false-accept rate, leave-one-source-out fitting,
Wilson intervals, the selection — and that the shipped rule is the one the table selects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gatekeeper import decision, heldout

REPO = Path(__file__).resolve().parents[1]


def _corpus(people: dict[str, list[tuple[float, float]]], source: str = "a") -> heldout.Corpus:
    """Photos as 2-d points ("embeddings"), one source; widths 100 px, good quality."""
    names = [name for name, points in people.items() for _ in points]
    points = np.array([p for ps in people.values() for p in ps], dtype=np.float32)
    n = len(names)
    return heldout.Corpus(
        np.array(names), np.array([source] * n), {"e": points}, np.full(n, 100.0),
        np.zeros(n, bool),
    )  # fmt: skip


def _merge(*corpora: heldout.Corpus) -> heldout.Corpus:
    return heldout.Corpus(
        np.concatenate([c.identity for c in corpora]),
        np.concatenate([c.source for c in corpora]),
        {"e": np.concatenate([c.embeddings["e"] for c in corpora])},
        np.concatenate([c.width for c in corpora]),
        np.concatenate([c.low_quality for c in corpora]),
    )


def test_the_nearest_stranger_of_each_probe_is_its_hard_impostor() -> None:
    corpus = _corpus({"ann": [(0, 0), (0, 1)], "bob": [(3, 0)], "cid": [(0, 2.5)]})
    photos = np.arange(4)
    pairs = heldout.hardest_impostors([corpus.embeddings["e"]], corpus.identity, photos)
    # ann@(0,0) -> bob (3) vs cid (2.5): cid; ann@(0,1) -> cid (1.5); bob -> ann@(0,0) (3);
    # cid -> ann@(0,1).
    assert pairs == [(0, 2), (0, 3), (1, 3)]


def test_pairs_stay_inside_their_source_and_their_gallery() -> None:
    rng = np.random.default_rng(1)
    people = {f"p{i}": [tuple(rng.normal(size=2) + 10 * i) for _ in range(3)] for i in range(60)}
    corpus = _merge(_corpus(people, "a"), _corpus(dict(list(people.items())[:30]), "b"))
    pairs = heldout.build_pairs(corpus, gallery_size=25)
    same_source = corpus.source[pairs.first] == corpus.source[pairs.second]
    assert same_source.all(), "impostors never cross sources"
    genuine = pairs.kind == "genuine"
    assert np.count_nonzero(genuine) == 3 * (60 + 30), "all three pairs of each person"
    assert (corpus.identity[pairs.first] == corpus.identity[pairs.second])[genuine].all()
    hard = pairs.kind == "hard"
    assert (corpus.identity[pairs.first] != corpus.identity[pairs.second])[hard].all()
    # 60 people in galleries of 25: the last, of 10, joins the one before (35); every photo's
    # nearest stranger is one of the few photos near it, inside its own gallery.
    assert np.count_nonzero(hard & (pairs.source == "a")) <= 3 * 60
    assert np.count_nonzero(pairs.kind == "random") == 3 * 3 * 60 + 3 * 3 * 30


def test_galleries_split_people_and_fold_a_small_remainder() -> None:
    groups = heldout.galleries([f"p{i}" for i in range(60)], 25, np.random.default_rng(0))
    assert sorted(len(g) for g in groups) == [25, 35]
    assert sorted(p for g in groups for p in g) == sorted(f"p{i}" for i in range(60))


def test_a_cut_accepts_at_most_the_target_share_of_impostors() -> None:
    impostors = np.arange(1, 2001, dtype=float)
    cut = heldout.cut_at_far(impostors, 0.001)
    assert np.count_nonzero(impostors <= cut) == 2
    assert heldout.cut_at_far(impostors[:500], 0.001) < 1.0, "fewer than 1/target: accept none"


@pytest.mark.parametrize(
    ("count", "total", "low", "high"),
    [(0, 100, 0.0, 0.0370), (5, 100, 0.0215, 0.1118), (50, 100, 0.4038, 0.5962)],
)
def test_wilson_intervals(count: int, total: int, low: float, high: float) -> None:
    interval = heldout.wilson(count, total)
    assert interval == pytest.approx((low, high), abs=1e-4)


def test_each_source_is_scored_by_a_rule_fitted_without_it() -> None:
    """Source b is source a at half the scale: fitted on a alone, the cut lets b's nearest
    strangers in, which the held-out figure shows (an in-sample one would hide it)."""
    rng = np.random.default_rng(2)
    people = {
        f"p{i}": [tuple(np.array([10.0 * i, 0.0]) + rng.normal(scale=0.5, size=2))
                  for _ in range(4)]
        for i in range(30)
    }  # fmt: skip
    half = {f"h{k}": [(x / 2, y / 2) for x, y in points] for k, points in people.items()}
    corpus = _merge(_corpus(people, "a"), _corpus(half, "b"))
    pairs = heldout.build_pairs(corpus)
    features = heldout.pair_features(corpus, pairs)
    table = heldout.leave_one_source_out(features, pairs, [heldout.single_encoder("e")])
    fitted_on_a = table.params["e"]["b"]["threshold"]
    fitted_on_b = table.params["e"]["a"]["threshold"]
    assert fitted_on_a == pytest.approx(2 * fitted_on_b, rel=1e-3)
    assert table.folds["e"]["b"].far_hard.value > 0.5, "held out, b's strangers get in"
    assert table.folds["e"]["a"].far_hard.value == 0.0
    pooled, folds = table.pooled("e"), table.folds["e"]
    assert pooled.far_hard.count == folds["a"].far_hard.count + folds["b"].far_hard.count
    accepted = (table.margins["e"] <= 0) & (pairs.source == "b") & (pairs.kind == "hard")
    assert np.count_nonzero(accepted) == folds["b"].far_hard.count


def _table(frr: dict[str, tuple[int, int]], far_hard: dict[str, tuple[int, int]]):
    rules = tuple(frr)
    scores = {
        r: {"s": heldout.Scores(heldout.Rate(*far_hard[r]), heldout.Rate(0, 100),
                                heldout.Rate(*frr[r]))}
        for r in rules
    }  # fmt: skip
    return heldout.HeldOut(rules, ("s",), scores, {r: {"s": {}} for r in rules}, 0.001)


def test_the_selection_prefers_the_simpler_rule_the_data_cannot_tell_apart() -> None:
    table = _table(
        {"simple": (30, 1000), "complex": (25, 1000), "leaky": (1, 1000)},
        {"simple": (1, 2000), "complex": (1, 2000), "leaky": (30, 2000)},
    )
    assert heldout.select(table) == "simple", "25/1000's interval holds 30/1000"
    clearer = _table({"simple": (60, 1000), "complex": (25, 1000)}, {"simple": (1, 2000),
                     "complex": (1, 2000)})  # fmt: skip
    assert heldout.select(clearer) == "complex"
    assert heldout.select(table, ["leaky"]) == "leaky", "nothing eligible: the lowest FAR"


def test_a_tiny_face_margin_brings_tiny_faces_impostors_to_the_target() -> None:
    """Tiny faces sit close to strangers: fitted on every pair, the cut lets their nearest
    strangers in; the margin fitted for them keeps them out at the target, and leaves the
    other pairs' scores alone."""
    rng = np.random.default_rng(3)
    good = {f"g{i}": [(10.0 * i, 0.0), (10.0 * i, 0.5)] for i in range(60)}
    tiny = {f"t{i}": [(1.0 * i, 500 + rng.uniform(0, 0.3)), (1.0 * i, 500.1)] for i in range(20)}
    corpus = _corpus({**good, **tiny})
    small = np.char.startswith(corpus.identity.astype(str), "t")
    width = np.where(small, decision.TINY_FACE_PX - 5, 100.0)
    corpus = heldout.Corpus(corpus.identity, corpus.source, corpus.embeddings, width, small)
    pairs = heldout.build_pairs(corpus)
    features = heldout.pair_features(corpus, pairs)
    hard = pairs.kind == "hard"
    target = 0.3
    plain = heldout.single_encoder("e").fit(features, pairs.same, hard, target)
    tiny_hard = hard & (features.width < decision.TINY_FACE_PX)
    assert np.mean(plain.score(features)[tiny_hard] <= plain.cut) > target
    rule = heldout.stricter_for_tiny_faces(heldout.single_encoder("e")).fit(
        features, pairs.same, hard, target
    )
    assert rule.tiny_face_margin > 0 and rule.params["tiny_face_margin"] > 0
    assert np.mean(rule.score(features)[tiny_hard] <= rule.cut) <= target
    others = features.width >= decision.TINY_FACE_PX
    assert (rule.score(features)[others] == plain.score(features)[others]).all()


def test_the_shipped_rule_is_the_one_the_held_out_table_selects() -> None:
    table = heldout.HeldOut.from_dict(
        json.loads((REPO / "benchmarks" / "heldout.json").read_text(encoding="utf-8"))
    )
    shipped = json.loads((REPO / "gatekeeper" / "rule.json").read_text(encoding="utf-8"))
    assert shipped["selected"] == heldout.select(table)
    assert shipped["tiers"][0]["family"] == shipped["selected"]
    first = decision.SHIPPED_TIERS[0]
    assert [list(w) for w in first.weights] == shipped["tiers"][0]["weights"]
    pooled = table.pooled(shipped["selected"])
    assert pooled.far_hard.value <= 2 * table.target_far
