"""A visit: one person's stay in front of the camera, followed from frame to frame.

At a door a person stands in view for one to three seconds, 10 to 40 processed frames. Judged
frame by frame, each decision rests on one frame's embedding: a blurred, turned or small frame
moves it by as much as the gap between two people (on the shared clip, Lin's single frames sit
0.37–0.60 from his template with dlib, 0.67–1.00 with FaceNet). :class:`Visits` follows each
face through the frames and gives, per visit, the **quality-weighted mean of its last frames'
unit embeddings**, for each encoder: noise averages out, the person does not. On the clip,
over the last :data:`WINDOW` frames, Lin's median distance to his template falls from 0.474 to
0.430 (dlib) and from 0.816 to 0.763 (FaceNet), while the strangers' nearest templates stay
where they were (0.516 → 0.514 for the closest stranger). The decision rule then judges the
aggregate (``benchmarks/bench_visits.py`` measures per-visit FRR and FAR on video).

How faces are followed: a face continues the visit whose last box it overlaps most (IoU at
least :data:`MIN_OVERLAP`), seen at most :data:`MAX_GAP_S` seconds ago, each visit taking at
most one face per frame — unless its embedding is farther than :data:`CONTINUITY` from the
visit's aggregate: a cut or a new person in the same place starts a new visit (on the clip,
Obama takes Lin's place after a cut at frame 211). Pure numpy, no clock of its own: times are
the frames' capture times, in seconds.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gatekeeper.recognition import Box

#: Frames whose embeddings make a visit's aggregate: the newest ones, about half a second to a
#: second of a door camera's processed frames.
WINDOW = 10
#: A face seen again within this many seconds continues its visit; after it, a new one starts.
MAX_GAP_S = 1.0
#: Least overlap (intersection over union) of a face's box with the visit's last box.
MIN_OVERLAP = 0.3
#: Largest dlib L2 distance between a face and its visit's aggregate: beyond it, a different
#: person (dlib's own same-person bound is 0.6; frames of one person on the clip sit 0.1–0.4
#: from their visit's aggregate, another person 0.7 and more).
CONTINUITY = 0.6
#: Face width, in pixels, from which a frame counts fully; a narrower face counts
#: ``width / QUALITY_FULL_PX`` (at least :data:`QUALITY_FLOOR`).
QUALITY_FULL_PX = 80.0
QUALITY_FLOOR = 0.25


def frame_weight(width_px: float) -> float:
    """How much a face ``width_px`` wide counts in its visit's aggregate, in
    [:data:`QUALITY_FLOOR`, 1]: detail grows with size up to the enrolment bar."""
    return float(np.clip(width_px / QUALITY_FULL_PX, QUALITY_FLOOR, 1.0))


def weighted_unit_mean(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted mean direction of ``vectors`` (N, D), as a unit vector (D,), float32."""
    units = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    total = (units * weights[:, None]).sum(axis=0)
    return (total / np.linalg.norm(total)).astype(np.float32)


def _overlap(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = min(ax + aw, bx + bw) - max(ax, bx)
    height = min(ay + ah, by + bh) - max(ay, by)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (aw * ah + bw * bh - inter)


@dataclass
class _Frame:
    dlib: np.ndarray
    weight: float
    #: The other encoders' embeddings of this frame's face, by model id, where measured.
    others: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Visit:
    """One visit: its ``id``, last ``box`` and ``time``, how many frames it has had
    (``frames``), and the newest :data:`WINDOW` of them."""

    id: int
    box: Box
    time: float
    frames: int = 0
    recent: deque[_Frame] = field(default_factory=lambda: deque(maxlen=WINDOW))

    def dlib(self) -> np.ndarray:
        """The aggregate dlib embedding (128,): the weighted mean direction of the recent
        frames' embeddings, at their mean length (dlib's embeddings are not unit vectors, and
        distances to templates are measured at their scale)."""
        vectors = np.stack([f.dlib for f in self.recent])
        weights = np.array([f.weight for f in self.recent])
        length = float(np.linalg.norm(vectors, axis=1).mean())
        return weighted_unit_mean(vectors, weights) * np.float32(length)

    def aggregate(self, model_id: str) -> np.ndarray | None:
        """The aggregate embedding by another encoder ``model_id`` (FaceNet's and SFace's are
        unit vectors) of the recent frames it measured, or None when it measured none."""
        measured = [f for f in self.recent if model_id in f.others]
        if not measured:
            return None
        return weighted_unit_mean(
            np.stack([f.others[model_id] for f in measured]),
            np.array([f.weight for f in measured]),
        )


class Visits:
    """The visits in front of one camera (see the module docstring)."""

    def __init__(self) -> None:
        self._visits: dict[int, Visit] = {}
        self._ids = itertools.count(1)

    def observe(
        self, time: float, boxes: Sequence[Box], dlib: np.ndarray, widths: Sequence[float]
    ) -> list[Visit]:
        """Add one processed frame's faces (``boxes``, their dlib embeddings ``(N, 128)`` and
        widths in pixels) taken at ``time``; returns each face's :class:`Visit`, in order.
        Call it for every processed frame, faces or not: visits unseen for more than
        :data:`MAX_GAP_S` end."""
        self._visits = {k: v for k, v in self._visits.items() if time - v.time <= MAX_GAP_S}
        candidates = sorted(
            (
                (_overlap(box, visit.box), i, visit.id)
                for i, box in enumerate(boxes)
                for visit in self._visits.values()
            ),
            reverse=True,
        )
        taken: dict[int, Visit] = {}
        used: set[int] = set()
        for overlap, i, visit_id in candidates:
            if overlap < MIN_OVERLAP:
                break
            if i in taken or visit_id in used:
                continue
            visit = self._visits[visit_id]
            if np.linalg.norm(visit.dlib() - dlib[i]) > CONTINUITY:
                continue
            taken[i] = visit
            used.add(visit_id)
        result = []
        for i, box in enumerate(boxes):
            visit = taken.get(i)
            if visit is None:
                visit = Visit(next(self._ids), box, time)
                self._visits[visit.id] = visit
            else:
                visit.box, visit.time = box, time
            visit.frames += 1
            visit.recent.append(_Frame(np.asarray(dlib[i], np.float32), frame_weight(widths[i])))
            result.append(visit)
        return result

    def add(self, visit: Visit, model_id: str, embedding: np.ndarray) -> np.ndarray:
        """Another encoder's (``model_id``) embedding of ``visit``'s face in the frame just
        observed; returns the visit's aggregate under that encoder."""
        visit.recent[-1].others[model_id] = np.asarray(embedding, np.float32)
        return visit.aggregate(model_id)
