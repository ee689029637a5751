"""The console driven from the keyboard: people, export, threshold, log, camera, layout."""

from __future__ import annotations

import csv
import functools
import os
import shutil
import sqlite3
import stat
from itertools import combinations

import pytest
from textual.command import CommandList
from textual.widgets import Button, DataTable, Footer, Header, Input
from textual.widgets._toast import Toast

from gatekeeper.errors import WeightsError
from gatekeeper.evaluate import evaluation_file
from gatekeeper.store import AttemptFilter, NewAttempt
from gatekeeper.tui.dialogs import (
    ConfirmDialog,
    EnrolDialog,
    ExportDialog,
    QuitDialog,
    ThresholdDialog,
)
from gatekeeper.tui.help_screen import HelpScreen
from gatekeeper.tui.people_screen import PeopleScreen
from gatekeeper.tui.screens import MainScreen
from gatekeeper.tui.widgets import AccessLog, CameraPanel, FramePreview, MatchPanel
from gatekeeper.vision.camera import CameraState, open_source
from gatekeeper.voice import Voice

pytestmark = pytest.mark.slow


def attempt(name: str | None, decision: str, **extra) -> NewAttempt:
    return NewAttempt(
        camera_id="desk",
        decision=decision,
        threshold=0.55,
        model_id="dlib_resnet_v1",
        name=name,
        distance=0.4 if name else 0.8,
        box=(1, 2, 30, 40),
        **extra,
    )


def dialog_error(dialog) -> str:
    return str(dialog.query_one(".dialog-error").content)


def column(log: AccessLog, key: str) -> list[str]:
    """The text of one column of the access log, top to bottom."""
    return [str(log.table.get_cell(str(log.attempt_id_at(i)), key)) for i in range(log.loaded)]


def admin_events(app) -> list[tuple[str, str]]:
    """The admin events, oldest first, without the state record that follows each change."""
    with sqlite3.connect(app.site.settings.database) as db:
        return db.execute(
            "SELECT kind, detail FROM admin_event WHERE kind != 'state' ORDER BY seq"
        ).fetchall()


async def test_enrol_from_an_image_then_remove_keeps_the_history(console, wait_for, shared_data):
    app = console()
    photo = shared_data / "faces" / "train" / "rose_leslie"
    photo = sorted(photo.iterdir())[0]
    async with app.run_test() as pilot:
        await pilot.press("p")
        assert isinstance(app.screen, PeopleScreen)
        await pilot.press("i")
        assert isinstance(app.screen, EnrolDialog)
        await pilot.press(*"rose")
        await pilot.press("tab")
        app.screen.query_one("#path", Input).value = str(photo)
        await pilot.press("enter")  # check: the face is shown, nothing is stored yet
        await wait_for(pilot, lambda: app.screen.query_one("#enrol-face").display, 20)
        assert app.site.store.list_people() == []
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PeopleScreen), 20)
        people = app.screen_stack[-1]
        assert isinstance(people, PeopleScreen)
        table = people.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, 20)
        assert str(table.get_row_at(0)[0]) == "rose"
        (person,) = app.site.store.list_people()
        encoders = len(app.site.recognition.rule().models)  # one encoding per encoder of the rule
        assert (person.name, person.encodings, person.photos) == ("rose", encoders, 1)
        assert any("Enrolled rose" in m for m in app.notes.messages())
        app.site.store.record_attempts([attempt("rose", "granted", person_id=person.id)])

        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDialog)
        assert app.screen.query_one("#ok", Button).variant == "error", "Remove is not primary"
        assert app.screen.focused is app.screen.query_one("#cancel")
        await pilot.press("y")
        await wait_for(pilot, lambda: table.row_count == 0)
        assert app.site.store.list_people() == []
        assert not (app.site.settings.images_dir / "rose").exists()
        (kept,) = app.site.store.query_attempts(AttemptFilter())
        assert (kept.person_name, kept.person_id) == ("rose", None)
        assert any("Removed rose" in m for m in app.notes.messages())
        kinds = [kind for kind, _ in admin_events(app)]
        assert kinds[-1] == "remove" and "enrol" in kinds


