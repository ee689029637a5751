"""The site's decision rule: which distances may open the door. Pure Python, no I/O.

The rule was chosen by measurement on sources nobody tuned it for (``benchmarks/
bench_heldout.py``, docs/DESIGN.md "The decision rule"): every candidate rule was fitted on all
validation sources but one and scored on the one left out, at a false-accept rate of 0.1 % on
each probe's nearest stranger. The one that won on held-out sources ships as
:data:`SHIPPED_TIERS`, read from ``gatekeeper/rule.json``, which that benchmark writes.

A rule is a list of **tiers**, each a weighted sum of some encoders' L2 distances plus an
offset: its *score*, on the scale of its first encoder's distance. A face is the person when the
first tier whose encoders have all measured it scores at most the site's threshold. Each tier
was fitted at the same target, and its offset puts that operating point at
:data:`DEFAULT_THRESHOLD`, so the threshold means the same false-accept rate whichever tier
decides; the later tiers serve where an encoder is not installed (weights not fetched) or a
person has no template of it yet (``gatekeeper reencode``).

:func:`validate_threshold` is the one check of a threshold that the command line, the console
and the config file share, so that a typo (``threshold = 50``) can never make every face a
match.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from importlib import resources

from gatekeeper.errors import UsageError

#: Model ids of the encoders (``vision/encoder.py``, ``vision/facenet.py``, ``vision/sface.py``).
DLIB_MODEL = "dlib_resnet_v1"
FACENET_MODEL = "facenet_keras_v1"
SFACE_MODEL = "sface_int8bq_v1"

#: The site's threshold by default: every tier's fitted operating point (see the module
#: docstring). Lower is stricter.
DEFAULT_THRESHOLD = 0.60
#: Thresholds a site may set, inclusive, on the rule's score scale. At their ends the held-out
#: error rates (``rule.json``'s calibration, shown by ``gatekeeper threshold``) are useless for
#: a door: about a quarter of genuine faces refused at 0.30, one nearest stranger in 13
#: accepted at 0.80.
THRESHOLD_RANGE = (0.30, 0.80)


def validate_threshold(value: object, *, what: str = "threshold") -> float:
    """``value`` as a float when it is a finite number inside :data:`THRESHOLD_RANGE`.

    Accepts ints, floats and numeric text; raises ``UsageError`` naming ``what`` and the range
    for anything else (booleans, NaN, infinities, text that is not a number, values outside
    the range).
    """
    return _in_range(value, THRESHOLD_RANGE, what, "(the decision rule's score)")


def _in_range(value: object, bounds: tuple[float, float], what: str, unit: str) -> float:
    """``value`` as a float when it is a finite number (int, float or numeric text) within the
    inclusive ``bounds``, else a ``UsageError`` naming ``what``, the range and its ``unit``."""
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UsageError(f"{what} must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise UsageError(f"{what} {value!r} is outside the sane range {low:g}–{high:g} {unit}")
    return number


#: A face narrower than this many pixels is *tiny*: dlib's 150-pixel chip is then more than
#: four times upscaled, mostly interpolation. The tutorial's crops hold 35-pixel faces, and two
#: of them of different people score like one person (hubs); the validation sources' web
#: photos are 48 px and wider at their 5th percentile.
TINY_FACE_PX = 40.0


@dataclass(frozen=True)
class Evidence:
    """What is known about one face against one enrolled person (or one pair of faces): each
    encoder's L2 distance by model id, between the face's embedding and the person's closest
    template of that encoder (an encoder that did not measure it is absent); ``face_px``: the
    narrower of the two faces' widths in pixels (the probe's and the person's widest
    template's), ``None`` when unknown."""

    distances: Mapping[str, float]
    face_px: float | None = None

    @property
    def tiny(self) -> bool:
        """Whether the narrower face is below :data:`TINY_FACE_PX`."""
        return self.face_px is not None and self.face_px < TINY_FACE_PX


@dataclass(frozen=True)
class Tier:
    """One fitted rule: ``score = Σ weight · distance + offset`` over its encoders, in the
    order given (the first, weight 1, sets the scale), plus ``tiny_face_margin`` where a face
    is tiny (fitted so that tiny faces, the hubs, let strangers in no more often than the
    others); ``name`` says which encoders."""

    name: str
    weights: tuple[tuple[str, float], ...]
    offset: float
    tiny_face_margin: float = 0.0

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(model for model, _ in self.weights)

    def applies(self, measured: Collection[str]) -> bool:
        """Whether every encoder of this tier is among ``measured``."""
        return all(model in measured for model in self.models)

    def score(self, evidence: Evidence) -> float:
        """The tier's score of ``evidence`` (which must hold each of its encoders)."""
        margin = self.tiny_face_margin if evidence.tiny else 0.0
        return self.offset + margin + sum(w * evidence.distances[m] for m, w in self.weights)


