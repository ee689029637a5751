"""The site's decision rule: which distances may open the door. Pure Python, no I/O.

Each encoder measures faces on its own scale, so each has its own range of sane thresholds;
:func:`validate_threshold` is the one check that the command line, the console and the config
file share, so that a typo (``threshold = 50``) can never make every face a match.
"""

from __future__ import annotations

import math

from gatekeeper.errors import UsageError

#: Model ids of the two encoders (``vision/encoder.py``, ``vision/facenet.py``).
DLIB_MODEL = "dlib_resnet_v1"
FACENET_MODEL = "facenet_keras_v1"

#: Thresholds a site may set, per encoder, as inclusive (low, high) L2 distances. Outside them
#: the measured error rates are useless for a door: for dlib's network, at 0.30 most genuine
#: pairs of ordinary photos are rejected, and at 0.80 strangers pass in numbers (README,
#: "Choosing the threshold"). FaceNet's distances are between unit vectors (0 to 2).
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
    low, high = THRESHOLD_RANGES[model_id]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UsageError(f"{what} must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise UsageError(
            f"{what} {value!r} is outside the sane range {low:g}–{high:g} for {model_id} "
            "(L2 distance)"
        )
    return number