async def test_remove_can_be_cancelled_and_enrol_errors_are_notified(
    console, wait_for, shared_data
):
    app = console()
    app.site.people.enrol("kit", [shared_data / "faces" / "probe" / "johnsnow_test1.jpg"])
    async with app.run_test() as pilot:
        await pilot.press("p", "d")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        assert isinstance(app.screen, PeopleScreen)
        assert [p.name for p in app.site.store.list_people()] == ["kit"]

        await pilot.press("i", *"two", "tab")
        app.screen.query_one("#path", Input).value = str(
            shared_data / "faces" / "probe" / "kit_with_rose.jpg"
        )
        await pilot.press("enter")
        error = app.screen.query_one(".dialog-error")
        await wait_for(pilot, lambda: "2 faces" in str(error.content), 20)
        assert isinstance(app.screen, EnrolDialog), "an error keeps the dialog open"
        assert "Largest face" in str(error.content) and "--largest" not in str(error.content)

        app.screen.query_one("#path", Input).value = "/no/such/photo.jpg"
        await pilot.press("enter")
        assert isinstance(app.screen, EnrolDialog), "a missing file keeps the dialog open"
        assert "no such file" in str(app.screen.query_one(".dialog-error").content)
        await pilot.press("escape")
        assert [p.name for p in app.site.store.list_people()] == ["kit"]


async def test_enrol_from_the_camera_needs_exactly_one_face(
    console, wait_for, shared_data, tmp_path
):
    folder = tmp_path / "camera"
    folder.mkdir()
    shutil.copy(shared_data / "faces" / "probe" / "kit_with_rose.jpg", folder / "1.jpg")
    app = console(open_source(str(folder), fps=5, loop=True))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.feed.latest() is not None, 20)
        await pilot.press("p", "c")
        assert isinstance(app.screen, EnrolDialog)
        await pilot.press(*"pair", "enter")
        error = app.screen.query_one(".dialog-error")
        await wait_for(pilot, lambda: "2 faces in the camera frame" in str(error.content), 20)
        assert app.site.store.list_people() == []


async def test_export_through_the_dialog_writes_the_filtered_csv(console, wait_for, tmp_path):
    app = console()
    app.site.store.record_attempts(
        [attempt("lin", "granted"), attempt(None, "unknown"), attempt("lin", "granted")]
    )
    out = tmp_path / "log.csv"
    async with app.run_test() as pilot:
        await pilot.press("x")
        assert isinstance(app.screen, ExportDialog)
        app.screen.query_one("#path", Input).value = str(out)
        app.screen.query_one("#person", Input).value = "lin"
        app.screen.query_one("#since", Input).value = "2000-01-01"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("Exported" in m for m in app.notes.messages()))
    assert f"Exported 2 attempt(s) to {out}" in app.notes.messages()
    with open(out, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [(r["person"], r["decision"], r["camera_id"]) for r in rows] == [
        ("lin", "granted", "desk")
    ] * 2
    assert admin_events(app)[-1][0] == "export"


async def test_export_dialog_rejects_a_bad_date(console, wait_for, tmp_path):
    app = console()
    async with app.run_test() as pilot:
        await pilot.press("x")
        app.screen.query_one("#path", Input).value = str(tmp_path / "x.csv")
        app.screen.query_one("#until", Input).value = "yesterday"
        await pilot.press("enter")
        assert isinstance(app.screen, ExportDialog)
        assert "not a date" in str(app.screen.query_one(".dialog-error").content)
    assert not (tmp_path / "x.csv").exists()


async def test_threshold_change_is_stored_with_an_admin_event(console, wait_for):
    app = console()
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.threshold is not None)
        await pilot.press("t")
        assert isinstance(app.screen, ThresholdDialog)
        app.screen.query_one("#threshold", Input).value = "0.5"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.threshold == 0.5)
        assert app.site.recognition.threshold == 0.5
        kind, detail = admin_events(app)[-1]
        assert kind == "threshold" and detail.endswith("-> 0.5")

        await pilot.press("t")
        app.screen.query_one("#threshold", Input).value = "7"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ThresholdDialog)  # stays open, saying why
        error = str(app.screen.query_one(".dialog-error").content)
        assert "outside the sane range 0.3–0.8" in error
        assert app.site.recognition.threshold == 0.5


