"""Who is this face, and should the door open? Gallery matching and the access decision.

Pure numpy: no I/O, no TensorFlow, no clock. Two parts:

- :class:`Gallery` — 1:N matching of face embeddings (``float32 (128,)``, Euclidean distance)
  against the enrolled templates, several templates per person allowed. A :class:`Match` names
  the closest person, its distance, the runner-up *person*'s distance and the margin between them.
- :class:`DecisionPolicy` — turns the per-frame matches of one camera into access decisions:
  voting over the last frames so one lucky frame never opens the door, and a recognition
  interval so a person standing at the door is greeted once, not on every frame.

The threshold convention, used everywhere: a face is a match when ``distance <= threshold``
(inclusive); above the threshold it is unknown.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from gatekeeper.errors import GatekeeperError

#: Length of an embedding from the dlib ResNet encoder.
EMBEDDING_DIM = 128

#: Upper bound on the (queries × templates) squared-distance matrix held at once while matching:
#: 2**24 float32 values = 64 MB. Large query batches are matched in chunks of rows under it.
_MAX_DISTANCE_ELEMENTS = 1 << 24

#: Templates copied per block when the gallery is transposed: 1024 × 128 float32 = 512 kB.
_TRANSPOSE_BLOCK = 1024

#: A face box in image pixels: (x, y, width, height), as in ``vision/detect.py``.
Box = tuple[int, int, int, int]


class ModelMismatchError(GatekeeperError):
    """Embeddings from one encoder were compared with a gallery built by another."""


@dataclass(frozen=True)
class Match:
    """The closest enrolled person to one query embedding.

    ``distance`` is the Euclidean (L2) distance to that person's closest template, whether or
    not it is under any threshold; ``runner_up_distance`` is the same for the closest *other*
    person (``inf`` when the gallery holds a single person). In an empty gallery ``name`` is
    ``None`` and both distances are ``inf``.
    """

    name: str | None
    person_id: int | None
    distance: float
    runner_up_name: str | None
    runner_up_person_id: int | None
    runner_up_distance: float
    #: The closest template's face was below the enrolment quality bar (see ``Gallery``).
    low_quality: bool = False

    @property
    def margin(self) -> float:
        """``runner_up_distance - distance`` (L2 units); ``inf`` when there is no runner-up.

        A small margin means two people are almost equally close: a doubtful identification
        even when ``distance`` is under the threshold.
        """
        if math.isinf(self.runner_up_distance):
            return math.inf
        return self.runner_up_distance - self.distance

    def is_known(self, threshold: float) -> bool:
        """True when the best person is within ``threshold``: ``distance <= threshold``."""
        return self.name is not None and self.distance <= threshold

    def decide(self, threshold: float) -> str | None:
        """The best person's name when :meth:`is_known`, else ``None`` (an unknown face)."""
        return self.name if self.is_known(threshold) else None


