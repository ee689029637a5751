"""Is a detected face good enough evidence to open a door?

The encoder is reliable on roughly frontal faces of a reasonable size. A face a few dozen pixels
wide is upscaled more than 5× into the 150-pixel chip, and a face in profile puts both MTCNN eyes
on one side of the nose, so its chip is not a face chip at all; either can land within the
threshold of an enrolled person by chance. On the shared video clip, a 24-pixel face and a
profile view both came within 0.52–0.56 of an enrolled person (threshold 0.55).

The live decision therefore only counts faces that pass :func:`quality_issue`; the others are
shown but neither vote for a person nor count as unknown attempts.
"""

from __future__ import annotations

import numpy as np

from gatekeeper.vision.detect import Face

#: Smallest face width, in image pixels, that may vote for an identity.
MIN_FACE_PX = 28
#: Where the nose may sit between the eyes, as a fraction of the eye-to-eye vector (0 = left
#: eye, 1 = right eye). Frontal faces on the shared photos measure 0.26–0.86; profiles fall
#: below 0.1 or above 0.9.
NOSE_POSITION_RANGE = (0.15, 0.85)
#: Smallest eye-to-eye distance as a fraction of the face box width. Frontal faces measure
#: 0.38–0.58 on the shared photos; profiles 0.24–0.36.
MIN_EYE_SPAN = 0.36


def quality_issue(face: Face) -> str | None:
    """Why ``face`` is not good enough to decide on, or ``None`` when it is."""
    width = face.box[2]
    if width < MIN_FACE_PX:
        return f"too small ({width} px < {MIN_FACE_PX} px)"
    if face.fallback:
        return None
    left_eye, right_eye, nose = face.landmarks[0], face.landmarks[1], face.landmarks[2]
    eyes = right_eye - left_eye
    span = float(np.linalg.norm(eyes))
    if span == 0 or span / width < MIN_EYE_SPAN:
        return "turned away (eyes too close together)"
    position = float(np.dot(nose - left_eye, eyes)) / span**2
    low, high = NOSE_POSITION_RANGE
    if not low <= position <= high:
        return "turned away (nose outside the eyes)"
    return None
