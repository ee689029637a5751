"""The site's decision rule: which distances may open the door. Pure Python, no I/O.

Each encoder measures faces on its own scale, so each has its own range of sane thresholds;
:func:`validate_threshold` is the one check that the command line, the console and the config
file share, so that a typo (``threshold = 50``) can never make every face a match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gatekeeper.errors import UsageError

#: Model ids of the two encoders (``vision/encoder.py``, ``vision/facenet.py``).
DLIB_MODEL = "dlib_resnet_v1"
FACENET_MODEL = "facenet_keras_v1"

#: Thresholds a site may set, per encoder, as inclusive (low, high) L2 distances. At their ends
#: the measured error rates are useless for a door (validation set / shared photos): dlib at 0.30
#: rejects 84 % / 78 % of genuine pairs and at 0.80 accepts 32 % / 47 % of strangers; FaceNet
#: (distances between unit vectors, 0 to 2) at 0.50 rejects 73 % / 47 %, at 1.40 accepts
#: 53 % / 59 %. See docs/DESIGN.md, "The decision rule".
THRESHOLD_RANGES: dict[str, tuple[float, float]] = {
    DLIB_MODEL: (0.30, 0.80),
    FACENET_MODEL: (0.50, 1.40),
}


def validate_threshold(
    value: object, *, model_id: str = DLIB_MODEL, what: str = "threshold"
) -> float:
    """``value`` as a float when it is a finite number inside ``model_id``'s sane range.

    Accepts ints, floats and numeric text; raises ``UsageError`` naming ``what`` and the range
    for anything else (booleans, NaN, infinities, text that is not a number, values outside
    :data:`THRESHOLD_RANGES`).
    """
    return _in_range(value, THRESHOLD_RANGES[model_id], what, f"for {model_id} (L2 distance)")


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


#: The shipped operating point (docs/DESIGN.md, "The decision rule", measured with ``gatekeeper
#: evaluate`` on the validation set of ``benchmarks/validation`` and on the shared photos):
#: a face is the person when dlib's distance is at most the threshold (``config.py``: 0.60)
#: *and* FaceNet's at most the FaceNet threshold (1.00).
#: A low-quality template (a face below the enrolment bar) asks FaceNet to be this much surer.
LOW_QUALITY_FACENET_MARGIN = 0.10
#: Without FaceNet's opinion (not installed), dlib alone must be this much closer than the
#: threshold, or :data:`LOW_QUALITY_DLIB_MARGIN` closer for a low-quality template.
DLIB_ALONE_MARGIN = 0.05
LOW_QUALITY_DLIB_MARGIN = 0.12


@dataclass(frozen=True)
class Evidence:
    """What is known about one face against one enrolled person (or one pair of faces).

    ``dlib``: L2 distance between dlib embeddings; ``facenet``: L2 distance between FaceNet's
    unit embeddings, ``None`` when not measured (FaceNet unavailable); ``low_quality``: the
    template (for a pair: either face) is below the enrolment bar.
    """

    dlib: float
    facenet: float | None = None
    low_quality: bool = False


@dataclass(frozen=True)
class DecisionRule:
    """The site's rule: both networks must agree.

    A face is the person when dlib's distance is at most ``threshold`` (the number operators
    set and see) and FaceNet's distance is at most ``facenet_threshold`` — at most
    ``facenet_threshold − LOW_QUALITY_FACENET_MARGIN`` for a low-quality template, whose people
    dlib alone cannot tell from strangers (the tutorial's 35-pixel crops). Without FaceNet's
    opinion, dlib's distance must be :data:`DLIB_ALONE_MARGIN` (low-quality template:
    :data:`LOW_QUALITY_DLIB_MARGIN`) under the threshold.

    Pure: :meth:`score` is what ``gatekeeper evaluate`` sweeps offline and what the console and
    ``identify`` apply live (a face is accepted when its score is at most 1).
    """

    threshold: float
    facenet_threshold: float

    def needs_facenet(self, dlib_distance: float) -> bool:
        """Whether FaceNet's opinion is wanted: only dlib's candidates can be accepted."""
        return dlib_distance <= self.threshold

    def score(self, evidence: Evidence) -> float:
        """``max(dlib / dlib bound, facenet / facenet bound)``: at most 1 when accepted.
        Scaling both bounds together is the rule's ROC curve."""
        if evidence.facenet is None:
            margin = LOW_QUALITY_DLIB_MARGIN if evidence.low_quality else DLIB_ALONE_MARGIN
            return evidence.dlib / (self.threshold - margin)
        bound = self.facenet_threshold - (
            LOW_QUALITY_FACENET_MARGIN if evidence.low_quality else 0.0
        )
        return max(evidence.dlib / self.threshold, evidence.facenet / bound)

    def accepts(self, evidence: Evidence) -> bool:
        """True when the face is the person: :meth:`score` ≤ 1."""
        return self.score(evidence) <= 1.0


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
