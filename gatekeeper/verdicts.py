"""The decision pipeline beside :mod:`gatekeeper.recognition`: faces judged against the
gallery by the site's :class:`~gatekeeper.decision.DecisionRule`.

:class:`Decider` keeps the enrolled people as one read of the store saw them
(:class:`GalleryState`, rebuilt only when the store's data version moves and swapped as one
object), the last check that the audit chain vouches for that state, and judges faces against
it: every encoder of the rule scores each person (:func:`fused_matches`), the schedules and
validity dates admit or deny (:mod:`gatekeeper.schedule`), and liveness turns a granted face
that is not live into a spoof. The store and the engine are the objects it is given: it
imports neither, and does no vision work of its own (the engine embeds and scores liveness).
"""

from __future__ import annotations

import logging
import math
import threading
import time as time_module
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np

from gatekeeper.decision import DLIB_MODEL, TINY_FACE_PX, DecisionRule, is_live
from gatekeeper.errors import StoreError
from gatekeeper.recognition import Gallery, Match
from gatekeeper.schedule import ANY_TIME, Access, admission

log = logging.getLogger(__name__)

#: Where the store offers no token that moves on every commit (PostgreSQL), the live state is
#: checked against the chain again after this many seconds, and whenever the gallery version
#: moves.
STATE_RECHECK_S = 5.0
#: The reason recorded with a face refused because the state is disowned by the audit log.
DISOWNED_REASON = "state changed outside Gatekeeper"


class Store(Protocol):
    """What the pipeline reads of the store it is given (``gatekeeper.store.Store``)."""

    def gallery(self, model_id: str, *, include_inactive: bool = False) -> Any: ...

    def data_version(self) -> int: ...

    def access_rules(self) -> dict[int, Access]: ...

    def state_token(self) -> object | None: ...

    def state_problem(self) -> str | None: ...


@dataclass(frozen=True)
class Verdict:
    """One face judged against the gallery by the site's :class:`DecisionRule`.

    ``match`` is the rule's best person (``match.distance``: the rule's score, on the
    threshold's scale); ``distances`` each encoder's L2 distance from the face to that person's
    closest template (model id → distance; the encoders that measured it); ``decision`` is
    ``granted``, ``denied`` (recognised but refused: see ``reason``), ``unknown``, or ``spoof``
    (recognised, but the face is judged not live: a photo or a screen). ``live_score`` is the
    liveness score (0–1) when it was measured; ``reason`` why a recognised person is
    ``denied`` (deactivated, outside their schedule or validity dates:
    :mod:`gatekeeper.schedule`; or a state the audit log disowns).
    """

    match: Match
    decision: str
    distances: dict[str, float] = field(default_factory=dict)
    live_score: float | None = None
    reason: str | None = None
    #: The rule's tier that scored the match (its encoders' model ids); None: nobody matched.
    tier: str | None = None

    @property
    def identity(self) -> str | None:
        return None if self.decision == "unknown" else self.match.name


@dataclass(frozen=True)
class GalleryState:
    """The enrolled people as one read of the store saw them (``version``).

    ``person_ids``, ``names``: everyone with a template of the first encoder (dlib), in one
    order; ``low_quality[p]``: all of person ``p``'s templates are below the enrolment bar;
    ``template_px[p]``: the width of their widest template's face (NaN: not measured);
    ``galleries``: each encoder's templates by model id, and ``columns[model][j]`` the index in
    that order of the person of its gallery's column ``j``.
    """

    version: int
    person_ids: np.ndarray
    names: tuple[str, ...]
    low_quality: np.ndarray
    template_px: np.ndarray
    galleries: dict[str, Gallery]
    columns: dict[str, np.ndarray]
    active: frozenset[int]
    #: The limited people's access by person id (the others: any time).
    access: dict[int, Access]

    @property
    def gallery(self) -> Gallery:
        """The first encoder's (dlib's) templates: everyone enrolled."""
        return self.galleries[DLIB_MODEL]

    def covers(self, model_id: str) -> bool:
        """Whether every person has a template of ``model_id``."""
        return len(self.columns[model_id]) == len(self.person_ids)

    def distances(self, model_id: str, queries: np.ndarray) -> np.ndarray:
        """Each query's L2 distance ``(Q, P)`` to every person's closest template of
        ``model_id``, in :attr:`person_ids` order; ``inf`` where a person has none."""
        result = np.full((len(queries), len(self.person_ids)), np.inf)
        gallery = self.galleries[model_id]
        result[:, self.columns[model_id]] = gallery.person_distances(queries, model_id=model_id)
        return result

    def admission(
        self, person_id: int | None, now: datetime, tz: ZoneInfo
    ) -> tuple[str, str | None]:
        """``granted`` or ``denied`` and why, for a recognised person at ``now``."""
        access = self.access.get(person_id, ANY_TIME) if person_id is not None else ANY_TIME
        allowed, reason = admission(person_id in self.active, access, now, tz)
        return ("granted", None) if allowed else ("denied", reason)


