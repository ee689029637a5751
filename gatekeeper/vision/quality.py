"""Is a detected face good enough evidence to open a door?

The encoder is reliable on roughly frontal faces of a reasonable size. A face a few dozen pixels
wide is upscaled more than 5× into the 150-pixel chip, and a face in profile puts both eyes
on one side of the nose, so its chip is not a face chip at all; either can land within the
threshold of an enrolled person by chance. On the shared video clip, a 24-pixel face and a
profile view both came within 0.52–0.56 of an enrolled person (threshold 0.55).

The live decision therefore only counts faces that pass :func:`quality_issue`; the others are
shown but neither vote for a person nor count as unknown attempts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
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


#: Enrolment bar: the narrowest face, in image pixels, accepted as a template. Below it the
#: 150-pixel chip is mostly interpolation: the tutorial's 35-pixel crops became "hubs" that
#: strangers in the shared clip matched at 0.48–0.55 (docs/DESIGN.md, "Templates that cannot
#: be hubs").
ENROL_MIN_FACE_PX = 80
#: ... the least sharpness: variance of the Laplacian of the grey 150×150 chip. It grows with the
#: face's size, so the bar only catches heavy blur: LFW's 250×250 web photos measure 13–160, the
#: shared photos 54–2,240, the tutorial's 35-pixel crops 14–95.
ENROL_MIN_SHARPNESS = 12.0
#: ... the most the nose may sit sideways off the eyes' midpoint, in half eye spans (0 =
#: frontal, 1 = under an eye): frontal photos of the shared and validation sets measure 0–0.59.
ENROL_MAX_POSE = 0.6
#: ... and the least detector confidence (a whole-image fallback has none: always low quality).
#: YuNet scores the largest face of every shared and validation photo 0.885–0.947 (MTCNN, before
#: it, 0.94–1.00 against a bar of 0.92): 0.85 keeps them all and refuses doubtful detections.
ENROL_MIN_SCORE = 0.85


@dataclass(frozen=True)
class FaceQuality:
    """How much detail a face gives, measured once at enrolment and stored with its template.

    ``width_px``: face box width in image pixels; ``sharpness``: variance of the Laplacian of
    the grey aligned chip; ``pose``: nose offset from the eyes' midpoint, in half eye spans
    (0 frontal); ``detector_score``: the detector's confidence (0 for a whole-image fallback).
    ``issue`` is why the face is below the enrolment bar, ``None`` when it is a good template.
    """

    width_px: int
    sharpness: float
    pose: float
    detector_score: float
    issue: str | None

    @property
    def low(self) -> bool:
        """True when the face is below the enrolment bar (a low-quality template)."""
        return self.issue is not None

    def as_record(self) -> dict[str, float | int | bool]:
        """The stored columns (see ``Store.add_encoding``)."""
        return {
            "face_px": self.width_px,
            "sharpness": self.sharpness,
            "pose": self.pose,
            "detector_score": self.detector_score,
            "low_quality": self.low,
        }


def measure_quality(face: Face, chip: np.ndarray) -> FaceQuality:
    """Score an enrolment face (``chip``: its aligned uint8 RGB chip) against the bar."""
    grey = cv2.cvtColor(np.ascontiguousarray(chip), cv2.COLOR_RGB2GRAY)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    left_eye, right_eye, nose = face.landmarks[0], face.landmarks[1], face.landmarks[2]
    half_span = float(np.linalg.norm(right_eye - left_eye)) / 2
    # The nose sits below the eyes' midpoint on a frontal face: only its sideways offset counts.
    pose = math.inf
    if half_span > 0:
        axis = (right_eye - left_eye) / (2 * half_span)
        pose = abs(float(np.dot(nose - (left_eye + right_eye) / 2, axis))) / half_span
    width = int(face.box[2])
    score = 0.0 if face.fallback else float(face.score)
    issue = None
    if width < ENROL_MIN_FACE_PX:
        issue = f"face is {width} px wide; at least {ENROL_MIN_FACE_PX} px needed for enrolment"
    elif face.fallback or score < ENROL_MIN_SCORE:
        issue = (
            "no face detected: the whole image was taken as the face"
            if face.fallback
            else f"face detector confidence {score:.2f} is below {ENROL_MIN_SCORE:g}"
        )
    elif pose > ENROL_MAX_POSE:
        issue = f"face is turned away (pose {pose:.2f} > {ENROL_MAX_POSE:g})"
    elif sharpness < ENROL_MIN_SHARPNESS:
        issue = f"face is blurred (sharpness {sharpness:.0f} < {ENROL_MIN_SHARPNESS:g})"
    return FaceQuality(width, sharpness, pose, score, issue)
