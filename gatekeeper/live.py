"""The live recognition loop: camera frames in, access decisions and UI snapshots out.

A :class:`LiveRecognizer` owns one worker thread that does all the vision and database work of
the console, so the UI thread never does::

    feed.wait_for_new ─► engine.detect ─► engine.embed_faces ─► Visits.observe
        ─► site.recognition.judge (on each visit's aggregate of its last frames; FaceNet on dlib's
        candidates, liveness on the deciding frame only) ─► DecisionPolicy.update
        ─► site.log.record (+ voice greeting on a grant)
        ─► on_event(FrameResult)

The worker creates the recognition engine first (building its model cache on a first run, with
each step published as the loading status), warms it up, and only then starts the camera, so a
replayed video starts playing when the pipeline is ready. The feed keeps only the newest frame:
when processing is slower than the camera, stale frames are skipped, never queued.

Faults never stop the loop:

- camera states (``lost``, ``ended``, ``none``...) are the feed's business; the worker just waits;
- an exception while processing one frame is logged (with its traceback, never an embedding),
  counted in :attr:`LiveStats.failed`, reported as a :class:`LiveWarning`, and the next frame
  is processed;
- a store failure (database locked past its busy timeout, disk full...) keeps the decision in a
  retry queue: the door decision and the greeting still happen, the attempt is written on a
  later retry (every :data:`RETRY_INTERVAL_S` seconds, with the time of the deciding frame), and
  :attr:`LiveStats.unrecorded` says how many are waiting. When more than
  :data:`MAX_UNRECORDED` wait, the oldest is dropped, counted in :attr:`LiveStats.dropped` and
  logged: nothing is lost silently. Attempts still unrecorded at :meth:`LiveRecognizer.stop` are
  logged as an error with their count.

With a :class:`~gatekeeper.door.Door`, each decision is handed to it right after it is recorded
(or queued for a retry: the door still opens while the database refuses writes, with
``attempt_id`` null), and the door's alert rules are fed the camera's state on every turn of the
loop and the store's failures and recoveries. The door works on threads of its own: the
recognition thread never waits for an action.

With ``[visitors] keep = true``, the face crop of every ``unknown``, ``spoof`` and ``denied``
decision is cut from its deciding frame and JPEG-encoded on the worker (well under a
millisecond), then written by a :class:`~gatekeeper.visitors.VisitorKeeper` on its own thread,
linked to the recorded attempt. An attempt waiting in the retry queue keeps its crop with it
until it is written.

Everything published is immutable (frozen dataclasses, read-only frame arrays), so the UI may
keep and read it on its own thread.
"""

from __future__ import annotations

import itertools
import logging
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np

from gatekeeper.decision import DEFAULT_THRESHOLD, DLIB_MODEL
from gatekeeper.door import Door, DoorEvent
from gatekeeper.errors import StoreError
from gatekeeper.recognition import Box, Decision, DecisionPolicy, FaceObservation
from gatekeeper.site import KEPT_DECISIONS, NewAttempt, Site
from gatekeeper.vision.camera import FPS_WINDOW_S, CameraFeed, CameraState, CameraStatus
from gatekeeper.vision.quality import quality_issue
from gatekeeper.visitors import FaceCrop, VisitorKeeper, face_crop
from gatekeeper.visits import Visits
from gatekeeper.voice import Voice

log = logging.getLogger(__name__)

#: Seconds between two attempts to write decisions the store refused.
RETRY_INTERVAL_S = 1.0
#: Decisions waiting for the store beyond this many: the oldest is dropped (and counted).
MAX_UNRECORDED = 1000
#: Latency statistics cover the last this many processed frames.
LATENCY_WINDOW = 100
#: The same kind of warning (failed frame, store failure) is published at most this often,
#: in seconds; every occurrence is still logged and counted.
WARNING_INTERVAL_S = 10.0
#: How long one wait for a new camera frame lasts before the worker checks for stop, seconds.
_POLL_S = 0.25