def read_gallery(store: Store, models: Sequence[str]) -> GalleryState:
    """Every encoder's templates (dlib's and ``models``'), the active people and the limited
    people's access, read from the store."""
    first = store.gallery(DLIB_MODEL, include_inactive=True)
    person_ids = np.array(sorted(set(first.person_ids)), dtype=np.int64)
    where = {pid: i for i, pid in enumerate(person_ids.tolist())}
    names = [""] * len(person_ids)
    low = np.ones(len(person_ids), dtype=bool)
    widest = np.full(len(person_ids), np.nan)
    rows = zip(first.person_ids, first.names, first.low_quality, first.face_px, strict=True)
    for pid, name, bad, px in rows:
        names[where[pid]] = name
        low[where[pid]] &= bool(bad)
        widest[where[pid]] = np.fmax(widest[where[pid]], px)
    galleries: dict[str, Gallery] = {}
    columns: dict[str, np.ndarray] = {}
    for model_id in dict.fromkeys([DLIB_MODEL, *models]):
        data = first if model_id == DLIB_MODEL else store.gallery(model_id, include_inactive=True)
        kept = [i for i, pid in enumerate(data.person_ids) if pid in where]
        gallery = Gallery(
            [data.names[i] for i in kept],
            data.embeddings[kept].reshape(-1, data.embeddings.shape[1]),
            model_id=model_id,
            person_ids=[data.person_ids[i] for i in kept],
            low_quality=data.low_quality[kept] if len(data.low_quality) else None,
        )
        galleries[model_id] = gallery
        columns[model_id] = np.array([where[pid] for pid in gallery.persons], dtype=np.int64)
    active = frozenset(pid for pid, ok in zip(first.person_ids, first.active, strict=True) if ok)
    return GalleryState(
        first.version,
        person_ids,
        tuple(names),
        low,
        widest,
        galleries,
        columns,
        active,
        store.access_rules(),
    )


@dataclass(frozen=True)
class _Trust:
    """The last check that the audit chain vouches for the live state: the store's state
    token and gallery version then, when (``time.monotonic()``), and what was wrong (None:
    nothing)."""

    token: object | None
    version: int
    checked_at: float
    problem: str | None


def fused_matches(
    state: GalleryState,
    rule: DecisionRule,
    queries: Mapping[str, np.ndarray],
    face_px: Sequence[float] | None = None,
) -> tuple[list[Match], list[dict[str, float]], list[str | None]]:
    """Each face's best person by the rule: every person's score under the first tier
    that applies to them (the encoders that measured the face and of which the person has
    templates; the tier's tiny-face margin where the face, of ``face_px`` pixels, or all of
    the person's templates are tiny), the lowest score winning; ``Match.distance`` is that
    score, on the
    threshold's scale (at least 0: a tier's offset can take a very close face below it,
    and nothing decided at a threshold of 0.30 or more depends on how far). Also each
    face's distance to its person under each encoder, and the name of the tier that
    scored it."""
    count = len(queries[DLIB_MODEL])
    empty = Match(None, None, math.inf, None, None, math.inf)
    if len(state.person_ids) == 0:
        return [empty] * count, [{} for _ in range(count)], [None] * count
    distances = {m: state.distances(m, q) for m, q in queries.items()}
    widths = np.full(count, np.inf) if face_px is None else np.asarray(face_px, float)
    narrower = np.minimum(widths[:, None], np.nan_to_num(state.template_px, nan=np.inf))
    tiny = narrower < TINY_FACE_PX
    scores = np.full((count, len(state.person_ids)), np.inf)
    scored_by = np.full(scores.shape, -1)
    for number, tier in enumerate(rule.tiers):
        if not tier.applies(distances):
            continue
        value = tier.offset + sum(w * distances[m] for m, w in tier.weights)
        value = value + np.where(tiny, tier.tiny_face_margin, 0.0)
        free = np.isinf(scores) & np.isfinite(value)
        scores[free], scored_by[free] = value[free], number
    order = np.argsort(scores, axis=1, kind="stable")
    matches, measured, tiers = [], [], []
    for row in range(count):
        best, second = order[row, 0], (order[row, 1] if scores.shape[1] > 1 else None)
        if not np.isfinite(scores[row, best]):
            matches.append(empty)
            measured.append({})
            tiers.append(None)
            continue
        tiers.append(rule.tiers[scored_by[row, best]].name)
        has_second = second is not None and np.isfinite(scores[row, second])
        matches.append(
            Match(
                name=state.names[best],
                person_id=int(state.person_ids[best]),
                distance=max(0.0, float(scores[row, best])),
                runner_up_name=state.names[second] if has_second else None,
                runner_up_person_id=int(state.person_ids[second]) if has_second else None,
                runner_up_distance=(
                    max(0.0, float(scores[row, second])) if has_second else math.inf
                ),
                low_quality=bool(state.low_quality[best]),
            )
        )
        measured.append(
            {m: float(d[row, best]) for m, d in distances.items() if np.isfinite(d[row, best])}
        )
    return matches, measured, tiers


