"""Use cases shared by the command line and the console: one ``Gatekeeper`` per site.

``Gatekeeper`` joins the store (people, encodings, the access log) and the recognition engine
(loaded lazily: commands such as ``log`` or ``export`` never need it, and a first run builds
its model cache, which takes a minute or two). Inputs are validated before the engine is loaded
or anything is written, so a bad argument fails fast and leaves the database unchanged.
Embeddings never leave this layer in printable form.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import logging
import math
import os
import tempfile
import threading
import time as time_module
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import BinaryIO, TextIO, TypeVar
from zoneinfo import ZoneInfo

import numpy as np

from gatekeeper.anchor import start_publisher
from gatekeeper.config import Settings
from gatekeeper.decision import (
    DLIB_MODEL,
    TINY_FACE_PX,
    DecisionRule,
    Evidence,
    calibrated_rates,
    is_live,
    validate_threshold,
)
from gatekeeper.errors import (
    DuplicateFaceError,
    GatekeeperError,
    ImageError,
    LowQualityFaceError,
    NoFaceError,
    NotFoundError,
    SpoofFaceError,
    StoreError,
    UsageError,
)
from gatekeeper.recognition import Box, Gallery, Match
from gatekeeper.schedule import ANY_TIME, Access, admission, load_timezone
from gatekeeper.store import (
    AttemptFilter,
    NewEncoding,
    PersonInfo,
    RemovalReport,
    Store,
    VisitorRow,
    export_csv,
    open_store,
    validate_name,
)
from gatekeeper.store.export import check_export_target
from gatekeeper.vision.image import decode_image, read_image_bytes
from gatekeeper.vision.wheel import stderr_progress

log = logging.getLogger(__name__)

#: Image file suffixes that ``import`` picks up.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Camera id recorded for attempts made from the command line.
CLI_CAMERA = "cli"

R = TypeVar("R")


@dataclass(frozen=True)
class SourceImage:
    """An image to enrol or identify: its bytes (kept as evidence), decoded pixels, identity.

    ``live_capture``: the image is a camera's frame of whoever stands in front of it, which the
    liveness check judges; a file an operator chose (a badge photo, a scan, a kept visitor
    crop) is not a presentation to a camera, and liveness never refuses it."""

    label: str
    data: bytes
    rgb: np.ndarray
    suffix: str
    live_capture: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @classmethod
    def from_path(cls, path: str | Path) -> SourceImage:
        path = Path(path)
        data = read_image_bytes(path)
        suffix = path.suffix.lower() if path.suffix.lower() in IMAGE_SUFFIXES else ".img"
        return cls(str(path), data, decode_image(data, name=str(path)), suffix)

    @classmethod
    def from_frame(cls, rgb: np.ndarray) -> SourceImage:
        """A camera frame (RGB ``uint8 (H, W, 3)``), kept as PNG."""
        import cv2

        ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
        if not ok:
            raise ImageError("cannot encode the camera frame")
        return cls("camera frame", png.tobytes(), rgb, ".png", live_capture=True)


@dataclass(frozen=True)
class Identification:
    """One face of an identified image: where, who (``None``: unknown), how close.

    ``distance`` is the decision rule's score for the closest enrolled person (``None`` with
    an empty gallery; accepted at most ``threshold``), ``margin`` the runner-up's score minus
    it; ``decision`` is ``granted``, ``denied`` (recognised but refused) or ``unknown``.
    ``distances``: each encoder's L2 distance to that person (model id → distance), the
    evidence the score weighs; ``low_quality_template``: all of the person's templates are
    below the enrolment bar; ``live_score`` the liveness score (0–1)
    when it was measured (faces that would be granted), and ``spoof`` is the decision of such a
    face judged not live. ``reason`` says why a recognised person was ``denied``
    (:mod:`gatekeeper.schedule`: "deactivated", "outside schedule staff"...).
    """

    box: tuple[int, int, int, int]
    identity: str | None
    distance: float | None
    threshold: float
    margin: float | None
    decision: str
    attempt_id: int | None = None
    distances: dict[str, float] = field(default_factory=dict)
    low_quality_template: bool = False
    live_score: float | None = None
    reason: str | None = None

    def as_dict(self) -> dict:
        return {
            "identity": self.identity,
            "distance": self.distance,
            "threshold": self.threshold,
            "margin": self.margin,
            "decision": self.decision,
            "box": list(self.box),
            "distances": dict(self.distances),
            "low_quality_template": self.low_quality_template,
            "live_score": self.live_score,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class EnrolResult:
    """What ``enrol`` stored: ``added`` photos (``duplicates``: already enrolled, skipped),
    ``encodings`` ``(model id, count)`` the templates they gave, one per photo and encoder,
    and, for each photo whose face is below the enrolment bar, ``(photo, reason)`` in
    ``low_quality`` (stored anyway: ``force``, or an ``import``); ``whole_image``: the photos
    stored through the whole-image fallback (no face detected, the whole crop taken);
    ``live_scores``: ``(photo, live score)`` of each stored photo whose liveness was measured
    (``liveness = "passive"``), recorded with its templates."""

    name: str
    added: int
    duplicates: int
    low_quality: tuple[tuple[str, str], ...] = ()
    whole_image: tuple[str, ...] = ()
    live_scores: tuple[tuple[str, float], ...] = ()
    encodings: tuple[tuple[str, int], ...] = ()

    def summary(self) -> str:
        """What was stored, as the People table counts it: ``1 photo, 2 encodings
        (1 dlib_resnet_v1, 1 facenet_keras_v1)``."""
        return describe_added(self.added, dict(self.encodings))


def describe_added(photos: int, encodings: Mapping[str, int]) -> str:
    """``photos`` enrolled and the ``encodings`` (model id → count) they gave, in words, the
    models in name order: ``2 photos, 4 encodings (2 dlib_resnet_v1, 2 facenet_keras_v1)``;
    ``0 photos`` alone."""
    text = plural(photos, "photo")
    total = sum(encodings.values())
    if total:
        per_model = ", ".join(f"{encodings[m]} {m}" for m in sorted(encodings) if encodings[m])
        text += f", {plural(total, 'encoding')} ({per_model})"
    return text


def plural(count: int, word: str) -> str:
    """``1 photo``, ``2 photos``, ``3 people``."""
    if count == 1:
        return f"{count} {word}"
    return f"{count} {'people' if word == 'person' else word + 's'}"


@dataclass
class ImportReport:
    """What ``import_folder`` did: photos enrolled per person, the ``encodings`` they gave (model
    id → count), files skipped and why, and the files enrolled as low-quality templates (with
    why) or through the whole-image fallback."""

    enrolled: dict[str, int] = field(default_factory=dict)
    encodings: dict[str, int] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    low_quality: list[tuple[str, str]] = field(default_factory=list)
    whole_image: list[str] = field(default_factory=list)
    live_scores: list[tuple[str, float]] = field(default_factory=list)


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
class LivenessCheck:
    """One face of an image checked for liveness: its ``box`` (x, y, w, h pixels), its
    ``live_score`` (0–1, the original MiniFASNet score), the ``threshold`` it was judged at,
    and the verdict ``live`` (score ≥ threshold) or ``spoof``."""

    box: tuple[int, int, int, int]
    live_score: float
    threshold: float

    @property
    def verdict(self) -> str:
        return "live" if is_live(self.live_score, self.threshold) else "spoof"

    def as_dict(self) -> dict:
        return {
            "box": list(self.box),
            "live_score": self.live_score,
            "threshold": self.threshold,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class Verification:
    """Two faces compared: each encoder's L2 distance (model id → distance), the site's
    rule's ``score`` (on the threshold's scale; ``inf`` when no tier applies) with the
    ``tier`` that decided and the ``threshold``, and its verdict."""

    distances: dict[str, float]
    score: float
    tier: str | None
    threshold: float
    same: bool


@dataclass(frozen=True)
class _GalleryState:
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


@dataclass(frozen=True)
class _Trust:
    """The last check that the audit chain vouches for the live state: the store's state
    token and gallery version then, when (``time.monotonic()``), and what was wrong (None:
    nothing)."""

    token: object | None
    version: int
    checked_at: float
    problem: str | None


#: Where the store offers no token that moves on every commit (PostgreSQL), the live state is
#: checked against the chain again after this many seconds, and whenever the gallery version
#: moves.
STATE_RECHECK_S = 5.0
#: The reason recorded with a face refused because the state is disowned by the audit log.
DISOWNED_REASON = "state changed outside Gatekeeper"


@dataclass(frozen=True)
class AccessNow:
    """A person's access and whether it lets them in now: ``may_enter``, else ``reason``."""

    access: Access
    may_enter: bool
    reason: str | None