class PipelineState(StrEnum):
    """Where the worker stands; the values are the strings the UI shows."""

    LOADING = "loading models…"
    READY = "ready"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class FaceResult:
    """One face of a processed frame, judged on that frame alone (before voting).

    ``box`` is ``(x, y, w, h)`` pixels; ``name`` the closest enrolled person within the
    threshold, else ``None``; ``distance`` the L2 distance to the closest enrolled person
    (``None`` with an empty gallery, or a face that is not evidence); ``verdict`` ``granted``,
    ``denied``, ``unknown``, ``spoof`` (matched but judged not live), or why the face is not
    evidence (see
    :func:`gatekeeper.vision.quality.quality_issue`, e.g. ``too small (24 px < 28 px)``): such a
    face is boxed in the preview but neither matched nor counted as a vote.
    """

    box: Box
    name: str | None
    distance: float | None
    verdict: str


@dataclass(frozen=True)
class RecordedDecision:
    """An access decision and what became of it in the store.

    ``time`` is the wall-clock (UTC) capture time of the deciding frame; ``attempt_id`` the
    recorded attempt, or ``None`` while it waits in the retry queue (store unavailable);
    ``reason`` why a ``denied`` person was refused (``outside schedule staff``...).
    """

    decision: Decision
    time: datetime
    attempt_id: int | None
    reason: str | None = None


@dataclass(frozen=True)
class LiveStats:
    """Throughput and latency. Rates in frames per second over the last
    :data:`~gatekeeper.vision.camera.FPS_WINDOW_S` seconds; latencies in seconds from a frame's
    capture to its result being published (decisions recorded), over the last
    :data:`LATENCY_WINDOW` processed frames. ``spoofs``: ``spoof`` decisions since the start
    (presentation attacks refused)."""

    captured_fps: float
    processed_fps: float
    latency_s: float
    latency_median_s: float
    latency_p95_s: float
    processed: int
    failed: int
    unrecorded: int
    dropped: int
    spoofs: int = 0


@dataclass(frozen=True)
class FrameResult:
    """The outcome of one processed frame, published to the UI.

    ``image`` is the camera's read-only RGB ``uint8 (H, W, 3)`` frame itself (a reference, not a
    copy); ``captured_at`` its ``time.monotonic()`` capture time; ``processing_s`` the seconds
    spent on it; ``threshold`` the L2 distance threshold it was judged with;
    ``state_problem`` why the live state was disowned by the audit log (nobody granted), or
    ``None``.
    """

    frame_id: int
    captured_at: float
    processing_s: float
    image: np.ndarray
    faces: tuple[FaceResult, ...]
    decisions: tuple[RecordedDecision, ...]
    threshold: float
    stats: LiveStats
    state_problem: str | None = None


@dataclass(frozen=True)
class PipelineStatus:
    """The worker changed state; ``message`` says why it failed, or what the loading engine is
    doing (building its model cache, on a first run)."""

    state: PipelineState
    message: str | None = None


@dataclass(frozen=True)
class LiveWarning:
    """Something the operator should know (a failed frame, the store refusing writes)."""

    message: str