@dataclass(frozen=True)
class Judging:
    """How faces are judged at one moment: the ``rule``, the wall clock (``now`` in the site's
    ``tz``) schedules are judged at, and the liveness check (``liveness``: the site's mode is
    ``passive`` and the caller wants it; faces below ``liveness_threshold`` are spoofs)."""

    rule: DecisionRule
    now: datetime
    tz: ZoneInfo
    liveness: bool
    liveness_threshold: float


class Decider:
    """The gallery and trust caches of one site's store, and faces judged against them.

    Thread safe: the gallery is rebuilt under a lock and swapped as one object; a reader never
    sees a half-updated one.
    """

    def __init__(self, store: Store):
        self.store = store
        self._gallery: GalleryState | None = None
        self._gallery_lock = threading.Lock()
        self._trust: _Trust | None = None

    def gallery_state(self, models: Sequence[str]) -> GalleryState:
        """The enrolled people (dlib's and ``models``' templates), read again only when the
        store's data version moved; while the store is unavailable the state last read is
        kept (the first read must succeed)."""
        try:
            version = self.store.data_version()
            with self._gallery_lock:
                if self._gallery is None or self._gallery.version != version:
                    self._gallery = read_gallery(self.store, models)
                return self._gallery
        except StoreError:
            if self._gallery is None:
                raise
            return self._gallery

    def state_problem(self) -> str | None:
        """Why the live state (threshold, people, active flags, gallery, schedules) must not
        decide, or None when the audit chain vouches for it. Checked again when another
        connection has committed (SQLite) or the gallery version moved, else at most every
        :data:`STATE_RECHECK_S` seconds (PostgreSQL); cached in between. While the store is
        unavailable the last verdict stands; the first check must succeed."""
        try:
            token, version = self.store.state_token(), self.store.data_version()
            trust, now = self._trust, time_module.monotonic()
            fresh = trust is not None and trust.version == version
            if fresh and token is not None:
                fresh = trust.token == token
            elif fresh:
                fresh = now - trust.checked_at < STATE_RECHECK_S
            if not fresh:
                problem = self.store.state_problem()
                if problem is not None:
                    log.error("the live state is disowned by the audit log: %s", problem)
                self._trust = trust = _Trust(token, version, now, problem)
            return trust.problem
        except StoreError:
            if self._trust is None:
                raise
            return self._trust.problem

    def match_embeddings(self, embeddings: np.ndarray, judging: Judging) -> list[tuple[Match, str]]:
        """``(N, 128)`` dlib embeddings alone against the gallery → (match, decision): the
        rule's tier for dlib alone decides; ``unknown`` when the rule rejects, ``denied`` as
        the person's access says, else ``granted``."""
        if len(embeddings) == 0:
            return []
        rule = judging.rule
        state = self.gallery_state(rule.models)
        matches, _, _ = fused_matches(state, rule, {DLIB_MODEL: np.asarray(embeddings)})
        return [
            (
                m,
                "unknown"
                if m.name is None or m.distance > rule.threshold
                else state.admission(m.person_id, judging.now, judging.tz)[0],
            )
            for m in matches
        ]

    def judge(
        self,
        engine: Any,
        rgb: np.ndarray,
        faces: Sequence,
        judging: Judging,
        *,
        deciding: Callable[[Match], bool] | None = None,
        embeddings: Mapping[str, np.ndarray] | None = None,
        aggregate: Callable[[int, str, np.ndarray], np.ndarray] | None = None,
    ) -> list[Verdict]:
        """Judge detected faces of ``rgb`` (``FaceEmbedding`` objects) by ``judging``'s rule.

        Every encoder of the rule that is installed embeds the faces (one batch each, by
        ``engine``, which the caller holds; dlib's embeddings are the faces' own, other
        encoders' may come in ``embeddings`` by model id when the caller has them), and each
        face's person is the one the rule scores lowest (:func:`fused_matches`).
        ``aggregate(i, model_id, embedding)`` turns face ``i``'s embedding by an encoder into
        the one the rule judges (the live worker's visit aggregate, see
        ``gatekeeper/visits.py``, whose dlib aggregate the caller passes as the faces'
        embeddings). A face is the person when that score is at most the threshold. Then
        every face that would be granted is checked for liveness (one batch; with
        ``judging.liveness``), unless ``deciding(match)`` says its verdict cannot open the
        door on this frame (the console's votes before the deciding one): one whose live
        score is below the liveness threshold is a ``spoof``. Unknown and denied faces are
        never scored, so liveness costs nothing for them.

        A recognised person is ``denied``, with the reason, when deactivated or, at
        ``judging.now``, outside their schedule or validity dates (loaded with the gallery: no
        query per face) — and everybody recognised is, whatever their access, while the live
        state is disowned by the audit chain (:meth:`state_problem`): a person re-activated or
        a template moved with SQL opens no door.
        """
        if not faces:
            return []
        rule = judging.rule
        disowned = self.state_problem()
        state = self.gallery_state(rule.models)
        queries = {DLIB_MODEL: np.stack([f.embedding for f in faces])}
        unavailable: set[str] = set()
        for tier in rule.tiers:
            for model_id in tier.models:
                if model_id in queries or model_id in unavailable:
                    continue
                embedded = None
                if len(state.galleries[model_id]):
                    embedded = (
                        embeddings[model_id]
                        if embeddings is not None and model_id in embeddings
                        else engine.embed(model_id, rgb, [f.face for f in faces])
                    )
                if embedded is None:
                    unavailable.add(model_id)
                    continue
                if aggregate is not None:
                    embedded = np.stack(
                        [aggregate(i, model_id, vector) for i, vector in enumerate(embedded)]
                    )
                queries[model_id] = embedded
            if tier.applies(queries) and all(state.covers(m) for m in tier.models):
                break  # this tier scores everybody: the later ones are not needed
        widths = [f.face.box[2] for f in faces]
        matches, measured, tiers = fused_matches(state, rule, queries, widths)
        decisions = []
        reasons: dict[int, str | None] = {}
        for i, match in enumerate(matches):
            if match.name is None or match.distance > rule.threshold:
                decisions.append("unknown")
            elif disowned is not None:
                decisions.append("denied")
                reasons[i] = f"{DISOWNED_REASON}: {disowned}"
            else:
                decision, reasons[i] = state.admission(match.person_id, judging.now, judging.tz)
                decisions.append(decision)
        scores: dict[int, float] = {}
        if judging.liveness:
            checked = [
                i
                for i, d in enumerate(decisions)
                if d == "granted" and (deciding is None or deciding(matches[i]))
            ]
            if checked:
                live = engine.live_scores(rgb, [faces[i].face for i in checked])
                scores = {i: float(score) for i, score in zip(checked, live, strict=True)}
        verdicts = []
        for i, match in enumerate(matches):
            decision = decisions[i]
            if i in scores and not is_live(scores[i], judging.liveness_threshold):
                decision = "spoof"
            verdicts.append(
                Verdict(
                    match,
                    decision,
                    measured[i],
                    scores.get(i),
                    reasons.get(i) if decision == "denied" else None,
                    tiers[i],
                )
            )
        return verdicts