async def test_access_log_pages_and_new_attempts_appear_on_top(console, wait_for):
    app = console()
    store = app.site.store
    store.record_attempts(
        attempt("ada" if i % 2 else None, "granted" if i % 2 else "unknown") for i in range(1000)
    )
    async with app.run_test() as pilot:
        log = app.query_one(AccessLog)
        await wait_for(pilot, lambda: log.loaded == AccessLog.PAGE_SIZE)
        newest = store.query_attempts(AttemptFilter(), limit=1)[0]
        assert log.attempt_id_at(0) == newest.id

        await pilot.press("ctrl+end")
        await wait_for(pilot, lambda: log.loaded == 2 * AccessLog.PAGE_SIZE)

        new_id = store.record_attempt(
            camera_id="door",
            name="ada",
            person_id=None,
            distance=0.3,
            threshold=0.55,
            decision="granted",
            model_id="dlib_resnet_v1",
            box=None,
        )
        log.refresh_head()
        await wait_for(pilot, lambda: log.attempt_id_at(0) == new_id)
        assert log.loaded == 2 * AccessLog.PAGE_SIZE + 1

        await pilot.press("f")
        app.screen.query_one("#person", Input).value = "ada"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "person_contains=ada" in str(log.border_title))
        await wait_for(pilot, lambda: log.loaded == AccessLog.PAGE_SIZE)
        assert set(column(log, "person")) == {"ada"}


async def test_help_screen_and_command_palette(console, wait_for):
    app = console()
    async with app.run_test() as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.press(*"people")
        # the palette searches in the background: wait for a command to be highlighted
        commands = app.screen.query_one(CommandList)
        await wait_for(pilot, lambda: commands.highlighted is not None)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PeopleScreen))


async def test_camera_shows_lost_when_its_folder_disappears(
    console, wait_for, shared_data, tmp_path
):
    folder = tmp_path / "camera"
    folder.mkdir()
    for i, name in enumerate(["camera_0.jpg", "camera_1.jpg"]):
        shutil.copy(shared_data / "seed-images" / name, folder / f"{i}.jpg")
    feed = open_source(str(folder), fps=10, loop=True, backoff_initial_s=5, backoff_max_s=5)
    app = console(feed)
    async with app.run_test() as pilot:
        panel = app.query_one(CameraPanel)
        await wait_for(pilot, lambda: "State   live" in str(panel.content), 20)
        shutil.rmtree(folder)
        await wait_for(pilot, lambda: "State   lost" in str(panel.content), 10)
        assert feed.status().state is CameraState.LOST
        assert "cannot read image folder" in str(panel.content)


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_layout_fits_without_overlap(console, wait_for, size):
    app = console()
    titles = ("Camera", "Latest match", "Preview", "Access log", "People", "Quit")
    async with app.run_test(size=size) as pilot:
        screen = app.screen.region
        widgets = [
            app.query_one(Header),
            app.query_one(CameraPanel),
            app.query_one(MatchPanel),
            app.query_one(FramePreview),
            app.query_one(AccessLog),
            app.query_one(Footer),
        ]

        def shown() -> str:
            return app.export_screenshot().replace("&#160;", " ")

        # wait for the screen to be laid out and drawn, however long a loaded machine takes
        await wait_for(pilot, lambda: all(w.region.area > 0 for w in widgets))
        await wait_for(pilot, lambda: all(text in shown() for text in titles))
        for widget in widgets:
            assert screen.contains_region(widget.region), f"{widget} leaves the screen at {size}"
        for a, b in combinations(widgets, 2):
            assert not a.region.overlaps(b.region), f"{a} overlaps {b} at {size}"
        panel = app.query_one(CameraPanel)
        assert panel.region.height >= len(str(panel.content).splitlines()) + 2, "panel cut"
        assert app.query_one(FramePreview).region.height >= 5
        assert app.query_one(AccessLog).region.width >= 40
        await pilot.press("x")
        assert len(app.screen.query(Button)) == 2
        for button in app.screen.query(Button):
            assert screen.contains_region(button.region), f"{button} is cut off at {size}"
        await pilot.press("escape")
        await pilot.press("p")
        people = ("Name", "Last seen", "Enrol: photo", "Remove", "(De)activate", "Back")
        await wait_for(pilot, lambda: all(text in shown() for text in people))
        assert "Enrol: camera" not in shown(), "no camera: enrolling from it is not offered"