def parse_rule(text: str) -> tuple[tuple[Tier, ...], dict[str, float], dict]:
    """A rule file's (``rule.json``'s JSON ``text``) tiers, each encoder's own threshold, and
    the calibration."""
    document = json.loads(text)
    tiers = tuple(
        Tier(
            t["name"],
            tuple((m, float(w)) for m, w in t["weights"]),
            float(t["offset"]),
            float(t["tiny_face_margin"]),
        )
        for t in document["tiers"]
    )
    return tiers, document["single_thresholds"], document["calibration"]


def _shipped() -> tuple[tuple[Tier, ...], dict[str, float], dict]:
    """:func:`parse_rule` of the ``rule.json`` shipped in the package."""
    return parse_rule(resources.files("gatekeeper").joinpath("rule.json").read_text("utf-8"))


#: The shipped rule's tiers, best first; each encoder's L2 distance threshold were it alone,
#: fitted at the same target (for ``evaluate``'s single-encoder rows); and the first tier's
#: held-out calibration (error rates by threshold).
SHIPPED_TIERS, SINGLE_THRESHOLDS, CALIBRATION = _shipped()


@dataclass(frozen=True)
class DecisionRule:
    """The site's rule at ``threshold`` (see the module docstring): a face is the person when
    :meth:`score` is at most 1, i.e. the first applicable tier's score at most ``threshold``.

    Pure: :meth:`score` is what ``gatekeeper evaluate`` sweeps offline and what the console and
    ``identify`` apply live.
    """

    threshold: float
    tiers: tuple[Tier, ...] = field(default=SHIPPED_TIERS)

    @property
    def models(self) -> tuple[str, ...]:
        """Every encoder some tier uses, the first tier's first."""
        return tuple(dict.fromkeys(m for tier in self.tiers for m in tier.models))

    def tier_for(self, measured: Collection[str]) -> Tier | None:
        """The first tier whose encoders are all in ``measured`` (None: none applies)."""
        return next((t for t in self.tiers if t.applies(measured)), None)

    def score(self, evidence: Evidence) -> float:
        """The applicable tier's score over the threshold: at most 1 when accepted; ``inf``
        when no tier applies. Scaling the threshold is the rule's ROC curve."""
        tier = self.tier_for(evidence.distances)
        if tier is None:
            return math.inf
        return tier.score(evidence) / self.threshold

    def accepts(self, evidence: Evidence) -> bool:
        """True when the face is the person: :meth:`score` ≤ 1."""
        return self.score(evidence) <= 1.0


def calibrated_rates(threshold: float) -> dict[str, float] | None:
    """The shipped rule's held-out error rates at ``threshold`` (the nearest calibrated point):
    ``far_hard`` (nearest strangers accepted), ``far_random``, ``frr``; None off the curve."""
    points = CALIBRATION.get("points")
    if not points:
        return None
    point = min(points, key=lambda p: abs(p["threshold"] - threshold))
    return {k: point[k] for k in ("far_hard", "far_random", "frr")}


#: Liveness modes (``liveness`` in the config): ``passive`` scores every face that would be
#: granted or enrolled with MiniFASNet (``vision/liveness.py``); ``off`` trusts every face.
LIVENESS_MODES = ("passive", "off")
#: The shipped liveness threshold: a face is live when its live score (0–1, the original's summed
#: softmax) is at least this. Measured (docs/DESIGN.md, "Liveness"): on the 30 spoof frames of
#: ``shared/data/liveness`` with a face the highest score is 0.664 (masked faces on a screen) and
#: the next 0.553, so 0.75 lets none through with a margin of 0.086; it rejects 1 of the 27 live
#: frames (0.414, a dim webcam frame), 3 of the 27 faces of the shared ``faces/`` photos (0.45–0.58:
#: small or soft faces in web photos) and 2 of Lin's 135 faces in the clip (frames 0 and 3). At 0.70
#: the margin is 0.036 for one clip face fewer; at 0.90, 7 of Lin's faces and 6 of the photos are
#: rejected for no spoof more caught.
DEFAULT_LIVENESS_THRESHOLD = 0.75
#: Liveness thresholds a site may set. At 0.30, 4 of the 30 spoof frames pass (13 %); at 0.95,
#: 11 % of Lin's faces in the clip are rejected: outside, the check is useless or unusable.
LIVENESS_THRESHOLD_RANGE = (0.30, 0.95)


def validate_liveness_threshold(value: object, *, what: str = "liveness_threshold") -> float:
    """``value`` as a float when it is a finite number in :data:`LIVENESS_THRESHOLD_RANGE`;
    else a ``UsageError`` naming ``what`` and the range (booleans, NaN and text that is not a
    number included)."""
    return _in_range(value, LIVENESS_THRESHOLD_RANGE, what, "(live score, 0–1)")


def validate_liveness_mode(value: object, *, what: str = "liveness") -> str:
    """``value`` when it is one of :data:`LIVENESS_MODES`, else a ``UsageError``."""
    if value not in LIVENESS_MODES:
        raise UsageError(f"{what} must be one of {', '.join(LIVENESS_MODES)}, got {value!r}")
    return str(value)


def is_live(score: float, threshold: float) -> bool:
    """The liveness verdict: live when ``score`` (0–1) is at least ``threshold``; a NaN score
    is never live."""
    return not math.isnan(score) and score >= threshold