LiveEvent = FrameResult | PipelineStatus | LiveWarning


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an ascending list (``fraction`` in [0, 1])."""
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def _warm_up(
    engine, models: tuple[str, ...], *, liveness: bool, note: Callable[[str], None]
) -> None:
    """Load the detector, the rule's encoders (``models`` beside dlib's) and the liveness
    models and run them once on synthetic images, so that the first camera frame does not pay
    for loading them (or, on a first run, for building the model cache). Liveness models that
    cannot be loaded fail the start: the console never runs with the check silently off.
    ``note`` is told each step as it starts (``"warming up facenet_keras_v1"``)."""
    from gatekeeper.vision.engine import whole_image_face

    note("warming up the face detector")
    engine.detect(np.zeros((360, 640, 3), np.uint8), pad_retry=False)
    grey = np.full((150, 150, 3), 127, np.uint8)
    faces = [whole_image_face(grey)]
    note(f"warming up {DLIB_MODEL}")
    engine.embed_faces(grey, faces)
    for model_id in models:
        note(f"warming up {model_id}")
        engine.embed(model_id, grey, faces)
    if liveness:
        note("warming up the liveness models")
        engine.live_scores(grey, faces)


class LiveRecognizer:
    """Recognises the people in front of one camera, on a worker thread.

    ``site`` gives the store, the gallery and the engine (pass one built with ``engine=``
    to share an already loaded engine; otherwise it is created on the worker thread). ``feed``
    is a not yet started :class:`CameraFeed`; the recognizer starts it when the engine is ready
    and stops it in :meth:`stop`. ``voice`` greets granted people. ``on_event`` receives every
    :data:`LiveEvent` on the worker thread: it must return quickly (hand the event over to the
    UI thread, don't work in it). ``door`` (started by its owner) receives every decision and
    the camera and store states.

    Settings used: ``camera_id`` (recorded with each attempt), ``votes_required`` /
    ``votes_window`` (K of the last N processed frames), ``recognition_interval_s`` and
    ``visitors.keep`` (keep the face crops of unknown, spoof and denied attempts).
    """

    def __init__(
        self,
        site: Site,
        feed: CameraFeed,
        *,
        voice: Voice | None = None,
        on_event: Callable[[LiveEvent], None] | None = None,
        door: Door | None = None,
    ) -> None:
        settings = site.settings
        self._door = door
        self._site = site
        self._feed = feed
        self._voice = voice
        self._on_event = on_event
        self._camera_id = settings.camera_id
        self._active: dict[str, bool] = {}
        self._reasons: dict[str, str | None] = {}
        self._person_ids: dict[str, int | None] = {}
        #: The rule's tier that last scored each person, recorded with their attempts as the
        #: model that measured the distance (an unknown face: the rule's first tier).
        self._tiers: dict[str, str | None] = {}
        self._rule_name = site.recognition.rule(DEFAULT_THRESHOLD).tiers[0].name
        self._visits = Visits()
        self._policy = DecisionPolicy(
            votes_required=settings.votes_required,
            votes_window=settings.votes_window,
            interval_s=settings.recognition_interval_s,
            is_active=lambda name: self._active.get(name, True),
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = PipelineState.LOADING
        self._latest: FrameResult | None = None
        self._processed_times: deque[float] = deque(maxlen=256)
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._processed = 0
        self._failed = 0
        self._dropped = 0
        self._spoofs = 0
        self._unrecorded: deque[tuple[NewAttempt, FaceCrop | None]] = deque()
        self._visitors = VisitorKeeper(site.store) if settings.visitors.keep else None
        self._next_retry = 0.0
        self._warned_at: dict[str, float] = {}

    # --- the public face ---------------------------------------------------------------------

    @property
    def state(self) -> PipelineState:
        return self._state

    @property
    def unrecorded(self) -> int:
        """Decisions waiting to be written to the store."""
        return len(self._unrecorded)

    def latest(self) -> FrameResult | None:
        """The newest processed frame's result, or ``None`` before the first."""
        return self._latest

    def camera_status(self) -> CameraStatus:
        """The feed's status (cheap; safe from any thread)."""
        return self._feed.status()

    def start(self) -> None:
        """Start the worker (once): load the engine, then start the camera and recognise."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="live-recognizer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker and the camera; waits at most ``timeout`` seconds for the worker
        (an engine still loading is left to finish on its daemon thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._feed.stop()
        if self._visitors is not None:
            self._visitors.close()

    # --- the worker --------------------------------------------------------------------------

    def _emit(self, event: LiveEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("live event callback failed")

    def _set_state(self, state: PipelineState, message: str | None = None) -> None:
        self._state = state
        self._emit(PipelineStatus(state, message))

    def _warn(self, kind: str, message: str) -> None:
        """Publish a warning, at most once per :data:`WARNING_INTERVAL_S` for each ``kind``."""
        now = time.monotonic()
        if now - self._warned_at.get(kind, -math.inf) >= WARNING_INTERVAL_S:
            self._warned_at[kind] = now
            self._emit(LiveWarning(message))

    def _run(self) -> None:
        self._set_state(PipelineState.LOADING)
        self._site.on_engine_load = lambda message: self._set_state(PipelineState.LOADING, message)
        try:
            with self._site.engine_in_use() as engine:
                others = tuple(m for m in self._site.recognition.rule().models if m != DLIB_MODEL)
                _warm_up(
                    engine,
                    others,
                    liveness=self._site.settings.liveness == "passive",
                    note=self._site.report_loading,
                )
        except Exception as exc:
            log.exception("cannot load the recognition engine")
            self._set_state(PipelineState.FAILED, str(exc))
            return
        if self._stop.is_set():
            return
        if self._visitors is not None:
            self._visitors.start()
        self._feed.start()
        self._set_state(PipelineState.READY)
        last_id = 0
        while not self._stop.is_set():
            self._retry_unrecorded()
            if self._door is not None:
                self._door.camera(self._camera_id, self._feed.status().state.value)
            frame = self._feed.wait_for_new(last_id, timeout=_POLL_S)
            if frame is None:
                if self._feed.status().state in (CameraState.ENDED, CameraState.NONE):
                    self._stop.wait(_POLL_S)
                continue
            last_id = frame.frame_id
            started = time.monotonic()
            try:
                result = self._process(frame.frame_id, frame.time, frame.image, started)
            except Exception as exc:
                self._failed += 1
                log.exception("frame %d: processing failed", frame.frame_id)
                self._warn("frame", f"frame {frame.frame_id}: {type(exc).__name__}: {exc}")
                continue
            self._latest = result
            self._emit(result)
        self._retry_unrecorded(force=True)
        if self._unrecorded:
            log.error("%d access attempts could not be recorded", len(self._unrecorded))
        self._set_state(PipelineState.STOPPED)

    def _process(
        self, frame_id: int, captured_at: float, image: np.ndarray, started: float
    ) -> FrameResult:
        """Detect, encode, match, vote and record one frame."""
        threshold = self._site.recognition.threshold
        with self._site.engine_in_use() as engine:
            detected = engine.detect(image, pad_retry=False)
            issues = [quality_issue(f) for f in detected]
            usable = [f for f, issue in zip(detected, issues, strict=True) if issue is None]
            embedded = engine.embed_faces(image, usable)
            visits = self._visits.observe(
                captured_at,
                [f.face.box for f in embedded],
                np.array([f.embedding for f in embedded], np.float32).reshape(-1, 128),
                [f.face.box[2] for f in embedded],
            )
            verdicts = self._site.recognition.judge(
                image,
                [replace(f, embedding=v.dlib()) for f, v in zip(embedded, visits, strict=True)],
                threshold=threshold,
                deciding=lambda match: self._policy.could_decide(match.name, captured_at),
                aggregate=lambda i, model_id, vector: self._visits.add(visits[i], model_id, vector),
            )
        try:
            state_problem = self._site.recognition.state_problem()
        except StoreError:  # never checked yet, and the store is away: no face was judged
            state_problem = None
        if self._door is not None:
            self._door.state(state_problem)
        faces = [
            FaceResult(f.box, None, None, issue)
            for f, issue in zip(detected, issues, strict=True)
            if issue is not None
        ]
        observations: list[FaceObservation] = []
        for face, verdict in zip(embedded, verdicts, strict=True):
            match, name = verdict.match, verdict.identity
            if name is not None:
                if verdict.decision in ("granted", "denied"):
                    self._active[name] = verdict.decision == "granted"
                    self._reasons[name] = verdict.reason
                self._person_ids[name] = match.person_id
                self._tiers[name] = verdict.tier
            box = face.face.box
            faces.append(FaceResult(box, name, _finite(match.distance), verdict.decision))
            spoof = verdict.decision == "spoof"
            observations.append(FaceObservation(name, match.distance, box, spoof))
        decisions = self._policy.update(captured_at, observations)
        recorded = tuple(
            self._record(decision, captured_at, threshold, image) for decision in decisions
        )
        now = time.monotonic()
        self._processed += 1
        self._processed_times.append(now)
        self._latencies.append(now - captured_at)
        return FrameResult(
            frame_id=frame_id,
            captured_at=captured_at,
            processing_s=now - started,
            image=image,
            faces=tuple(faces),
            decisions=recorded,
            threshold=threshold,
            stats=self._stats(now),
            state_problem=state_problem,
        )

    def _record(
        self,
        decision: Decision,
        captured_at: float,
        threshold: float,
        image: np.ndarray,
    ) -> RecordedDecision:
        """Greet a granted person and write the attempt (or queue it for a retry), with the
        face crop of the deciding frame ``image`` when visitors are kept."""
        if decision.kind == "granted" and self._voice is not None and decision.name:
            self._voice.greet(decision.name)
        self._spoofs += decision.kind == "spoof"
        wall = datetime.now(UTC) - timedelta(seconds=time.monotonic() - captured_at)
        values = {
            "camera_id": self._camera_id,
            "decision": decision.kind,
            "threshold": threshold,
            "model_id": self._tiers.get(decision.name) or self._rule_name,
            "name": decision.name,
            "person_id": self._person_ids.get(decision.name) if decision.name else None,
            "distance": _finite(decision.distance),
            "box": decision.box,
            "time": wall,
            "reason": self._reasons.get(decision.name) if decision.kind == "denied" else None,
        }
        crop = None
        if self._visitors is not None and decision.kind in KEPT_DECISIONS:
            crop = face_crop(image, decision.box)
        attempt_id = None
        if not self._unrecorded:  # keep the log in order: queued attempts go first
            try:
                attempt_id = self._site.log.record(**values)
                self._store_state(True)
            except StoreError as exc:
                self._next_retry = time.monotonic() + RETRY_INTERVAL_S
                self._queue_unrecorded(NewAttempt(**values), crop)
                log.warning("cannot record access attempts: %s", exc)
                self._warn(
                    "store",
                    f"cannot record access attempts ({exc}); "
                    f"{len(self._unrecorded)} waiting, retrying",
                )
                self._store_state(False)
            else:
                self._keep_crop(attempt_id, crop, wall)
        else:
            self._queue_unrecorded(NewAttempt(**values), crop)
        if self._door is not None:
            self._door.decision(
                DoorEvent(
                    decision.kind,
                    self._camera_id,
                    wall,
                    name=decision.name,
                    distance=values["distance"],
                    threshold=threshold,
                    attempt_id=attempt_id,
                    reason=values["reason"],
                )
            )
        return RecordedDecision(decision, wall, attempt_id, values["reason"])

    def _store_state(self, ok: bool) -> None:
        if self._door is not None:
            self._door.store(ok, len(self._unrecorded))

    def _keep_crop(self, attempt_id: int, crop: FaceCrop | None, captured: datetime) -> None:
        if crop is not None and self._visitors is not None:
            self._visitors.keep(attempt_id, crop, captured)

    def _queue_unrecorded(self, attempt: NewAttempt, crop: FaceCrop | None) -> None:
        if len(self._unrecorded) >= MAX_UNRECORDED:
            self._unrecorded.popleft()
            self._dropped += 1
            log.error("retry queue full: dropped an unrecorded access attempt")
        self._unrecorded.append((attempt, crop))

    def _retry_unrecorded(self, *, force: bool = False) -> None:
        """Write the queued attempts, oldest first, when a retry is due: in one transaction,
        except that each attempt with a crop is written alone (its id links the crop)."""
        if not self._unrecorded or (not force and time.monotonic() < self._next_retry):
            return
        written = 0
        try:
            while self._unrecorded:
                attempt, crop = self._unrecorded[0]
                if crop is None:
                    batch = list(itertools.takewhile(lambda q: q[1] is None, self._unrecorded))
                    self._site.log.record_many(a for a, _ in batch)
                else:
                    batch = [(attempt, crop)]
                    attempt_id = self._site.log.record(**asdict(attempt))
                    self._keep_crop(attempt_id, crop, attempt.time)
                for _ in batch:
                    self._unrecorded.popleft()
                written += len(batch)
        except StoreError as exc:
            self._next_retry = time.monotonic() + RETRY_INTERVAL_S
            log.warning("cannot record access attempts: %s", exc)
            self._store_state(False)
        else:
            self._store_state(True)
        if written:
            log.info("recorded %d delayed access attempts", written)
            self._emit(LiveWarning(f"recorded {written} delayed access attempts"))

    def _stats(self, now: float) -> LiveStats:
        recent = [t for t in self._processed_times if now - t <= FPS_WINDOW_S]
        span = recent[-1] - recent[0] if len(recent) > 1 else 0.0
        latencies = sorted(self._latencies)
        return LiveStats(
            captured_fps=self._feed.status().captured_fps,
            processed_fps=(len(recent) - 1) / span if span > 0 else 0.0,
            latency_s=self._latencies[-1],
            latency_median_s=statistics.median(latencies),
            latency_p95_s=_percentile(latencies, 0.95),
            processed=self._processed,
            failed=self._failed,
            unrecorded=len(self._unrecorded),
            dropped=self._dropped,
            spoofs=self._spoofs,
        )