async def test_replayed_clip_in_the_console(console, wait_for, shared_data):
    clip = shared_data / "video" / "short_hamilton_clip.mp4"
    # Looping: a machine too loaded to gather Lin's votes on one pass gets another.
    app = console(open_source(str(clip), fps=5, loop=True))
    app.site.people.enrol("lin", [shared_data / "faces" / "probe" / "lin-manuel-miranda.png"])
    async with app.run_test(size=(120, 40)) as pilot:
        match = app.query_one(MatchPanel)
        await wait_for(pilot, lambda: "GRANTED" in str(match.content), 60)
        assert str(match.content).startswith("lin")
        log = app.query_one(AccessLog)

        def logged() -> list[tuple[str, str]]:
            return list(zip(column(log, "person"), column(log, "decision"), strict=True))

        await wait_for(pilot, lambda: ("lin", "granted") in logged())
        preview = app.query_one(FramePreview)
        # the half-block frame itself, not the "waiting for frames…" placeholder drawn before it
        await wait_for(pilot, lambda: "▀" in preview.render_line(preview.size.height // 2).text)
        await wait_for(pilot, lambda: "Process " in str(app.query_one(CameraPanel).content))


async def test_no_speech_engine_is_one_warning_and_the_console_carries_on(
    console, wait_for, monkeypatch
):
    def no_engine():
        raise RuntimeError("no text-to-speech engine (test)")

    monkeypatch.setattr(
        "gatekeeper.tui.app.Voice", functools.partial(Voice, engine_factory=no_engine)
    )
    app = console(mute=False)
    async with app.run_test() as pilot:
        panel = app.query_one(CameraPanel)
        voice = "Voice   off: no text-to-"  # one line, cut to the panel (the log has it whole)
        await wait_for(pilot, lambda: voice in str(panel.content))
        assert app.notes.messages("warning") == [], "the panel says it: no toast on top"
        await pilot.press("p")
        assert isinstance(app.screen, PeopleScreen)


async def test_an_engine_that_cannot_load_is_shown_and_the_log_still_works(console, wait_for):
    class BrokenEngine:
        model_id = "dlib_resnet_v1"

        def detect(self, *args, **kwargs):
            raise WeightsError("weights/dlib_resnet_v1.weights.h5: checksum mismatch")

    app = console(engine=BrokenEngine())
    app.site.store.record_attempts([attempt(None, "unknown")])
    async with app.run_test() as pilot:
        panel = app.query_one(CameraPanel)
        await wait_for(pilot, lambda: "failed" in str(panel.content))
        assert "checksum mismatch" in str(panel.content)
        assert any("Recognition is off" in m for m in app.notes.messages("error"))
        await wait_for(pilot, lambda: app.query_one(AccessLog).loaded == 1)


async def test_loosening_the_threshold_asks_first_with_the_measured_rates(console, wait_for):
    app = console()
    site = app.site
    site.settings.data_dir.mkdir(parents=True, exist_ok=True)
    evaluation_file(site.settings).write_text(
        '{"pairs": "site.csv", "time": "2026-12-01T08:00:00+00:00", '
        '"curve": [[0.6, 0.001, 0.049], [0.7, 0.012, 0.021]]}\n',
        encoding="utf-8",
    )
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.threshold == 0.6)
        await pilot.press("t")
        app.screen.query_one("#threshold", Input).value = "0.7"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        question = str(app.screen.query_one(".dialog-text").content)
        assert "from 0.6 to 0.7" in question
        assert "False accepts 0.1 % → 1.2 %" in question
        assert "false rejects 4.9 % → 2.1 % (this site's last evaluate)" in question
        await pilot.press("n")
        await pilot.pause()
        assert site.recognition.threshold == 0.6 and "threshold" not in dict(admin_events(app))

        await pilot.press("t")
        app.screen.query_one("#threshold", Input).value = "0.7"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.threshold == 0.7)
        assert site.recognition.threshold == 0.7

        await pilot.press("t")  # tightening needs no confirmation
        app.screen.query_one("#threshold", Input).value = "0.65"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.threshold == 0.65)


