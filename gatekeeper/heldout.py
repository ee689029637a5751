"""Choosing a decision rule on some sources and reporting it on others. Pure numpy, no I/O.

A rule tuned on the photos it is then reported on flatters itself: last round's rule was fitted
and reported on one validation set (FRR 4.9 %) and rejected 18 % of staff on independent web
photos. Here every rule is **fitted on all sources but one and scored on the one left out**
(leave-one-source-out); the figure quoted is the held-out one, with a 95 % interval.

The parts:

- :class:`Corpus` — one row per photo: its identity, its *source* (an independent public
  collection; no person is in two sources), each encoder's embedding of its face, and the face's
  width and enrolment quality.
- :func:`build_pairs` — per source, every same-person pair, random different-person pairs, and
  the **hard impostors** a door meets: for each probe photo, the closest photo of another person
  of its gallery under each encoder (galleries of :data:`GALLERY_SIZE` people, as at a site's
  door). Random pairs alone make the false-accept rate look far smaller than it is.
- :class:`RuleFamily` and its fitted :class:`FittedRule` — a rule's shape with the parameters a
  fit chooses (a threshold, weights), fitted at a target false-accept rate on hard impostors.
- :func:`leave_one_source_out` — the held-out table: per rule and held-out source, FAR on hard
  and on random impostors, FRR and accuracy, each count with its Wilson interval, and the pooled
  held-out figures; :func:`select` picks the rule that wins on them.

Pairs that share a photo or a person are not independent, so the intervals (which treat pairs
as independent trials) are narrower than the truth; the spread over held-out sources shows the
rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from gatekeeper.decision import TINY_FACE_PX

#: People per gallery when hard impostors are mined: the nearest stranger among 25 enrolled
#: people (the size of a small site's door list, and of the independent check sets).
GALLERY_SIZE = 25
#: At most this many photos of one person take part (LFW has 530 of one man): all their pairs
#: are used, so one identity cannot dominate a source's same-person pairs.
MAX_PHOTOS_PER_IDENTITY = 8
#: Random different-person pairs drawn per photo of a source.
RANDOM_PAIRS_PER_PHOTO = 3
#: The false-accept rate on hard impostors that rules are compared at (the issue's target).
TARGET_FAR = 0.001
#: z for a two-sided 95 % interval.
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Corpus:
    """Measured photos: ``identity`` and ``source`` (N,) strings, ``embeddings`` per encoder
    name (``dlib``, ``facenet``...) as float32 (N, D), ``width`` (N,) face box width in pixels,
    ``low_quality`` (N,) below the enrolment bar."""

    identity: np.ndarray
    source: np.ndarray
    embeddings: dict[str, np.ndarray]
    width: np.ndarray
    low_quality: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.identity)
        for name, array in [
            ("source", self.source),
            ("width", self.width),
            ("low_quality", self.low_quality),
            *self.embeddings.items(),
        ]:
            if len(array) != n:
                raise ValueError(f"{name} has {len(array)} rows for {n} photos")

    @property
    def sources(self) -> list[str]:
        return sorted(set(self.source.tolist()))


#: The kinds of pairs: same person, a random stranger, the nearest stranger.
KINDS = ("genuine", "random", "hard")


@dataclass(frozen=True)
class Pairs:
    """Photo pairs ``(first[k], second[k])`` of a corpus: their ``kind`` (``genuine``,
    ``random`` or ``hard``) and ``source``; ``same`` is True for genuine pairs."""

    first: np.ndarray
    second: np.ndarray
    kind: np.ndarray
    source: np.ndarray

    @property
    def same(self) -> np.ndarray:
        return self.kind == "genuine"

    def __len__(self) -> int:
        return len(self.first)

    def subset(self, mask: np.ndarray) -> Pairs:
        return Pairs(self.first[mask], self.second[mask], self.kind[mask], self.source[mask])


def capped_members(corpus: Corpus, source: str, rng: np.random.Generator) -> np.ndarray:
    """The photos of ``source`` that take part: at most :data:`MAX_PHOTOS_PER_IDENTITY` per
    person (a random choice), only people with at least two photos, or one photo when the
    person is only an impostor (one photo cannot make a same-person pair)."""
    members = np.flatnonzero(corpus.source == source)
    keep = []
    for person in sorted(set(corpus.identity[members].tolist())):
        photos = members[corpus.identity[members] == person]
        if len(photos) > MAX_PHOTOS_PER_IDENTITY:
            photos = np.sort(rng.choice(photos, MAX_PHOTOS_PER_IDENTITY, replace=False))
        keep.append(photos)
    return np.concatenate(keep) if keep else members


def galleries(identities: Sequence[str], size: int, rng: np.random.Generator) -> list[list[str]]:
    """``identities`` shuffled and cut into galleries of ``size`` people (the last one takes
    the remainder when it would be smaller than half a gallery)."""
    people = sorted(set(identities))
    rng.shuffle(people)
    groups = [people[i : i + size] for i in range(0, len(people), size)]
    if len(groups) > 1 and len(groups[-1]) < size / 2:
        groups[-2].extend(groups.pop())
    return groups


def hardest_impostors(
    embeddings: Sequence[np.ndarray], identity: np.ndarray, photos: np.ndarray
) -> list[tuple[int, int]]:
    """For each photo of ``photos`` (indexes into the corpus), the closest photo of another
    person among ``photos``, under each encoder's ``embeddings`` (corpus-wide arrays): the
    impostor a door whose gallery holds these people meets. Pairs as sorted index tuples,
    without repeats."""
    found: set[tuple[int, int]] = set()
    same = identity[photos][:, None] == identity[photos][None, :]
    if same.all():
        return []
    for matrix in embeddings:
        vectors = matrix[photos].astype(np.float64)
        squared = (vectors**2).sum(1)
        distances = squared[:, None] + squared[None, :] - 2 * vectors @ vectors.T
        distances[same] = np.inf
        nearest = np.argmin(distances, axis=1)
        for probe, other in enumerate(nearest):
            a, b = int(photos[probe]), int(photos[other])
            found.add((min(a, b), max(a, b)))
    return sorted(found)


def build_pairs(
    corpus: Corpus,
    *,
    encoders: Sequence[str] | None = None,
    gallery_size: int = GALLERY_SIZE,
    seed: int = 20261207,
) -> Pairs:
    """Every source's genuine pairs, random impostors and hard impostors (see the module
    docstring); impostors never cross sources. ``encoders`` names the embeddings whose nearest
    strangers are mined (default: all of the corpus's). Deterministic for a ``seed``."""
    rng = np.random.default_rng(seed)
    names = list(corpus.embeddings) if encoders is None else list(encoders)
    matrices = [corpus.embeddings[name] for name in names]
    first, second, kinds, sources = [], [], [], []

    def add(pairs: list[tuple[int, int]], kind: str, source: str) -> None:
        first.extend(a for a, _ in pairs)
        second.extend(b for _, b in pairs)
        kinds.extend([kind] * len(pairs))
        sources.extend([source] * len(pairs))

    for source in corpus.sources:
        members = capped_members(corpus, source, rng)
        ident = corpus.identity
        genuine = [
            (int(a), int(b))
            for person in sorted(set(ident[members].tolist()))
            for k, a in enumerate(members[ident[members] == person])
            for b in members[ident[members] == person][k + 1 :]
        ]
        add(genuine, "genuine", source)
        different = [
            (int(members[i]), int(members[j]))
            for i, j in zip(*np.triu_indices(len(members), 1), strict=True)
            if ident[members[i]] != ident[members[j]]
        ]
        count = min(len(different), RANDOM_PAIRS_PER_PHOTO * len(members))
        if count:
            chosen = np.sort(rng.choice(len(different), count, replace=False))
            add([different[c] for c in chosen], "random", source)
        hard: set[tuple[int, int]] = set()
        for people in galleries(ident[members].tolist(), gallery_size, rng):
            photos = members[np.isin(ident[members], people)]
            hard.update(hardest_impostors(matrices, ident, photos))
        add(sorted(hard), "hard", source)
    return Pairs(
        np.asarray(first, dtype=np.int64),
        np.asarray(second, dtype=np.int64),
        np.asarray(kinds),
        np.asarray(sources),
    )


@dataclass(frozen=True)
class PairFeatures:
    """What a rule sees of each pair: each encoder's L2 distance (``distances[name]``, (M,)),
    the narrower face's width in pixels and whether either face is below the enrolment bar."""

    distances: dict[str, np.ndarray]
    width: np.ndarray
    low_quality: np.ndarray

    def __len__(self) -> int:
        return len(self.width)

    def subset(self, mask: np.ndarray) -> PairFeatures:
        return PairFeatures(
            {k: v[mask] for k, v in self.distances.items()},
            self.width[mask],
            self.low_quality[mask],
        )


def pair_features(corpus: Corpus, pairs: Pairs) -> PairFeatures:
    """Each encoder's distance between the two faces of every pair, and their quality."""
    a, b = pairs.first, pairs.second
    return PairFeatures(
        {
            name: np.linalg.norm(m[a].astype(np.float64) - m[b], axis=1)
            for name, m in corpus.embeddings.items()
        },
        np.minimum(corpus.width[a], corpus.width[b]).astype(np.float64),
        corpus.low_quality[a] | corpus.low_quality[b],
    )


# Rules.


@dataclass(frozen=True)
class FittedRule:
    """A rule with its parameters: ``score(features)`` (M,), a pair accepted when its score is
    at most ``cut``; ``params`` for the report. ``linear``, for a rule that is a weighted sum of
    distances plus an offset, gives ``((encoder, weight), ...)`` and the offset (the shape
    ``gatekeeper.decision.Tier`` ships); None for other shapes."""

    family: str
    score: Callable[[PairFeatures], np.ndarray] = field(repr=False)
    cut: float
    params: dict[str, float]
    linear: tuple[tuple[tuple[str, float], ...], float] | None = None
    #: Added to the score of a pair where either face is tiny (already in ``score``; for the
    #: shipped tier).
    tiny_face_margin: float = 0.0

    def accepts(self, features: PairFeatures) -> np.ndarray:
        return self.score(features) <= self.cut


@dataclass(frozen=True)
class RuleFamily:
    """A rule's shape. ``fit(features, same, hard, target_far)`` chooses its parameters on the
    training pairs (``same``: genuine pairs; ``hard``: the hard impostors whose FAR must stay at
    most ``target_far``) and returns the :class:`FittedRule`."""

    name: str
    description: str
    fit: Callable[[PairFeatures, np.ndarray, np.ndarray, float], FittedRule] = field(repr=False)
    #: For a rule that is a weighted sum of these encoders' distances (shippable as a
    #: ``gatekeeper.decision.Tier``), the encoders; None for other shapes.
    linear_encoders: tuple[str, ...] | None = None


def cut_at_far(impostor_scores: np.ndarray, target_far: float) -> float:
    """The largest cut accepting at most ``target_far`` of ``impostor_scores`` (accepted at
    ``score <= cut``): just below the (k+1)-th lowest impostor, k = ⌊target · n⌋."""
    ordered = np.sort(np.asarray(impostor_scores, dtype=np.float64))
    if len(ordered) == 0:
        raise ValueError("no impostor pairs to set a cut on")
    allowed = int(math.floor(target_far * len(ordered) + 1e-9))
    if allowed >= len(ordered):
        return float(ordered[-1])
    return float(np.nextafter(ordered[allowed], -np.inf))


def single_encoder(name: str) -> RuleFamily:
    """One encoder's distance alone, its threshold set at the target FAR."""

    def fit(features, same, hard, target_far):
        score = _distance_of(name)
        cut = cut_at_far(score(features)[hard], target_far)
        return FittedRule(name, score, cut, {"threshold": cut}, (((name, 1.0),), 0.0))

    return RuleFamily(name, f"{name}'s distance alone", fit, (name,))


def stricter_for_tiny_faces(family: RuleFamily) -> RuleFamily:
    """``family`` made stricter where either face is tiny (narrower than
    ``gatekeeper.decision.TINY_FACE_PX``: the templates that become hubs): a margin added to
    such a pair's score, fitted so that the training hard impostors with a tiny face, too, are
    accepted at most at the target rate (0 when they already are)."""

    def fit(features, same, hard, target_far):
        rule = family.fit(features, same, hard, target_far)
        low = features.width < TINY_FACE_PX
        margin = 0.0
        if np.any(hard & low):
            low_cut = cut_at_far(rule.score(features)[hard & low], target_far)
            # A hair more, so that rounding in score + margin never lets a tie back in.
            margin = max(0.0, (rule.cut - low_cut) * (1 + 1e-9) + 1e-12)

        def score(f: PairFeatures) -> np.ndarray:
            return rule.score(f) + np.where(f.width < TINY_FACE_PX, margin, 0.0)

        params = {**rule.params, "tiny_face_margin": margin}
        return FittedRule(rule.family, score, rule.cut, params, rule.linear, margin)

    return RuleFamily(
        f"{family.name}, stricter for tiny faces",
        f"{family.description}, with a margin for tiny faces",
        fit,
        family.linear_encoders,
    )


def fixed(name: str, description: str, score, cut: float, params: dict) -> RuleFamily:
    """A rule that is not fitted: its parameters are given (a shipped rule, as it ships)."""
    rule = FittedRule(name, score, cut, params)
    return RuleFamily(name, description, lambda *_: rule)


def both_agree(first: str, second: str, ratios: Sequence[float]) -> RuleFamily:
    """Both encoders must agree: ``max(d1, d2 / r)`` at most a threshold, the ratio ``r`` of
    the two thresholds chosen from ``ratios`` for the fewest false rejects at the target."""

    def fit(features, same, hard, target_far):
        best = None
        for ratio in ratios:
            score = _agreement(first, second, ratio)
            values = score(features)
            cut = cut_at_far(values[hard], target_far)
            frr = float(np.mean(values[same] > cut))
            if best is None or frr < best[0]:
                best = (frr, ratio, score, cut)
        _, ratio, score, cut = best
        return FittedRule(
            f"{first} and {second}",
            score,
            cut,
            {f"{first}_threshold": cut, f"{second}_threshold": cut * ratio},
        )

    return RuleFamily(
        f"{first} and {second}", f"{first} and {second} must both be under their thresholds", fit
    )


#: Face width in pixels at which the quality term of a fused rule is 0: the enrolment bar.
QUALITY_REFERENCE_PX = 80.0


def quality_term(width: np.ndarray) -> np.ndarray:
    """How much detail a pair's narrower face gives: log2 of its width over
    :data:`QUALITY_REFERENCE_PX`, clipped to [-2, 1] (20 px and less count as 20, 160 px and
    more as 160)."""
    return np.clip(np.log2(np.maximum(width, 1.0) / QUALITY_REFERENCE_PX), -2.0, 1.0)


def fused_inputs(features: PairFeatures, encoders: Sequence[str], quality: bool) -> np.ndarray:
    """The columns a fused rule weighs: each encoder's distance, then the quality term."""
    columns = [features.distances[name] for name in encoders]
    if quality:
        columns.append(quality_term(features.width))
    return np.column_stack(columns)


def logistic_weights(
    inputs: np.ndarray, labels: np.ndarray, weights: np.ndarray, *, l2: float = 1e-4
) -> np.ndarray:
    """Weighted L2-regularised logistic regression by Newton's method: coefficients of the
    columns of ``inputs`` then the intercept, for P(same | inputs). ``weights`` sum to 1."""
    design = np.column_stack([inputs, np.ones(len(inputs))])
    beta = np.zeros(design.shape[1])
    penalty = np.diag([*([l2] * inputs.shape[1]), 0.0])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -50, 50)))
        gradient = design.T @ (weights * (p - labels)) + penalty @ beta
        hessian = (design * (weights * p * (1 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def logistic_fusion(encoders: Sequence[str], *, quality: bool = True) -> RuleFamily:
    """A learned score fusion: logistic regression of same/different on the encoders'
    distances and (``quality``) the face-quality term, trained with the genuine pairs, the hard
    and the random impostors weighted 1/2, 1/3 and 1/6 of the whole, expressed in the first
    encoder's distance units (``d1 + w2 d2 + wq q + c``: its coefficient scaled to 1) and cut
    at the target FAR."""
    encoders = list(encoders)

    def fit(features, same, hard, target_far):
        inputs = fused_inputs(features, encoders, quality)
        random = ~same & ~hard
        weights = np.zeros(len(same))
        for mask, share in ((same, 1 / 2), (hard, 1 / 3), (random, 1 / 6)):
            if mask.any():
                weights[mask] = share / np.count_nonzero(mask)
        weights /= weights.sum()
        beta = logistic_weights(inputs, same.astype(np.float64), weights)
        scale = -beta[0]
        if scale <= 0:
            raise ValueError(f"{encoders[0]}'s distance does not separate the training pairs")
        coefficients, offset = beta[:-1] / scale, beta[-1] / scale
        names = [*encoders, *(["quality"] if quality else [])]

        def score(f: PairFeatures) -> np.ndarray:
            return -(fused_inputs(f, encoders, quality) @ coefficients) - offset

        cut = cut_at_far(score(features)[hard], target_far)
        params = {f"w_{n}": float(-c) for n, c in zip(names, coefficients, strict=True)}
        params.update(offset=float(-offset), cut=cut)
        linear = None
        if not quality:
            weights = tuple((n, float(-c)) for n, c in zip(names, coefficients, strict=True))
            linear = (weights, float(-offset))
        return FittedRule(f"fusion of {', '.join(names)}", score, cut, params, linear)

    label = " + ".join([*encoders, *(["quality"] if quality else [])])
    return RuleFamily(
        f"fusion({label})",
        f"logistic fusion of {label}, in {encoders[0]} distance units",
        fit,
        None if quality else tuple(encoders),
    )


def _distance_of(name: str) -> Callable[[PairFeatures], np.ndarray]:
    return lambda f: f.distances[name]


def _agreement(first: str, second: str, ratio: float) -> Callable[[PairFeatures], np.ndarray]:
    return lambda f: np.maximum(f.distances[first], f.distances[second] / ratio)


# Held-out scoring.


def wilson(count: int, total: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion ``count / total`` (``(0, 1)`` when
    ``total`` is 0)."""
    if total == 0:
        return (0.0, 1.0)
    p = count / total
    z2 = _Z95**2
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = _Z95 * math.sqrt(p * (1 - p) / total + z2 / (4 * total**2)) / (1 + z2 / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Rate:
    """``count`` of ``total`` pairs, the rate and its 95 % Wilson interval."""

    count: int
    total: int

    @property
    def value(self) -> float | None:
        return None if self.total == 0 else self.count / self.total

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.count, self.total)

    def __add__(self, other: Rate) -> Rate:
        return Rate(self.count + other.count, self.total + other.total)

    def as_dict(self) -> dict:
        low, high = self.interval
        return {"count": self.count, "total": self.total, "rate": self.value, "ci95": [low, high]}


@dataclass(frozen=True)
class Scores:
    """One rule on one set of pairs: false accepts among hard and among random impostors,
    false rejects among genuine pairs, and errors over genuine + random pairs (the accuracy a
    random-pair protocol such as LFW's reports)."""

    far_hard: Rate
    far_random: Rate
    frr: Rate

    @property
    def accuracy(self) -> float | None:
        total = self.frr.total + self.far_random.total
        if total == 0:
            return None
        return 1 - (self.frr.count + self.far_random.count) / total

    def __add__(self, other: Scores) -> Scores:
        return Scores(
            self.far_hard + other.far_hard,
            self.far_random + other.far_random,
            self.frr + other.frr,
        )

    def as_dict(self) -> dict:
        return {
            "far_hard": self.far_hard.as_dict(),
            "far_random": self.far_random.as_dict(),
            "frr": self.frr.as_dict(),
            "accuracy": self.accuracy,
        }


def score_rule(rule: FittedRule, features: PairFeatures, pairs: Pairs) -> Scores:
    """``rule``'s false accepts and rejects on ``pairs`` (their ``features``)."""
    accepted = rule.accepts(features)
    genuine, hard, random = (pairs.kind == k for k in ("genuine", "hard", "random"))
    return Scores(
        Rate(int(np.count_nonzero(accepted & hard)), int(np.count_nonzero(hard))),
        Rate(int(np.count_nonzero(accepted & random)), int(np.count_nonzero(random))),
        Rate(int(np.count_nonzero(~accepted & genuine)), int(np.count_nonzero(genuine))),
    )


@dataclass(frozen=True)
class HeldOut:
    """The held-out table: ``folds[rule][source]`` are the :class:`Scores` of ``rule`` fitted
    on every other source and scored on ``source``, with the fitted parameters in
    ``params[rule][source]``; :meth:`pooled` sums a rule's folds."""

    rules: tuple[str, ...]
    sources: tuple[str, ...]
    folds: dict[str, dict[str, Scores]]
    params: dict[str, dict[str, dict[str, float]]]
    target_far: float
    #: Per rule, every pair's held-out score minus its fold's cut (accepted at <= 0): where the
    #: pair lies from the operating point of the rule fitted without its source.
    margins: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def pooled(self, rule: str) -> Scores:
        scores = [self.folds[rule][s] for s in self.sources]
        total = scores[0]
        for other in scores[1:]:
            total = total + other
        return total

    @classmethod
    def from_dict(cls, document: dict) -> HeldOut:
        """The table :meth:`as_dict` wrote (without the per-pair margins)."""

        def rate(d: dict) -> Rate:
            return Rate(d["count"], d["total"])

        rules = document["rules"]
        folds = {
            name: {
                source: Scores(rate(f["far_hard"]), rate(f["far_random"]), rate(f["frr"]))
                for source, f in rule["folds"].items()
            }
            for name, rule in rules.items()
        }
        params = {
            name: {source: f["params"] for source, f in rule["folds"].items()}
            for name, rule in rules.items()
        }
        sources = tuple(document["sources"])
        return cls(tuple(rules), sources, folds, params, document["target_far"])

    def as_dict(self) -> dict:
        return {
            "target_far": self.target_far,
            "sources": list(self.sources),
            "rules": {
                rule: {
                    "pooled": self.pooled(rule).as_dict(),
                    "folds": {
                        source: {
                            **self.folds[rule][source].as_dict(),
                            "params": self.params[rule][source],
                        }
                        for source in self.sources
                    },
                }
                for rule in self.rules
            },
        }


def leave_one_source_out(
    features: PairFeatures,
    pairs: Pairs,
    families: Sequence[RuleFamily],
    *,
    target_far: float = TARGET_FAR,
) -> HeldOut:
    """Fit every rule family on all sources but one at ``target_far`` on the training hard
    impostors, score it on the one left out; for every source in turn."""
    sources = tuple(sorted(set(pairs.source.tolist())))
    if len(sources) < 2:
        raise ValueError("leave-one-source-out needs at least two sources")
    folds: dict[str, dict[str, Scores]] = {f.name: {} for f in families}
    params: dict[str, dict[str, dict[str, float]]] = {f.name: {} for f in families}
    margins = {f.name: np.zeros(len(pairs)) for f in families}
    for held in sources:
        test = pairs.source == held
        train_features, train_pairs = features.subset(~test), pairs.subset(~test)
        held_features = features.subset(test)
        for family in families:
            rule = family.fit(
                train_features, train_pairs.same, train_pairs.kind == "hard", target_far
            )
            folds[family.name][held] = score_rule(rule, held_features, pairs.subset(test))
            params[family.name][held] = dict(rule.params)
            margins[family.name][test] = rule.score(held_features) - rule.cut
    names = tuple(f.name for f in families)
    return HeldOut(names, sources, folds, params, target_far, margins)


def calibration(
    table: HeldOut, rule: str, pairs: Pairs, operating: float, steps: Sequence[float]
) -> list[dict[str, float]]:
    """``rule``'s pooled held-out error rates were the site threshold moved from
    ``operating`` (where each fold's cut lies) to each of ``steps``: at ``t`` a pair is
    accepted when its held-out margin is at most ``t - operating``. What ``gatekeeper
    threshold`` shows an operator."""
    margins = table.margins[rule]
    kinds = {k: pairs.kind == k for k in KINDS}
    points = []
    for t in steps:
        accepted = margins <= t - operating
        points.append(
            {
                "threshold": round(float(t), 4),
                "far_hard": float(np.mean(accepted[kinds["hard"]])),
                "far_random": float(np.mean(accepted[kinds["random"]])),
                "frr": float(np.mean(~accepted[kinds["genuine"]])),
            }
        )
    return points


def select(table: HeldOut, among: Sequence[str] | None = None) -> str:
    """The rule that wins on held-out sources, of ``among`` (default: every rule, in the
    table's order, simplest first): among those whose pooled held-out FAR on hard impostors is
    at most twice the target (a fitted cut lands near, not exactly at, its target on unseen
    sources), the one with the fewest pooled held-out false rejects — unless an earlier,
    simpler one's false-reject rate lies inside the winner's 95 % interval: the simpler rule
    then wins, since the data cannot tell them apart. Without any eligible rule, the one with
    the lowest pooled hard-impostor FAR."""
    names = list(table.rules if among is None else among)
    pooled = {rule: table.pooled(rule) for rule in names}
    eligible = [r for r in names if pooled[r].far_hard.value <= 2 * table.target_far]
    if not eligible:
        return min(names, key=lambda r: pooled[r].far_hard.value)
    best = min(eligible, key=lambda r: pooled[r].frr.value)
    high = pooled[best].frr.interval[1]
    return next(r for r in eligible if pooled[r].frr.value <= high)