class Gallery:
    """An immutable set of enrolled templates of one encoder model, matched by L2 distance.

    Template ``i`` is ``embeddings[i]`` and belongs to ``names[i]``; persons are told apart by
    ``person_ids`` when given (two people may share a name), else by name. Templates of one
    person need not be adjacent.

    Matching ranks templates by the squared distance ``||q||² + ||t||² − 2 q·t`` with the
    template norms computed once here, so one query against M templates is a single
    matrix-vector product — memory-bound, so the templates are stored transposed, ``(D, M)``
    C-contiguous, which BLAS streams fastest. The two distances reported in a :class:`Match` are
    then recomputed directly as ``||q − t||`` for the two winning templates, so they carry no
    cancellation error (and need no clipping at zero).
    """

    __slots__ = (
        "_model_id",
        "_names",
        "_person_ids",
        "_columns",
        "_sq_norms",
        "_labels",
        "_low_quality",
    )

    def __init__(
        self,
        names: Sequence[str],
        embeddings: npt.ArrayLike,
        *,
        model_id: str,
        person_ids: Sequence[int] | None = None,
        low_quality: Sequence[bool] | None = None,
    ) -> None:
        """Build a gallery from ``embeddings`` of shape ``(M, D)`` (float32, D = 128 for dlib).

        ``low_quality[i]`` marks template ``i`` as made from a face below the enrolment bar
        (reported in :attr:`Match.low_quality`, so the decision rule can be stricter with it).
        Raises ``ValueError`` when the shapes or lengths disagree or a value is not finite.
        """
        templates = np.asarray(embeddings, dtype=np.float32)
        if templates.ndim != 2:
            raise ValueError(f"embeddings must be a 2-d (M, D) array, got shape {templates.shape}")
        if len(names) != len(templates):
            raise ValueError(f"{len(names)} names for {len(templates)} embeddings")
        if person_ids is not None and len(person_ids) != len(templates):
            raise ValueError(f"{len(person_ids)} person ids for {len(templates)} embeddings")
        if low_quality is not None and len(low_quality) != len(templates):
            raise ValueError(f"{len(low_quality)} quality flags for {len(templates)} embeddings")
        if not np.isfinite(templates).all():
            raise ValueError("embeddings contain NaN or infinite values")
        keys = np.asarray(list(person_ids if person_ids is not None else names))
        _, labels = np.unique(keys, return_inverse=True)
        self._model_id = model_id
        self._names = tuple(names)
        self._person_ids = None if person_ids is None else tuple(person_ids)
        self._columns = _transposed_copy(templates)
        self._columns.flags.writeable = False
        self._sq_norms = np.einsum("ij,ij->i", templates, templates)
        self._labels = labels.astype(np.int64).reshape(-1)
        self._low_quality = (
            np.zeros(len(templates), dtype=bool)
            if low_quality is None
            else np.asarray(low_quality, dtype=bool).reshape(-1)
        )

    @classmethod
    def empty(cls, model_id: str, dim: int = EMBEDDING_DIM) -> Gallery:
        """A gallery with no templates: every query matches nobody (distance ``inf``)."""
        return cls([], np.empty((0, dim), dtype=np.float32), model_id=model_id)

    @property
    def model_id(self) -> str:
        """The encoder model whose embeddings this gallery holds, e.g. ``dlib_resnet_v1``."""
        return self._model_id

    @property
    def dim(self) -> int:
        """The embedding length D."""
        return self._columns.shape[0]

    @property
    def person_count(self) -> int:
        """How many distinct persons are enrolled."""
        return int(self._labels.max()) + 1 if len(self._labels) else 0

    def __len__(self) -> int:
        """The number of templates M."""
        return self._columns.shape[1]

    def match(self, query: npt.ArrayLike, *, model_id: str) -> Match | list[Match]:
        """Match one embedding ``(D,)`` → a :class:`Match`, or a batch ``(Q, D)`` → ``Q`` of them.

        ``model_id`` names the encoder that produced ``query``; it must be the gallery's own
        (:class:`ModelMismatchError` otherwise: distances between two models mean nothing).
        """
        if model_id != self._model_id:
            raise ModelMismatchError(
                f"cannot match {model_id} embeddings against a gallery of {self._model_id} "
                "embeddings; re-encode the enrolled photos with the current model"
            )
        queries = np.asarray(query, dtype=np.float32)
        single = queries.ndim == 1
        queries = np.atleast_2d(queries)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(
                f"query must have shape ({self.dim},) or (Q, {self.dim}), got {np.shape(query)}"
            )
        if not np.isfinite(queries).all():
            raise ValueError("query contains NaN or infinite values")
        matches: list[Match] = []
        rows = max(1, _MAX_DISTANCE_ELEMENTS // max(1, len(self)))
        for start in range(0, len(queries), rows):
            matches.extend(self._match_rows(queries[start : start + rows]))
        return matches[0] if single else matches

    def _match_rows(self, queries: np.ndarray) -> list[Match]:
        """Match a chunk of queries ``(C, D)``; the work is a few whole-array numpy passes."""
        if len(self) == 0:
            return [Match(None, None, math.inf, None, None, math.inf) for _ in queries]
        # ||q - t||² - ||q||²: the per-query constant ||q||² does not change which template wins.
        scores = queries @ self._columns
        scores *= -2.0
        scores += self._sq_norms
        rows = np.arange(len(queries))
        best = np.argmin(scores, axis=1)
        # The runner-up is the closest template of anybody but the best person.
        np.putmask(scores, self._labels[None, :] == self._labels[best][:, None], np.inf)
        second = np.argmin(scores, axis=1)
        has_second = np.isfinite(scores[rows, second])
        best_distances = np.linalg.norm(self._columns[:, best].T - queries, axis=1)
        second_distances = np.linalg.norm(self._columns[:, second].T - queries, axis=1)
        return [
            Match(
                name=self._names[b],
                person_id=self._person_id(b),
                distance=float(bd),
                runner_up_name=self._names[s] if ok else None,
                runner_up_person_id=self._person_id(s) if ok else None,
                runner_up_distance=float(sd) if ok else math.inf,
                low_quality=bool(self._low_quality[b]),
            )
            for b, s, ok, bd, sd in zip(
                best.tolist(),
                second.tolist(),
                has_second.tolist(),
                best_distances.tolist(),
                second_distances.tolist(),
                strict=True,
            )
        ]

    @property
    def persons(self) -> tuple:
        """Each person's key (person id when given, else name), in the order of the columns of
        :meth:`person_distances`."""
        keys = self._person_ids if self._person_ids is not None else self._names
        first = {}
        for template, label in enumerate(self._labels.tolist()):
            first.setdefault(label, template)
        return tuple(keys[first[label]] for label in range(self.person_count))

    def person_distances(self, queries: npt.ArrayLike, *, model_id: str) -> np.ndarray:
        """The L2 distance from each query ``(Q, D)`` to each person's closest template:
        float64 ``(Q, P)``, columns in :attr:`persons` order (``(Q, 0)`` when empty)."""
        if model_id != self._model_id:
            raise ModelMismatchError(
                f"cannot match {model_id} embeddings against a gallery of {self._model_id} "
                "embeddings; re-encode the enrolled photos with the current model"
            )
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.shape[1:] != (self.dim,):
            raise ValueError(f"queries must have shape (Q, {self.dim}), got {queries.shape}")
        result = np.full((len(queries), self.person_count), np.inf)
        if len(self) == 0:
            return result
        squared = self._sq_norms[None, :] - 2.0 * (queries @ self._columns)
        squared += np.einsum("ij,ij->i", queries, queries)[:, None]
        distances = np.sqrt(np.maximum(squared, 0.0)).astype(np.float64)
        for row, values in enumerate(distances):
            np.minimum.at(result[row], self._labels, values)
        return result

    def _person_id(self, template: int) -> int | None:
        return None if self._person_ids is None else self._person_ids[template]


def _transposed_copy(rows: np.ndarray) -> np.ndarray:
    """``rows.T`` as a new C-contiguous array, copied in cache-sized blocks of rows (for 1M
    templates about 7× faster than one strided copy)."""
    columns = np.empty(rows.shape[::-1], dtype=rows.dtype)
    for start in range(0, len(rows), _TRANSPOSE_BLOCK):
        columns[:, start : start + _TRANSPOSE_BLOCK] = rows[start : start + _TRANSPOSE_BLOCK].T
    return columns


@dataclass(frozen=True)
class FaceObservation:
    """One face seen in one processed frame, already compared with the threshold.

    ``name`` is the matched person, or ``None`` for an unknown face; ``distance`` is the L2
    distance to the closest enrolled person (``inf`` with an empty gallery); ``box`` is
    ``(x, y, w, h)`` in pixels; ``spoof``: the face matched ``name`` but was judged not live
    (a photo or a screen).
    """

    name: str | None
    distance: float
    box: Box
    spoof: bool = False

    @classmethod
    def from_match(cls, match: Match, threshold: float, box: Box) -> FaceObservation:
        """Apply ``threshold`` (``distance <= threshold`` is a match) to a :class:`Match`."""
        return cls(match.decide(threshold), match.distance, box)


DecisionKind = Literal["granted", "denied", "unknown", "spoof"]


@dataclass(frozen=True)
class Decision:
    """An access decision for one camera.

    ``kind`` is ``granted`` (an active enrolled person), ``denied`` (an enrolled person who may not
    enter: deactivated, or outside their schedule), ``unknown`` (a face nobody matched) or
    ``spoof`` (a face that matched a person but was judged not live). ``distance`` is the median
    L2 distance over the frames that voted for the decision; ``box`` is the face in the deciding
    frame, taken at ``time`` (seconds, the caller's monotonic clock).
    """

    kind: DecisionKind
    name: str | None
    distance: float
    box: Box
    time: float


@dataclass(frozen=True)
class _Frame:
    """The votes of one processed frame: closest face per known name, and the unknown face."""

    known: dict[str, FaceObservation]
    unknown: FaceObservation | None


class DecisionPolicy:
    """The access decision over the stream of processed frames of one camera.

    Rules (``K = votes_required``, ``N = votes_window``, ``T = interval_s``):

    - **Voting.** A person is decided on when they are a match (name not ``None``) in at least
      K of the last N processed frames, the current one included. One lucky frame never opens
      the door. When a name appears on several faces in one frame, the closest face counts once.
    - **Recognition interval.** After a decision about a person, the next one about them comes
      no sooner than T seconds later, measured from the previous decision's frame time: a person
      who keeps standing at the door is granted (and greeted) once every T seconds, not on every
      frame. Someone who leaves and comes back after T seconds needs K fresh votes again.
    - **Granted or denied.** ``is_active`` says whether an enrolled person may enter — either a
      callable ``name -> bool`` or a container of the active names; persons who may not
      (deactivated, outside their schedule or validity dates) produce ``denied`` decisions,
      under the same voting and interval rules. Without ``is_active`` everybody enrolled is
      active.
    - **Unknown attempts.** A frame votes "unknown" when it holds at least one unknown face; K
      unknown votes out of the last N frames make one ``unknown`` decision, rate-limited to one
      per T seconds for the whole camera (faces are not tracked across frames). The reported box
      is the largest unknown face of the deciding frame — the person nearest the camera — and
      the distance the median of each voting frame's largest unknown face's distance.

    - **Spoofs.** A face that matched a person but was judged not live (``spoof``; the console
      checks liveness on the deciding frame only) is never a vote. It makes one ``spoof``
      decision for that name, at most one per T seconds per name, and it *consumes* the
      name's votes: the next liveness check needs K fresh votes, so a photo held up to the
      camera gets one try every K frames, not one per frame. A grant is not delayed by a
      spoof decision beyond those K frames (a live person misjudged once is granted K frames
      later).

    The window counts processed frames, not seconds: votes from before a long gap in the stream
    (a lost camera) still count until N newer frames have been processed.
    """

    def __init__(
        self,
        *,
        votes_required: int = 3,
        votes_window: int = 5,
        interval_s: float = 10.0,
        is_active: Callable[[str], bool] | Container[str] | None = None,
    ) -> None:
        if not 1 <= votes_required <= votes_window:
            raise ValueError(
                f"need 1 <= votes_required <= votes_window, got {votes_required} of {votes_window}"
            )
        if interval_s < 0:
            raise ValueError(f"interval_s must be >= 0, got {interval_s}")
        self._required = votes_required
        self._interval = interval_s
        self._is_active = is_active
        self._window: deque[_Frame] = deque(maxlen=votes_window)
        self._last_decided: dict[str, float] = {}
        self._last_unknown: float | None = None
        self._last_spoof: dict[str, float] = {}
        self._last_time = -math.inf

    def update(self, time: float, faces: Sequence[FaceObservation]) -> list[Decision]:
        """Add one processed frame taken at ``time`` (seconds, non-decreasing) and return the
        decisions it triggers: at most one per person present, plus at most one ``unknown``.

        Call it for every processed frame, including frames with no face (``faces=[]``): they
        are votes for nobody.
        """
        if time < self._last_time:
            raise ValueError(f"frame time went backwards: {time} after {self._last_time}")
        self._last_time = time
        known: dict[str, FaceObservation] = {}
        spoofs: dict[str, FaceObservation] = {}
        unknown: FaceObservation | None = None
        for face in faces:
            if face.spoof and face.name is not None:
                if face.name not in spoofs or face.distance < spoofs[face.name].distance:
                    spoofs[face.name] = face
            elif face.name is None:
                if unknown is None or _area(face.box) > _area(unknown.box):
                    unknown = face
            elif face.name not in known or face.distance < known[face.name].distance:
                known[face.name] = face
        decisions = []
        self._last_spoof = {n: t for n, t in self._last_spoof.items() if time - t < self._interval}
        for name, face in spoofs.items():
            votes = [f.known.pop(name).distance for f in self._window if name in f.known]
            if name not in self._last_spoof:
                distance = statistics.median([*votes, face.distance])
                decisions.append(Decision("spoof", name, distance, face.box, time))
                self._last_spoof[name] = time
        self._window.append(_Frame(known, unknown))
        self._last_decided = {
            name: t for name, t in self._last_decided.items() if time - t < self._interval
        }

        for name, face in known.items():
            votes = [frame.known[name].distance for frame in self._window if name in frame.known]
            if len(votes) >= self._required and name not in self._last_decided:
                kind: DecisionKind = "granted" if self._active(name) else "denied"
                decisions.append(Decision(kind, name, statistics.median(votes), face.box, time))
                self._last_decided[name] = time
        if unknown is not None:
            votes = [frame.unknown.distance for frame in self._window if frame.unknown is not None]
            due = self._last_unknown is None or time - self._last_unknown >= self._interval
            if len(votes) >= self._required and due:
                decisions.append(
                    Decision("unknown", None, statistics.median(votes), unknown.box, time)
                )
                self._last_unknown = time
        return decisions

    def could_decide(self, name: str, time: float) -> bool:
        """Whether a vote for ``name`` in the next frame, taken at ``time``, would trigger a
        decision: the newest N − 1 frames hold at least K − 1 votes for them and their
        recognition interval is over. (The console asks FaceNet's opinion only then.)"""
        recent = list(self._window)[max(0, len(self._window) - self._window.maxlen + 1) :]
        votes = sum(name in frame.known for frame in recent)
        last = self._last_decided.get(name)
        return votes + 1 >= self._required and (last is None or time - last >= self._interval)

    def _active(self, name: str) -> bool:
        if self._is_active is None:
            return True
        if callable(self._is_active):
            return bool(self._is_active(name))
        return name in self._is_active


def _area(box: Box) -> int:
    return box[2] * box[3]