async def test_a_refused_enrolment_asks_the_operator_before_forcing_it(
    console, wait_for, shared_data
):
    app = console()
    crop = shared_data / "seed-images" / "younes.jpg"  # a 65-pixel face: below the bar
    async with app.run_test() as pilot:
        for answer in ("n", "y"):
            await pilot.press("p")
            await pilot.press("i")
            assert isinstance(app.screen, EnrolDialog)
            await pilot.press(*"younes")
            await pilot.press("tab")
            app.screen.query_one("#path", Input).value = str(crop)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.query_one("#enrol-face").display)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            question = str(app.screen.query_one(".dialog-text").content)
            assert "at least 80 px needed for enrolment. Enrol anyway?" in question
            assert "--force" not in question
            await pilot.press(answer)
            if answer == "n":
                assert isinstance(app.screen, EnrolDialog), "a refusal keeps the dialog open"
                await wait_for(pilot, lambda: "Not enrolled" in dialog_error(app.screen))
                assert app.site.store.list_people() == []
                await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: len(app.site.store.list_people()) == 1)
        (person,) = app.site.store.list_people()
        assert (person.name, person.quality) == ("younes", "low")


async def test_q_asks_before_quitting_and_any_other_key_cancels(console, wait_for):
    app = console()
    async with app.run_test() as pilot:
        for cancel in ("x", "n", "escape", "enter", "q"):
            await pilot.press("q")
            assert isinstance(app.screen, QuitDialog)
            assert "Quit Gatekeeper?" in str(app.screen.query_one(".dialog-title").render())
            await pilot.press(cancel)
            assert isinstance(app.screen, MainScreen), f"{cancel} did not cancel the quit"
        await pilot.press("q", "y")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 0


async def test_export_asks_before_replacing_and_refuses_links_and_special_files(
    console, wait_for, tmp_path
):
    app = console()
    app.site.store.record_attempts([attempt("lin", "granted")])
    out = tmp_path / "log.csv"
    out.write_text("older export\n")
    (tmp_path / "link.csv").symlink_to(out)
    os.mkfifo(tmp_path / "pipe.csv")
    async with app.run_test() as pilot:
        for target, refusal in (("link.csv", "symbolic link"), ("pipe.csv", "not a regular file")):
            await pilot.press("x")
            app.screen.query_one("#path", Input).value = str(tmp_path / target)
            await pilot.press("enter")
            assert isinstance(app.screen, ExportDialog), f"{target} was not refused"
            assert refusal in dialog_error(app.screen)
            await pilot.press("escape")

        for answer in ("n", "y"):
            await pilot.press("x")
            app.screen.query_one("#path", Input).value = str(out)
            await pilot.press("enter")
            assert isinstance(app.screen, ConfirmDialog)
            assert "Replace log.csv?" in str(app.screen.query_one(".dialog-title").render())
            assert app.screen.query_one("#ok", Button).variant == "error"
            await pilot.press(answer)
            if answer == "n":
                await pilot.pause()
                assert out.read_text() == "older export\n"
        await wait_for(pilot, lambda: any("Exported 1" in m for m in app.notes.messages()))
    assert out.read_text().startswith("id,")
    assert (tmp_path / "link.csv").is_symlink() and stat.S_ISFIFO(
        os.lstat(tmp_path / "pipe.csv").st_mode
    )


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_notifications_leave_the_access_log_uncovered(console, wait_for, size):
    app = console()
    async with app.run_test(size=size, notifications=True) as pilot:
        log = app.query_one(AccessLog)
        await wait_for(pilot, lambda: log.region.area > 0)
        for i in range(3):
            app.notify(f"notification {i}: a message long enough to wrap over a few lines")
        await wait_for(pilot, lambda: len(app.screen.query(Toast)) == 3)
        await wait_for(pilot, lambda: all(t.region.area for t in app.screen.query(Toast)))
        for toast in app.screen.query(Toast):
            assert not toast.region.overlaps(log.region), f"{toast.region} covers the log"
        panel = app.query_one(CameraPanel)
        await wait_for(pilot, lambda: "Voice   off (muted)" in str(panel.content))