@dataclass
class ReencodeReport:
    """What ``reencode`` did: photos re-encoded with ``model_id``, photos that failed and why."""

    model_id: str
    reencoded: int = 0
    people: set[str] = field(default_factory=set)
    failed: list[tuple[str, str]] = field(default_factory=list)


def parse_time(text: str, *, end_of_day: bool = False) -> datetime:
    """An ISO-8601 date or date-time as an aware UTC datetime.

    Without a UTC offset the time is local. A bare date is midnight (local) at its start, or
    with ``end_of_day`` at its end (the next midnight). Raises ``ValueError`` for other text.
    """
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
    else:
        moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time())
    return moment.astimezone(UTC)


def _finite(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


class Gatekeeper:
    """One site's store and recognition engine, and the operations on them.

    Thread safety: store calls may come from any thread (each opens its own connection); the
    engine is used under a lock, since its networks (LiteRT interpreters) are driven from one
    thread at a time.

    ``clock()`` gives the current time (an aware UTC datetime) that access schedules and
    validity dates are judged at: the system clock unless given (tests control "now").
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        engine=None,
        on_engine_load: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ):
        self.settings = settings
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.store = store or open_store(
            settings.database,
            images_dir=settings.images_dir,
            busy_timeout_s=settings.busy_timeout_s,
            audit_key=settings.audit_key,
        )
        #: Publishes the chain head to the config's ``[audit_anchor]`` (a store given to us
        #: is the caller's: it anchors it, if it writes).
        self.anchor = None if store is not None else start_publisher(settings, self.store)
        self._engine = engine
        #: Receives the engine's one-line progress messages while it builds its model cache
        #: (first use); the console's worker points it at its loading status.
        self.on_engine_load = on_engine_load
        self._engine_lock = threading.Lock()
        self._loading_note: str | None = None
        self._gallery: _GalleryState | None = None
        self._gallery_lock = threading.Lock()
        self._trust: _Trust | None = None
        self._last_threshold: float | None = None

    def close(self) -> None:
        if self.anchor is not None:
            self.anchor.close()
        self.store.close()

    def __enter__(self) -> Gatekeeper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # The engine, lazily.

    @property
    def engine(self):
        """The :class:`~gatekeeper.vision.engine.FaceEngine`, loaded on first use (under a
        second once its model cache is built; building it, the first time, is told to
        :attr:`on_engine_load`)."""
        with self._engine_lock:
            if self._engine is None:
                from gatekeeper.vision.engine import FaceEngine

                self._engine = FaceEngine(self.settings.weights_dir, progress=self._progress)
            return self._engine

    def _progress(self, message: str) -> None:
        """The engine's progress while it builds its model cache (FaceNet's and SFace's first
        download and conversion): noted for the console and told to :attr:`on_engine_load`, or
        else written on stderr."""
        self.report_loading(message)
        if self.on_engine_load is not None:
            self.on_engine_load(message)
        else:
            stderr_progress(message)

    def report_loading(self, message: str) -> None:
        """Say where loading the models stands, in one line of plain text (``"warming up
        facenet_keras_v1"``), from the thread that loads them; the console shows the latest
        (:attr:`loading_note`) until the models are ready."""
        self._loading_note = message

    @property
    def loading_note(self) -> str | None:
        """The latest :meth:`report_loading` message, or ``None`` before any (any thread)."""
        return self._loading_note

    @contextlib.contextmanager
    def engine_in_use(self) -> Iterator:
        """The engine, held for this thread alone for the block (loaded first if needed): the
        console's recognition worker and an enrolment in another thread take turns."""
        engine = self.engine
        with self._engine_lock:
            yield engine

    @property
    def model_id(self) -> str:
        from gatekeeper.vision.encoder import MODEL_ID

        return self._engine.model_id if self._engine is not None else MODEL_ID

    # Threshold.

    @property
    def threshold(self) -> float:
        """The site's L2 distance threshold: set with ``set_threshold``, else the settings'.

        While the store is unavailable (a database server restarting), the value last read is
        used, so a running console keeps deciding as it did; the first read must succeed."""
        try:
            value = self.store.get_threshold(self.settings.threshold)
        except StoreError:
            if self._last_threshold is None:
                raise
            return self._last_threshold
        self._last_threshold = value
        return value

    def rule(self, threshold: float | None = None) -> DecisionRule:
        """The site's decision rule at ``threshold`` (default: the site's threshold)."""
        return DecisionRule(self.threshold if threshold is None else threshold)

    @property
    def evaluation_file(self) -> Path:
        """Where the last ``evaluate`` of the site's pairs keeps its FAR/FRR curve."""
        return self.settings.data_dir / "evaluation.json"

    def save_evaluation(self, evaluation, pairs: str) -> None:
        """Keep the site rule's FAR and FRR at every dlib threshold of the sane range, measured
        by ``evaluation`` (see :func:`gatekeeper.evaluate.threshold_curve`)."""
        import json

        from gatekeeper.evaluate import threshold_curve

        curve = threshold_curve(evaluation.results)
        document = {"pairs": pairs, "time": datetime.now(UTC).isoformat(), "curve": curve}
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.evaluation_file.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        temporary.replace(self.evaluation_file)

    def expected_rates(self, threshold: float) -> tuple[float | None, float | None, str] | None:
        """(FAR, FRR, where from) at ``threshold``: what the site's last saved evaluation
        measured (nearest point of its curve), else the shipped rule's held-out calibration
        (FAR against each probe's nearest stranger); ``None`` off both."""
        import json

        try:
            curve = json.loads(self.evaluation_file.read_text(encoding="utf-8"))["curve"]
        except (OSError, ValueError, KeyError, TypeError):
            curve = None
        if curve:
            point = min(curve, key=lambda row: abs(row[0] - threshold))
            return point[1], point[2], "this site's last evaluate"
        shipped = calibrated_rates(threshold)
        if shipped is None:
            return None
        return shipped["far_hard"], shipped["frr"], "held-out validation, nearest strangers"

    def set_threshold(self, value: float) -> None:
        """Set the site's threshold after :func:`~gatekeeper.decision.validate_threshold`."""
        self.store.set_threshold(validate_threshold(value))

    # Gallery.

    def gallery(self) -> tuple[Gallery, frozenset[int]]:
        """The enrolled templates of everyone, and the ids of the *active* people.

        Rebuilt only when the store's data version changes (one cheap query per call), and
        swapped as one object: a reader never sees a half-updated gallery, and a person enrolled
        or removed from another process is matched or forgotten without a restart. Who may
        enter when (schedules, validity dates) is loaded with it, and reloaded the same way.
        While the store is unavailable the gallery last read is kept (changes made meanwhile
        arrive when it is back); the first read must succeed.
        """
        state = self._gallery_state()
        return state.gallery, state.active

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

    def _gallery_state(self) -> _GalleryState:
        try:
            version = self.store.data_version()
            with self._gallery_lock:
                if self._gallery is None or self._gallery.version != version:
                    self._gallery = self._read_gallery()
                return self._gallery
        except StoreError:
            if self._gallery is None:
                raise
            return self._gallery

    def _read_gallery(self) -> _GalleryState:
        """Every encoder's templates, the active people and the limited people's access, read
        from the store."""
        first = self.store.gallery(DLIB_MODEL, include_inactive=True)
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
        for model_id in dict.fromkeys([DLIB_MODEL, *self.rule().models]):
            data = (
                first
                if model_id == DLIB_MODEL
                else self.store.gallery(model_id, include_inactive=True)
            )
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
        active = frozenset(
            pid for pid, ok in zip(first.person_ids, first.active, strict=True) if ok
        )
        return _GalleryState(
            first.version,
            person_ids,
            tuple(names),
            low,
            widest,
            galleries,
            columns,
            active,
            self.store.access_rules(),
        )

    @property
    def timezone(self) -> ZoneInfo:
        """The site's time zone (the ``timezone`` setting): schedules and validity dates are
        judged on its wall clock."""
        return load_timezone(self.settings.timezone)

    def _admission(
        self, state: _GalleryState, person_id: int | None, now: datetime, tz: ZoneInfo
    ) -> tuple[str, str | None]:
        """``granted`` or ``denied`` and why, for a recognised person at ``now``."""
        access = state.access.get(person_id, ANY_TIME) if person_id is not None else ANY_TIME
        allowed, reason = admission(person_id in state.active, access, now, tz)
        return ("granted", None) if allowed else ("denied", reason)

    def access_now(self, people: Sequence[PersonInfo]) -> dict[str, AccessNow]:
        """Each person's access and whether it lets them in at ``clock()``, by name (for
        ``people`` and the console's People screen; one read of the access rules)."""
        rules, now, tz = self.store.access_rules(), self.clock(), self.timezone
        result = {}
        for person in people:
            access = rules.get(person.id, ANY_TIME)
            result[person.name] = AccessNow(access, *admission(person.active, access, now, tz))
        return result

    def change_validity(
        self,
        person: str,
        *,
        valid_from: date | None = None,
        valid_until: date | None = None,
        clear: bool = False,
    ) -> tuple[bool, Access]:
        """Set the dates given, keep the others (``clear``: clear them) of ``person``'s
        validity; returns whether it changed and the person's access now."""
        info = self.store.get_person(person)
        if info is None:
            raise NotFoundError(f"no such person: {validate_name(person)}")
        old = self.store.access_rules().get(info.id, ANY_TIME)
        if valid_from is None and not clear:
            valid_from = old.valid_from
        if valid_until is None and not clear:
            valid_until = old.valid_until
        changed = self.store.set_validity(info.name, valid_from, valid_until)
        return changed, replace(old, valid_from=valid_from, valid_until=valid_until)

    def judge(
        self,
        rgb: np.ndarray,
        faces: Sequence,
        *,
        threshold: float | None = None,
        deciding: Callable[[Match], bool] | None = None,
        liveness: bool = True,
        embeddings: Mapping[str, np.ndarray] | None = None,
        aggregate: Callable[[int, str, np.ndarray], np.ndarray] | None = None,
    ) -> list[Verdict]:
        """Judge detected faces of ``rgb`` (``FaceEmbedding`` objects) with the site's rule.

        Every encoder of the rule that is installed embeds the faces (one batch each; dlib's
        embeddings are the faces' own, other encoders' may come in ``embeddings`` by model id
        when the caller has them), and each face's person is the one the rule scores lowest
        (``_fused_matches``). ``aggregate(i, model_id, embedding)`` turns face ``i``'s embedding
        by an encoder into the one the rule judges (the live worker's visit aggregate, see
        ``gatekeeper/visits.py``, whose dlib aggregate the caller passes as the faces'
        embeddings). A face is the person when that score is at most the threshold. Then
        every face that would be granted is checked for liveness (one batch; with the site's
        ``liveness = "passive"`` and ``liveness``), unless ``deciding(match)`` says its
        verdict cannot open
        the door on this frame (the console's votes before the deciding one): one whose live
        score is below ``liveness_threshold`` is a ``spoof``. Unknown and denied faces are
        never scored, so liveness costs nothing for them. The caller holds the engine
        (``engine_in_use``).

        A recognised person is ``denied``, with the reason, when deactivated or, at
        ``clock()``, outside their schedule or validity dates (loaded with the gallery: no
        query per face) — and everybody recognised is, whatever their access, while the live
        state is disowned by the audit chain (:meth:`state_problem`): a person re-activated or
        a template moved with SQL opens no door.
        """
        if not faces:
            return []
        disowned = self.state_problem()
        state = self._gallery_state()
        rule = self.rule(threshold)
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
                        else self._engine.embed(model_id, rgb, [f.face for f in faces])
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
        matches, measured, tiers = self._fused_matches(state, rule, queries, widths)
        decisions = []
        reasons: dict[int, str | None] = {}
        now, tz = self.clock(), self.timezone
        for i, match in enumerate(matches):
            if match.name is None or match.distance > rule.threshold:
                decisions.append("unknown")
            elif disowned is not None:
                decisions.append("denied")
                reasons[i] = f"{DISOWNED_REASON}: {disowned}"
            else:
                decision, reasons[i] = self._admission(state, match.person_id, now, tz)
                decisions.append(decision)
        scores: dict[int, float] = {}
        if liveness and self.settings.liveness == "passive":
            checked = [
                i
                for i, d in enumerate(decisions)
                if d == "granted" and (deciding is None or deciding(matches[i]))
            ]
            if checked:
                live = self._engine.live_scores(rgb, [faces[i].face for i in checked])
                scores = {i: float(score) for i, score in zip(checked, live, strict=True)}
        verdicts = []
        for i, match in enumerate(matches):
            decision = decisions[i]
            if i in scores and not is_live(scores[i], self.settings.liveness_threshold):
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

    @staticmethod
    def _fused_matches(
        state: _GalleryState,
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

    # Enrolment.

    def enrol(
        self,
        name: str,
        images: Sequence[str | Path | SourceImage],
        *,
        largest: bool = False,
        whole_image: bool = False,
        force: bool = False,
        allow_low_quality: bool = False,
    ) -> EnrolResult:
        """Enrol ``name`` from images that each show exactly one face (or the largest one).

        Every image is read, encoded and checked before anything is written: one bad image fails
        the whole call and leaves the store unchanged. The checks, each waived by ``force``:

        - the face must meet the enrolment bar (``vision/quality.py``), else
          :class:`LowQualityFaceError` — a low-detail template matches strangers;
          ``allow_low_quality`` (``import``) stores such faces as low-quality templates instead;
        - the face must not match a person enrolled under another name by the site's rule,
          else :class:`DuplicateFaceError` — one face, one name;
        - with ``liveness = "passive"``, a face from a camera (``SourceImage.live_capture``:
          the console's camera enrolment) must be judged live, else :class:`SpoofFaceError` —
          a template taken from a photo held up to the camera lets whoever holds it in. A photo
          *file* is not a presentation to a camera (a badge photo is a photo): its live score
          is measured and recorded with its templates (``live_scores``), never a refusal.

        The quality is stored with each encoding; with FaceNet available, a FaceNet template of
        each photo is stored too. An image already enrolled for this person (same sha256) is
        counted as a duplicate, not stored twice. Everything is stored in one transaction
        (``Store.add_encodings``): a failure, or a kill, stores nothing.
        """
        from gatekeeper.vision.quality import measure_quality

        name = self.store.check_name(name)
        if not images:
            raise UsageError("no images given")
        sources = [i if isinstance(i, SourceImage) else SourceImage.from_path(i) for i in images]
        encoded = []
        with self.engine_in_use() as engine:
            for source in sources:
                face = self._single_face(engine, source, largest=largest, whole_image=whole_image)
                quality = measure_quality(face.face, face.chip)
                if quality.low and not (force or allow_low_quality):
                    raise LowQualityFaceError(f"{source.label}: {quality.issue}")
                others = self._others(engine, source.rgb, face)
                if not force:
                    self._refuse_other_person(name, source, face, others)
                live_score = None
                if self.settings.liveness == "passive":
                    live_score = float(engine.live_scores(source.rgb, [face.face])[0])
                    live = is_live(live_score, self.settings.liveness_threshold)
                    if source.live_capture and not live and not force:
                        raise SpoofFaceError(
                            f"{source.label}: the face looks like a photo or a screen, not a "
                            f"live person (live score {live_score:.2f} < "
                            f"{self.settings.liveness_threshold:.2f})"
                        )
                encoded.append((source, face, quality, others, live_score))
        templates: list[NewEncoding] = []
        firsts = []
        for source, face, quality, others, live_score in encoded:
            record = {**quality.as_record(), "live_score": live_score}
            firsts.append(len(templates))
            templates.append(
                NewEncoding(
                    DLIB_MODEL, face.embedding, source.sha256, source.data, source.suffix, record
                )
            )
            templates += [
                NewEncoding(model_id, vector, source.sha256, quality=record)
                for model_id, vector in others.items()
            ]
        stored = self.store.add_encodings(name, templates)
        new = [entry for entry, i in zip(encoded, firsts, strict=True) if stored[i]]
        per_model = Counter(t.model_id for t, kept in zip(templates, stored, strict=True) if kept)
        return EnrolResult(
            name,
            len(new),
            len(encoded) - len(new),
            tuple(
                (source.label, quality.issue or "")
                for source, _, quality, _, _ in new
                if quality.low
            ),
            tuple(source.label for source, face, _, _, _ in new if face.face.fallback),
            tuple((source.label, score) for source, _, _, _, score in new if score is not None),
            tuple(per_model.items()),
        )

    def _refuse_other_person(
        self, name: str, source: SourceImage, face, others: Mapping[str, np.ndarray]
    ) -> None:
        """Raise :class:`DuplicateFaceError` when ``face`` is, by the site's rule, a person
        enrolled under a name other than ``name``; ``others`` are its other encoders'
        embeddings by model id, already made for its templates (engine held by the caller)."""
        given = {model_id: vector[None] for model_id, vector in others.items()}
        (verdict,) = self.judge(source.rgb, [face], liveness=False, embeddings=given)
        match = verdict.match
        if verdict.decision != "unknown" and match.name != name:
            raise DuplicateFaceError(
                f"{source.label}: this face matches {match.name!r} ({match.distance:.2f})"
            )

    def enrol_frame(self, name: str, rgb: np.ndarray, *, force: bool = False) -> EnrolResult:
        """Enrol ``name`` from a camera frame (RGB array) showing exactly one face."""
        return self.enrol(name, [SourceImage.from_frame(rgb)], force=force)

    def enrolment_face(self, source: SourceImage, *, largest: bool = False) -> Box:
        """The box ``(x, y, w, h)`` of the face :meth:`enrol` would take from ``source`` (with
        the same ``largest``), to show before enrolling; nothing is stored. Raises as
        :meth:`enrol` does for no face or several."""
        return self._single(source, largest=largest, whole_image=False).face.box

    def measure(self, image: str | Path | SourceImage, *, largest: bool = True):
        """An image's face (its largest, or its only one unless ``largest``) as
        :class:`FaceMeasure`: dlib and FaceNet embeddings, below the
        enrolment bar or not; for ``evaluate`` and ``verify``, nothing stored."""
        from gatekeeper.vision.quality import measure_quality

        source = image if isinstance(image, SourceImage) else SourceImage.from_path(image)
        with self.engine_in_use() as engine:
            face = self._single_face(engine, source, largest=largest, whole_image=False)
            embeddings = {DLIB_MODEL: face.embedding, **self._others(engine, source.rgb, face)}
        low = measure_quality(face.face, face.chip).low
        return FaceMeasure(embeddings, low, float(face.face.box[2]))

    def _others(self, engine, rgb: np.ndarray, face) -> dict[str, np.ndarray]:
        """The embeddings of ``face`` by every encoder of the rule beyond dlib that is
        installed, by model id (caller holds the engine)."""
        found = {}
        for model_id in self.rule().models:
            if model_id != DLIB_MODEL:
                embedded = engine.embed(model_id, rgb, [face.face])
                if embedded is not None:
                    found[model_id] = embedded[0]
        return found

    def _single(self, source: SourceImage, *, largest: bool, whole_image: bool):
        with self.engine_in_use() as engine:
            return self._single_face(engine, source, largest=largest, whole_image=whole_image)

    @staticmethod
    def _single_face(engine, source: SourceImage, *, largest: bool, whole_image: bool):
        return engine.single(
            source.rgb, largest=largest, whole_image=whole_image, name=source.label
        )

    def import_folder(
        self,
        folder: str | Path,
        *,
        exclude: Sequence[str] = (),
        progress: Callable[[int, int, str], None] | None = None,
    ) -> ImportReport:
        """The tutorial's ``prepare_database``: each image's file stem is the identity.

        ``folder/NAME.jpg`` enrols NAME; ``folder/NAME/*.jpg`` enrols NAME from every photo in
        the sub-folder. Images are face crops or photos with one face; the whole-image fallback
        is allowed (the tutorial's crops are tight) for crops that still look like a face
        (``FaceEngine.looks_like_a_face_crop``), and such files are listed in ``whole_image``.
        Each file stands alone: a bad one is
        skipped with its reason and the rest are imported. Entries whose name matches one of
        the ``exclude`` glob patterns (e.g. ``camera_*``) are left out. ``progress(done, total,
        path)`` is called after each file.
        """
        root = Path(folder)
        if not root.is_dir():
            raise UsageError(f"{root}: not a directory")
        jobs = []
        for entry in sorted(root.iterdir()):
            if any(fnmatch.fnmatch(entry.name, pattern) for pattern in exclude):
                continue
            if entry.is_dir():
                photos = sorted(p for p in entry.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
                jobs += [(entry.name, p) for p in photos]
            elif entry.suffix.lower() in IMAGE_SUFFIXES:
                jobs.append((entry.stem, entry))
        report = ImportReport()
        for done, (name, path) in enumerate(jobs, start=1):
            try:
                result = self.enrol(name, [path], whole_image=True, allow_low_quality=True)
            except GatekeeperError as exc:
                report.skipped.append((str(path), str(exc)))
            else:
                if result.added:
                    report.enrolled[result.name] = (
                        report.enrolled.get(result.name, 0) + result.added
                    )
                for model, count in result.encodings:
                    report.encodings[model] = report.encodings.get(model, 0) + count
                if result.duplicates:
                    report.duplicates.append(str(path))
                report.low_quality += [(str(path), why) for _, why in result.low_quality]
                report.whole_image += [str(path) for _ in result.whole_image]
                report.live_scores += [(str(path), score) for _, score in result.live_scores]
            if progress is not None:
                progress(done, len(jobs), str(path))
        self.store.log_admin_event(
            "import",
            f"{root}: {sum(report.enrolled.values())} encodings for {len(report.enrolled)} "
            f"people ({len(report.low_quality)} low-quality, "
            f"{len(report.whole_image)} whole-image), {len(report.skipped)} skipped",
        )
        return report

    def reencode(
        self, *, progress: Callable[[int, int, str], None] | None = None
    ) -> ReencodeReport:
        """Rebuild every kept enrolment photo's templates with every installed encoder of the
        rule and measure each face's quality (and, with ``liveness = "passive"``, its live
        score) again.

        Each photo stands alone: one that is missing, unreadable or shows no face any more is
        reported in ``failed`` and the rest are re-encoded; an encoding of the same model and
        image is replaced, the kept photo is reused. ``progress(done, total, path)`` is called
        after each photo. Records a ``reencode`` event.
        """
        from gatekeeper.vision.quality import measure_quality

        photos = self.store.list_photos()
        report = ReencodeReport(self.model_id)
        for done, photo in enumerate(photos, start=1):
            try:
                source = SourceImage.from_path(photo.path)
                with self.engine_in_use() as engine:
                    face = self._single_face(engine, source, largest=True, whole_image=True)
                    others = self._others(engine, source.rgb, face)
                    live = None
                    if self.settings.liveness == "passive":
                        live = float(engine.live_scores(source.rgb, [face.face])[0])
            except (ImageError, NoFaceError) as exc:
                report.failed.append((str(photo.path), str(exc)))
            else:
                record = {**measure_quality(face.face, face.chip).as_record(), "live_score": live}
                templates = [(DLIB_MODEL, face.embedding), *others.items()]
                self.store.add_encodings(
                    photo.name,
                    [
                        NewEncoding(model_id, embedding, photo.image_sha256, quality=record)
                        for model_id, embedding in templates
                    ],
                    replace=True,
                )
                report.model_id = ", ".join(model_id for model_id, _ in templates)
                report.reencoded += 1
                report.people.add(photo.name)
            if progress is not None:
                progress(done, len(photos), str(photo.path))
        self.store.log_admin_event(
            "reencode",
            f"{report.reencoded} photos of {len(report.people)} people re-encoded with "
            f"{report.model_id}, {len(report.failed)} failed",
        )
        return report

    def remove(self, name: str) -> RemovalReport:
        """Erase a person's encodings, kept photos and visitor crops; their attempts stay in
        the log."""
        return self.store.remove_person(name)

    # Recognition.

    def match_embeddings(
        self, embeddings: np.ndarray, *, threshold: float | None = None
    ) -> list[tuple[Match, str]]:
        """Match ``(N, 128)`` dlib embeddings alone against the gallery → (match, decision).

        The site's rule with dlib's opinion alone (no image for the other encoders): its tier
        for dlib alone decides. The decision is ``unknown`` when the rule rejects, ``denied``
        for a deactivated person or one outside their schedule or validity dates (as
        :meth:`judge`), else ``granted``. Recognition from images goes through :meth:`judge`.
        """
        if len(embeddings) == 0:
            return []
        state = self._gallery_state()
        rule = self.rule(threshold)
        matches, _, _ = self._fused_matches(state, rule, {DLIB_MODEL: np.asarray(embeddings)})
        now, tz = self.clock(), self.timezone
        return [
            (
                m,
                "unknown"
                if m.name is None or m.distance > rule.threshold
                else self._admission(state, m.person_id, now, tz)[0],
            )
            for m in matches
        ]

    def identify(
        self, image: str | Path | SourceImage, *, camera_id: str = CLI_CAMERA, record: bool = True
    ) -> list[Identification]:
        """The tutorial's ``who_is_it`` for every face of an image, each recorded as an attempt."""
        source = image if isinstance(image, SourceImage) else SourceImage.from_path(image)
        threshold = self.threshold
        with self.engine_in_use() as engine:
            faces = engine.analyze(source.rgb)
            verdicts = self.judge(source.rgb, faces, threshold=threshold)
        results = []
        for face, verdict in zip(faces, verdicts, strict=True):
            match, decision, identity = verdict.match, verdict.decision, verdict.identity
            attempt_id = None
            if record:
                attempt_id = self.store.record_attempt(
                    camera_id=camera_id,
                    name=identity,
                    person_id=match.person_id if identity else None,
                    distance=_finite(match.distance),
                    threshold=threshold,
                    decision=decision,
                    model_id=self.model_id,
                    box=face.face.box,
                    reason=verdict.reason,
                )
            results.append(
                Identification(
                    box=face.face.box,
                    identity=identity,
                    distance=_finite(match.distance),
                    threshold=threshold,
                    margin=_finite(match.margin),
                    decision=decision,
                    attempt_id=attempt_id,
                    distances=verdict.distances,
                    low_quality_template=match.low_quality,
                    live_score=verdict.live_score,
                    reason=verdict.reason,
                )
            )
        return results

    def verify(self, first: str | Path, second: str | Path) -> Verification:
        """Are the single faces of two images the same person, by the site's rule?"""
        sources = [SourceImage.from_path(image) for image in (first, second)]  # both read first
        a, b = (self.measure(source, largest=False) for source in sources)
        evidence, rule = a.evidence(b), self.rule()
        tier = rule.tier_for(evidence.distances)
        score = math.inf if tier is None else tier.score(evidence)
        same = score <= rule.threshold
        name = None if tier is None else tier.name
        return Verification(dict(evidence.distances), score, name, rule.threshold, same)

    # Liveness.

    def liveness(self, image: str | Path | SourceImage) -> list[LivenessCheck]:
        """Every face of an image (largest first) checked for liveness at the site's
        ``liveness_threshold``, whatever the ``liveness`` mode; nothing is recorded (an access
        attempt is a face at the door, see :meth:`identify`)."""
        source = image if isinstance(image, SourceImage) else SourceImage.from_path(image)
        with self.engine_in_use() as engine:
            faces = engine.detect(source.rgb)
            scores = engine.live_scores(source.rgb, faces)
        threshold = self.settings.liveness_threshold
        return [
            LivenessCheck(f.box, float(score), threshold)
            for f, score in zip(faces, scores, strict=True)
        ]

    def live_score(self, image: str | Path) -> float | None:
        """The live score of an image's largest face, ``None`` when it has none (for
        ``evaluate-liveness``)."""
        checks = self.liveness(image)
        return checks[0].live_score if checks else None

    # The log.

    def export(self, out: TextIO, filter: AttemptFilter, *, destination: str | None = None) -> int:
        """Write the access log as CSV (see :func:`gatekeeper.store.export_csv`); row count."""
        return export_csv(self.store, filter, out, destination=destination)

    def export_file(self, target: Path, filter: AttemptFilter) -> int:
        """Export to the file ``target``; the row count. Written as :func:`write_private_file`
        writes: atomically, readable by its owner only (the log holds personal data), and only
        to a regular file."""

        def write(out: BinaryIO) -> int:
            text = io.TextIOWrapper(out, encoding="utf-8", newline="")
            try:
                return self.export(text, filter, destination=str(target))
            finally:
                text.flush()
                text.detach()

        return write_private_file(target, write)

    # Visitors: the face crops the console keeps of unknown, spoof and denied attempts.

    def visitor_image(self, visitor_id: int) -> SourceImage:
        """A kept visitor crop as an image to enrol from; ``NotFoundError`` when there is
        none."""
        row = self.store.get_visitor(visitor_id)
        assert row.crop is not None
        label = f"visitor {row.id}"
        return SourceImage(label, row.crop, decode_image(row.crop, name=label), ".jpg")

    def enrol_visitor(self, visitor_id: int, name: str, *, force: bool = False) -> EnrolResult:
        """Enrol ``name`` from a kept visitor crop through :meth:`enrol`, with all its checks
        (name, quality bar, another person's face, liveness; ``force`` waives them as there),
        taking the crop's largest face: the crop is centred on the attempt's face, and a
        neighbour may show in its margin. The crop becomes the person's kept photo, and the
        visitor is marked ``enrolled`` (a ``visitor_enrol`` event)."""
        name = self.store.check_name(name)
        source = self.visitor_image(visitor_id)
        result = self.enrol(name, [source], largest=True, force=force)
        self.store.mark_visitor_enrolled(visitor_id, result.name)
        return result

    def save_visitor_crop(self, visitor_id: int, target: Path) -> VisitorRow:
        """Write a kept visitor crop (JPEG) to ``target`` as :func:`write_private_file` does;
        returns the visitor."""
        row = self.store.get_visitor(visitor_id)
        assert row.crop is not None
        crop = row.crop
        write_private_file(target, lambda out: out.write(crop))
        return row

    def expire_visitors(self, now: datetime | None = None) -> int:
        """Delete the visitor crops captured more than ``visitors.retention_days`` before
        ``now`` (default: the current time; UTC-aware), with one ``visitor_expire`` event when
        there were some; returns how many. Runs whether or not crops are being kept, so those
        kept before ``keep`` was turned off expire too."""
        days = self.settings.visitors.retention_days
        cutoff = (datetime.now(UTC) if now is None else now) - timedelta(days=days)
        return self.store.expire_visitors(cutoff, f"retention {days:g} days")


def write_private_file(target: Path, write: Callable[[BinaryIO], R]) -> R:
    """Write a file of personal data: ``write(out)`` fills a temporary file beside ``target``
    (``out``, open for binary writing),
    which is fsynced, then renamed over ``target``; returns what ``write`` returned. A failure
    leaves no half-written file (and an older one in place). The file is readable by its owner
    only (mode 0600, as ``mkstemp`` creates it). Only a regular file is created or replaced
    (see :func:`~gatekeeper.store.export.check_export_target`), checked before writing and
    again just before the rename."""
    check_export_target(target)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise GatekeeperError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with open(fd, "wb") as out:
            result = write(out)
            out.flush()
            os.fsync(fd)
        check_export_target(target)
        os.replace(temporary, target)
    except OSError as exc:
        raise GatekeeperError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return result
