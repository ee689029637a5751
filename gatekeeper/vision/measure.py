"""What the decision rule needs of one image's face, as the engine measured it: each encoder's
embedding and whether the face is below the enrolment bar (``evaluate`` and ``verify`` compare
two of them)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gatekeeper.decision import Evidence


@dataclass(frozen=True)
class FaceMeasure:
    """What the rule needs of one image's face: each encoder's embedding by model id
    (``float32 (128,)``; dlib's always, the others' where installed) and whether it is below
    the enrolment bar. ``evaluate`` and ``verify`` compare two of them."""

    embeddings: dict[str, np.ndarray] = field(repr=False)  # biometric data: never logged
    low_quality: bool = False
    #: The face's width in pixels.
    face_px: float | None = None

    def evidence(self, other: FaceMeasure) -> Evidence:
        """The L2 distances between this face and ``other`` under every encoder both have,
        and the narrower face's width."""
        return Evidence(
            {
                model: float(np.linalg.norm(vector - other.embeddings[model]))
                for model, vector in self.embeddings.items()
                if model in other.embeddings
            },
            None if None in (self.face_px, other.face_px) else min(self.face_px, other.face_px),
        )
