"""The live recognition loop: the real clip replayed as the camera, and injected faults."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from helpers import wait_until

from gatekeeper.config import Settings
from gatekeeper.decision import DLIB_MODEL, Evidence
from gatekeeper.errors import StoreError
from gatekeeper.live import (
    FrameResult,
    LiveRecognizer,
    LiveWarning,
    PipelineState,
    PipelineStatus,
)
from gatekeeper.site import Site
from gatekeeper.store import AttemptFilter
from gatekeeper.vision.camera import CameraFeed, CameraState, SystemClock, open_source
from gatekeeper.vision.detect import Face
from gatekeeper.vision.engine import FaceEmbedding

CLIP = "video/short_hamilton_clip.mp4"
CLIP_FRAMES = 275
CLIP_SECONDS = CLIP_FRAMES / 29.97


class Events(list):
    """Collects the recognizer's events (appended on its thread)."""

    def frames(self) -> list[FrameResult]:
        return [e for e in self if isinstance(e, FrameResult)]

    def warnings(self) -> list[str]:
        return [e.message for e in self if isinstance(e, LiveWarning)]

    def states(self) -> list[PipelineState]:
        return [e.state for e in self if isinstance(e, PipelineStatus)]


class FakeVoice:
    def __init__(self) -> None:
        self.greeted: list[str] = []

    def greet(self, name: str) -> None:
        self.greeted.append(name)


# --- the real clip -------------------------------------------------------------------------


@pytest.mark.slow
def replay_the_clip(recognizer, feed) -> None:
    """Run ``recognizer`` on the clip's ``feed`` until the clip has ended and the worker has
    processed its last frame (however fast the machine, the newest one), then stop it."""
    recognizer.start()
    try:
        assert wait_until(lambda: feed.status().state is CameraState.ENDED, CLIP_SECONDS + 30)
        assert wait_until(lambda: recognizer.latest().frame_id == CLIP_FRAMES, 30)
    finally:
        recognizer.stop()


def test_replayed_clip_grants_lin_once_per_interval_and_nobody_else(tmp_path, shared_data, engine):
    interval = 3.0
    settings = Settings(home=tmp_path, camera_id="door", recognition_interval_s=interval)
    gatekeeper = Site.open(settings, engine=engine)
    probe = shared_data / "faces" / "probe"
    gatekeeper.people.enrol("lin", [probe / "lin-manuel-miranda.png"])
    gatekeeper.people.enrol("alex", [probe / "alex-lacamoire.png"])
    feed = open_source(str(shared_data / CLIP), fps=5.0, loop=False)
    events, voice = Events(), FakeVoice()
    recognizer = LiveRecognizer(gatekeeper, feed, voice=voice, on_event=events.append)
    replay_the_clip(recognizer, feed)

    frames = events.frames()
    assert len(frames) >= 20, "the worker processed too few frames"
    ids = [f.frame_id for f in frames]
    assert ids == sorted(set(ids)), "frames must be processed once each, oldest first"
    assert all(f.stats.latency_s > 0 for f in frames)
    assert events.states()[0] is PipelineState.LOADING
    assert PipelineState.READY in events.states()

    rows = list(gatekeeper.store.iter_attempts(AttemptFilter()))
    granted = [r for r in rows if r.decision == "granted"]
    assert {r.person_name for r in granted} == {"lin"}, "only Lin may be granted"
    # Once per interval, not once per frame: at most one grant per started interval.
    assert 1 <= len(granted) <= int(CLIP_SECONDS // interval) + 1
    gaps = [(b.time - a.time).total_seconds() for a, b in zip(granted, granted[1:], strict=False)]
    assert all(gap >= interval - 0.05 for gap in gaps), gaps
    assert all(
        r.camera_id == "door" and r.threshold == gatekeeper.recognition.threshold for r in rows
    )
    assert all(r.distance is not None and r.distance <= r.threshold for r in granted)
    unknown = [r for r in rows if r.decision == "unknown"]
    assert unknown, "the unenrolled people on stage should be unknown attempts"
    assert all(r.person_name is None and r.box is not None for r in unknown)
    assert voice.greeted == ["lin"] * len(granted)
    recorded = [d.attempt_id for f in frames for d in f.decisions]
    assert sorted(recorded) == sorted(r.id for r in rows)


# --- injected faults, with a scripted engine ------------------------------------------------

#: The scripted engine's embeddings stand for dlib's: the rule's last tier judges them alone.
MODEL = DLIB_MODEL
ADA = np.full(128, 0.1, np.float32)
#: Landmarks of a frontal face in the scripted 60×70 box: eyes, nose, mouth corners.
FRONTAL = np.array([[25, 30], [55, 30], [40, 45], [28, 62], [52, 62]], np.float32)


class ScriptedEngine:
    """Reads the scene from the frame's first pixel: 0 nobody, 1 Ada, 2 a crash, 3 a tiny
    face of Ada (too small to be evidence), 4 a stranger, 5 a photo of Ada (not live)."""

    model_id = MODEL

    def __init__(self) -> None:
        self.scored = 0

    def live_scores(self, rgb, faces):
        self.scored += len(faces)
        return np.full(len(faces), 0.05 if int(rgb[0, 0, 0]) == 5 else 0.99, np.float32)

    def embed(self, model_id, rgb, faces):
        return None  # no other encoder: the rule judges dlib's distance alone

    def problem(self, model_id):
        return f"{model_id} is not installed (scripted engine)"

    def detect(self, rgb, *, pad_retry=True, whole_image=False):
        code = int(rgb[0, 0, 0])
        if code == 2:
            raise RuntimeError("injected detector failure")
        if code in (1, 4, 5):
            return [Face((10, 10, 60, 70), FRONTAL, 0.99)]
        if code == 3:
            return [Face((10, 10, 20, 24), FRONTAL * 0.3, 0.99)]
        return []

    def embed_faces(self, rgb, faces):
        embedding = ADA if int(rgb[0, 0, 0]) in (1, 3, 5) else -ADA
        return [
            FaceEmbedding(f, np.zeros((150, 150, 3), np.uint8), embedding, MODEL) for f in faces
        ]


class ScriptedSource:
    """A replayed 'file' of frames whose first pixel carries the scene code.

    With a ``turn`` semaphore, each read first waits (up to 10 s) for the worker to have
    published the previous frame's result: every frame is processed, however loaded the
    machine, for tests that count decisions over exact frame sequences."""

    description = "scripted"
    live = False

    def __init__(self, codes: list[int], fps: float, turn: threading.Semaphore | None) -> None:
        self.codes, self.fps, self.turn = codes, fps, turn

    def open(self):
        source = self

        class Reader:
            fps = source.fps
            frames = iter(source.codes)

            def read(self):
                if source.turn is not None:
                    source.turn.acquire(timeout=10)
                code = next(self.frames, None)
                return None if code is None else np.full((120, 160, 3), code, np.uint8)

            def release(self):
                pass

        return Reader()


class FlakyStore:
    """The real store, except that writing attempts fails while ``failing`` is set."""

    def __init__(self, store) -> None:
        self._store = store
        self.failing = threading.Event()

    def __getattr__(self, name):
        return getattr(self._store, name)

    def record_attempt(self, **values):
        if self.failing.is_set():
            raise StoreError("database is locked (injected)")
        return self._store.record_attempt(**values)

    def record_attempts(self, attempts):
        if self.failing.is_set():
            raise StoreError("database is locked (injected)")
        return self._store.record_attempts(attempts)


class DownStore(FlakyStore):
    """The real store, except that every read and write fails while ``failing`` is set, as
    with a database server that is restarting."""

    def get_threshold(self, default):
        if self.failing.is_set():
            raise StoreError("database unavailable (injected)")
        return self._store.get_threshold(default)

    def data_version(self):
        if self.failing.is_set():
            raise StoreError("database unavailable (injected)")
        return self._store.data_version()


def scripted(
    tmp_path,
    codes,
    *,
    fps=50.0,
    store=None,
    clock=None,
    lockstep=True,
    voice=None,
    door=None,
    **settings,
):
    """A recognizer on a scripted engine and source; with ``lockstep`` the source delivers
    each frame only once the previous one was processed (or failed). ``door(store)`` makes the
    door the recognizer feeds."""
    settings = Settings(home=tmp_path, camera_id="test", **settings)
    gatekeeper = Site.open(settings, engine=ScriptedEngine())
    if store is not None:
        gatekeeper = Site.open(settings, engine=ScriptedEngine(), store=store(gatekeeper.store))
    gatekeeper.store.add_encoding("ada", model_id=MODEL, embedding=ADA, image_sha256="a" * 64)
    turn = threading.Semaphore(1) if lockstep else None
    source = ScriptedSource(codes, fps, turn)
    feed = CameraFeed(source, **({"clock": clock} if clock else {}))
    events = Events()

    def on_event(event) -> None:
        events.append(event)
        failed = isinstance(event, LiveWarning) and event.message.startswith("frame ")
        if turn is not None and (isinstance(event, FrameResult) or failed):
            turn.release()

    recognizer = LiveRecognizer(
        gatekeeper,
        feed,
        voice=voice,
        on_event=on_event,
        door=None if door is None else door(gatekeeper.store),
    )
    return gatekeeper, feed, events, recognizer


def attempts(gatekeeper):
    return list(gatekeeper.store.iter_attempts(AttemptFilter()))


def test_a_failing_frame_is_reported_and_the_next_ones_are_processed(tmp_path, caplog):
    gatekeeper, feed, events, recognizer = scripted(tmp_path, [0, 2, 1, 1, 1, 0])
    recognizer.start()
    try:
        assert wait_until(lambda: feed.status().state is CameraState.ENDED, 10)
        assert wait_until(lambda: len(events.frames()) == 5, 5)
    finally:
        recognizer.stop()
    assert events.frames()[-1].stats.failed == 1
    assert any("injected detector failure" in w for w in events.warnings())
    assert "processing failed" in caplog.text
    assert [r.person_name for r in attempts(gatekeeper)] == ["ada"]


def test_tiny_faces_are_boxed_but_never_vote(tmp_path):
    gatekeeper, feed, events, recognizer = scripted(tmp_path, [3] * 8)
    recognizer.start()
    try:
        assert wait_until(lambda: len(events.frames()) == 8, 10)
    finally:
        recognizer.stop()
    assert all(f.faces[0].verdict.startswith("too small") for f in events.frames())
    assert attempts(gatekeeper) == []


def test_strangers_make_one_rate_limited_unknown_attempt(tmp_path):
    gatekeeper, feed, events, recognizer = scripted(tmp_path, [4] * 10)
    recognizer.start()
    try:
        assert wait_until(lambda: len(events.frames()) == 10, 10)
    finally:
        recognizer.stop()
    rows = attempts(gatekeeper)
    assert [(r.decision, r.person_name) for r in rows] == [("unknown", None)]
    (dlib_tier,) = [t for t in gatekeeper.recognition.rule().tiers if t.models == (DLIB_MODEL,)]
    score = dlib_tier.score(Evidence({DLIB_MODEL: float(np.linalg.norm(2 * ADA))}))
    assert rows[0].distance == pytest.approx(score, rel=1e-5)  # the dlib tier's score


def test_a_photo_of_an_enrolled_person_is_a_spoof_never_a_grant(tmp_path):
    """Ada's photo held up for 12 frames: the votes for Ada are dlib's (cheap), liveness is
    asked on each deciding frame only (every third frame: a spoof consumes the votes), one
    ``spoof`` attempt per interval is logged with her name, and nobody is greeted. Then Ada
    herself is granted."""
    voice = FakeVoice()
    gatekeeper, feed, events, recognizer = scripted(tmp_path, [5] * 12 + [1] * 3, voice=voice)
    recognizer.start()
    try:
        assert wait_until(lambda: len(events.frames()) == 15, 10)
    finally:
        recognizer.stop()
    rows = attempts(gatekeeper)
    assert [(r.decision, r.person_name) for r in rows] == [("spoof", "ada"), ("granted", "ada")]
    # the warm-up's grey face, frames 3, 6, 9 and 12, and Ada's third frame
    assert gatekeeper.engine.scored == 1 + 4 + 1
    verdicts = [f.faces[0].verdict for f in events.frames()[:12]]
    assert verdicts == ["granted", "granted", "spoof"] * 4  # provisional votes, then the check
    assert voice.greeted == ["ada"]
    assert gatekeeper.store.verify_chain().ok


def test_with_liveness_off_a_photo_is_granted_and_never_scored(tmp_path):
    gatekeeper, feed, events, recognizer = scripted(tmp_path, [5] * 3, liveness="off")
    recognizer.start()
    try:
        assert wait_until(lambda: len(events.frames()) == 3, 10)
    finally:
        recognizer.stop()
    assert [r.decision for r in attempts(gatekeeper)] == ["granted"]
    assert gatekeeper.engine.scored == 0


def test_decisions_the_store_refuses_are_retried_with_their_own_time(tmp_path):
    gatekeeper, feed, events, recognizer = scripted(tmp_path, [1] * 5, fps=20, store=FlakyStore)
    gatekeeper.store.failing.set()
    before = datetime.now(UTC)
    recognizer.start()
    try:
        assert wait_until(lambda: len(events.frames()) == 5, 10)
        decided = [d for f in events.frames() for d in f.decisions]
        assert [(d.decision.kind, d.attempt_id) for d in decided] == [("granted", None)]
        assert recognizer.unrecorded == 1
        assert attempts(gatekeeper) == []
        assert any("cannot record access attempts" in w for w in events.warnings())
        gatekeeper.store.failing.clear()
        assert wait_until(lambda: recognizer.unrecorded == 0, 5)
    finally:
        recognizer.stop()
    (row,) = attempts(gatekeeper)
    assert row.person_name == "ada" and row.decision == "granted"
    assert before <= row.time <= decided[0].time
    assert any("recorded 1 delayed" in w for w in events.warnings())


def test_a_store_that_is_down_for_reads_too_does_not_stop_recognition(tmp_path):
    """While the database cannot be read either, the worker decides with the threshold and
    gallery it last read, queues the attempts, and writes them in order once it is back."""
    codes = [1] * 3 + [0] * 3 + [1] * 3
    gatekeeper, feed, events, recognizer = scripted(
        tmp_path, codes, fps=20, store=DownStore, recognition_interval_s=0.0, votes_required=1
    )
    recognizer.start()
    try:
        assert wait_until(lambda: len(events.frames()) >= 1, 10)
        gatekeeper.store.failing.set()
        assert wait_until(lambda: len(events.frames()) == len(codes), 10)
        frames = events.frames()
        assert recognizer.unrecorded > 0 and not any(
            "processing failed" in w for w in events.warnings()
        )
        assert frames[-1].stats.failed == 0
        waiting = recognizer.unrecorded
        gatekeeper.store.failing.clear()
        assert wait_until(lambda: recognizer.unrecorded == 0, 5)
    finally:
        recognizer.stop()
    rows = attempts(gatekeeper)
    decided = [d for f in events.frames() for d in f.decisions]
    assert len(rows) == len(decided) and waiting <= len(rows)
    assert [r.decision for r in rows] == [d.decision.kind for d in decided]
    assert gatekeeper.store.verify_chain().ok


class GatedEngine(ScriptedEngine):
    """Stops in the first camera frame (pixel ``[0, 0, 1]`` is the frame's number) until
    ``release`` is set; ``busy`` says it got there."""

    def __init__(self) -> None:
        super().__init__()
        self.busy, self.release = threading.Event(), threading.Event()

    def detect(self, rgb, **options):
        if int(rgb[0, 0, 1]) == 1:
            self.busy.set()
            self.release.wait(10)
        return super().detect(rgb, **options)


class GatedSource:
    """Ten frames of Ada, numbered in pixel ``[0, 0, 1]``, unpaced; frames 2-10 come only once
    ``engine`` is busy with frame 1."""

    description = "gated"
    live = False

    def __init__(self, engine: GatedEngine) -> None:
        self.engine = engine

    def open(self):
        engine = self.engine

        class Reader:
            fps = None
            number = 0

            def read(self):
                self.number += 1
                if self.number == 2:
                    engine.busy.wait(10)
                if self.number > 10:
                    return None
                frame = np.full((120, 160, 3), 1, np.uint8)
                frame[0, 0, 1] = self.number
                return frame

            def release(self):
                pass

        return Reader()


def test_a_busy_worker_takes_the_newest_frame_next_and_never_a_stale_one(tmp_path):
    engine = GatedEngine()
    gatekeeper = Site.open(Settings(home=tmp_path), engine=engine)
    feed = CameraFeed(GatedSource(engine))
    events = Events()
    recognizer = LiveRecognizer(gatekeeper, feed, on_event=events.append)
    recognizer.start()
    try:
        # frames 2-10 arrive while the worker is busy with frame 1
        assert wait_until(lambda: feed.status().state is CameraState.ENDED, 10)
        assert engine.busy.is_set() and events.frames() == []
        engine.release.set()
        assert wait_until(lambda: len(events.frames()) == 2, 10)
    finally:
        engine.release.set()
        recognizer.stop()
    assert [f.frame_id for f in events.frames()] == [1, 10]


class HourBehindClock(SystemClock):
    """Real time, an hour behind: every frame was captured an hour before it is processed."""

    def monotonic(self) -> float:
        return super().monotonic() - 3600


def test_an_attempt_carries_its_frames_capture_time_not_the_time_it_was_recorded(tmp_path):
    gatekeeper, feed, events, recognizer = scripted(tmp_path, [1] * 3, clock=HourBehindClock())
    before = datetime.now(UTC)
    recognizer.start()
    try:
        assert wait_until(lambda: len(events.frames()) == 3, 10)
    finally:
        recognizer.stop()
    after = datetime.now(UTC)
    (row,) = attempts(gatekeeper)
    (decided,) = [d for f in events.frames() for d in f.decisions]
    hour, second = timedelta(hours=1), timedelta(seconds=1)
    assert before - hour - second <= row.time <= after - hour + second
    assert decided.time == row.time


def test_a_forged_audit_log_grants_nobody_is_not_extended_and_the_attempt_waits(tmp_path):
    """A head the key did not sign: the state it vouches for is not trusted, so the enrolled
    person is denied with the reason (and the frame says why), and the chain is not extended:
    the denial waits in the retry queue."""
    gatekeeper, feed, events, recognizer = scripted(tmp_path, [1] * 5, audit_key="site-key")
    with contextlib.closing(sqlite3.connect(gatekeeper.store.path)) as db, db:
        db.execute("UPDATE chain_head SET signature = NULL")  # as after a rewrite without the key
    recognizer.start()
    try:
        assert wait_until(lambda: len(events.frames()) == 5, 10)
    finally:
        recognizer.stop()
    decided = [d for f in events.frames() for d in f.decisions]
    assert [(d.decision.kind, d.attempt_id) for d in decided] == [("denied", None)]
    assert decided[0].reason == (
        "state changed outside Gatekeeper: the chain head is not signed (rewritten, or written "
        "without the key)"
    )
    assert events.frames()[-1].state_problem.startswith("the chain head is not signed")
    assert recognizer.unrecorded == 1, "the attempt waits in the retry queue"
    assert any("refusing to extend the audit log" in w for w in events.warnings())
    assert attempts(gatekeeper) == []


def test_no_camera_is_a_state_and_stop_is_prompt(tmp_path):
    settings = Settings(home=tmp_path)
    gatekeeper = Site.open(settings, engine=ScriptedEngine())
    feed = open_source(None, fps=5, loop=False)
    events = Events()
    recognizer = LiveRecognizer(gatekeeper, feed, on_event=events.append)
    recognizer.start()
    assert wait_until(lambda: recognizer.state is PipelineState.READY, 5)
    assert recognizer.camera_status().state is CameraState.NONE
    started = time.monotonic()
    recognizer.stop()
    assert time.monotonic() - started < 2
    assert events.states() == [PipelineState.LOADING, PipelineState.READY, PipelineState.STOPPED]


def test_someone_enrolled_while_running_is_recognised_without_restart(tmp_path):
    gatekeeper, feed, events, recognizer = scripted(tmp_path, [4] * 60, fps=20, lockstep=False)
    recognizer.start()
    try:
        assert wait_until(lambda: len(events.frames()) >= 5, 10)
        # Another process (the CLI, the console's people screen) enrols the stranger.
        other = Site.open(gatekeeper.settings, engine=ScriptedEngine())
        other.store.add_encoding("bob", model_id=MODEL, embedding=-ADA, image_sha256="b" * 64)
        other.close()
        assert wait_until(lambda: feed.status().state is CameraState.ENDED, 10)
    finally:
        recognizer.stop()
    decided = [(r.decision, r.person_name) for r in attempts(gatekeeper)]
    assert decided == [("unknown", None), ("granted", "bob")]


# --- access schedules, with a controlled clock ---------------------------------------------

#: Tuesday 1 December 2026, 10:00 in Berlin (09:00 UTC), and the Saturday after.
TUESDAY_10 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SATURDAY_10 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def _run_scripted(tmp_path, codes, now, *, voice=None, **settings):
    """Replay ``codes`` with Ada on the ``staff`` schedule (Mon-Fri 07:00-19:00, Berlin) and
    the clock stopped at ``now``; returns the service and the frames."""
    gatekeeper, feed, events, recognizer = scripted(
        tmp_path, codes, voice=voice, timezone="Europe/Berlin", **settings
    )
    gatekeeper.clock = lambda: now
    gatekeeper.store.set_schedule("staff", [(day, 7 * 60, 19 * 60) for day in range(5)])
    gatekeeper.store.assign_schedule("ada", "staff")
    recognizer.start()
    try:
        assert wait_until(lambda: len(events.frames()) == len(codes), 10)
    finally:
        recognizer.stop()
    return gatekeeper, events


def test_inside_her_schedule_ada_is_granted_and_outside_denied_with_the_reason(tmp_path):
    voice = FakeVoice()
    gatekeeper, events = _run_scripted(tmp_path, [1] * 3, TUESDAY_10, voice=voice)
    assert [(r.decision, r.reason) for r in attempts(gatekeeper)] == [("granted", None)]
    assert voice.greeted == ["ada"]

    voice = FakeVoice()
    gatekeeper, events = _run_scripted(tmp_path, [1] * 3, SATURDAY_10, voice=voice)
    rows = attempts(gatekeeper)
    assert [(r.decision, r.person_name, r.reason) for r in rows] == [
        ("granted", "ada", None),
        ("denied", "ada", "outside schedule staff"),
    ]
    assert voice.greeted == [], "a denied person is not greeted"
    (decided,) = [d for f in events.frames() for d in f.decisions]
    assert (decided.decision.kind, decided.reason, decided.attempt_id) == (
        "denied",
        "outside schedule staff",
        rows[-1].id,
    )
    assert [f.faces[0].verdict for f in events.frames()] == ["denied"] * 3
    assert gatekeeper.engine.scored == 1, "only the warm-up face: a denied face is not scored"
    assert gatekeeper.store.verify_chain().ok


def test_validity_dates_deny_on_the_local_date(tmp_path):
    gatekeeper, feed, events, recognizer = scripted(tmp_path, [1] * 3, timezone="Europe/Berlin")
    gatekeeper.clock = lambda: TUESDAY_10
    gatekeeper.store.set_validity("ada", None, datetime(2026, 11, 30).date())
    recognizer.start()
    try:
        assert wait_until(lambda: len(events.frames()) == 3, 10)
    finally:
        recognizer.stop()
    assert [(r.decision, r.reason) for r in attempts(gatekeeper)] == [
        ("denied", "expired after 2026-11-30")
    ]


def test_a_schedule_changed_elsewhere_applies_from_the_next_frame(tmp_path):
    """The console runs on Saturday with Ada denied; the CLI (another Gatekeeper) opens her
    schedule on Saturdays: the next decisions grant her, with no restart."""
    gatekeeper, feed, events, recognizer = scripted(
        tmp_path,
        [1] * 200,
        fps=20,
        lockstep=False,
        timezone="Europe/Berlin",
        recognition_interval_s=0,
    )
    gatekeeper.clock = lambda: SATURDAY_10
    gatekeeper.store.set_schedule("staff", [(day, 7 * 60, 19 * 60) for day in range(5)])
    gatekeeper.store.assign_schedule("ada", "staff")
    recognizer.start()
    try:
        assert wait_until(lambda: any(r.decision == "denied" for r in attempts(gatekeeper)), 10)
        other = Site.open(gatekeeper.settings, engine=ScriptedEngine())
        other.store.set_schedule("staff", [(day, 7 * 60, 19 * 60) for day in range(6)])
        other.close()
        assert wait_until(lambda: attempts(gatekeeper)[-1].decision == "granted", 10)
    finally:
        recognizer.stop()
    decisions = [r.decision for r in attempts(gatekeeper)]
    first_grant = decisions.index("granted")
    assert set(decisions[:first_grant]) == {"denied"} and set(decisions[first_grant:]) == {
        "granted"
    }
