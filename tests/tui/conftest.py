"""Fixtures for driving the console headless with ``App.run_test()`` and a ``Pilot``."""

from __future__ import annotations

import io
import time
import unicodedata
from collections.abc import Callable

import pytest
from rich.console import Console
from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

from gatekeeper.config import Settings
from gatekeeper.site import Site
from gatekeeper.tui.app import GatekeeperApp
from gatekeeper.vision.camera import CameraFeed, open_source


class Notes(list):
    """``(message, severity)`` of every notification the app shows (from any thread)."""

    def messages(self, severity: str | None = None) -> list[str]:
        return [m for m, s in self if severity is None or s == severity]


class RecordingApp(GatekeeperApp):
    """The console, keeping every notification in ``notes`` (even those sent while it starts)."""

    def __init__(self, *args, **kwargs) -> None:
        self.notes = Notes()
        super().__init__(*args, **kwargs)

    def notify(self, message, *args, **kwargs) -> None:
        self.notes.append((message, kwargs.get("severity", "information")))
        super().notify(message, *args, **kwargs)


@pytest.fixture
def console(tmp_path, engine) -> Callable[..., RecordingApp]:
    """``console(feed=None, engine=None, **settings)`` → a console on a fresh home in
    ``tmp_path``, muted, with the session's engine unless another is given; its notifications
    are recorded in ``app.notes``."""
    made: list[Site] = []

    def make(feed: CameraFeed | None = None, engine=engine, **overrides) -> RecordingApp:
        overrides = {"mute": True, "camera_id": "desk", **overrides}
        settings = Settings(home=tmp_path / "home", **overrides)
        gatekeeper = Site.open(settings, engine=engine)
        made.append(gatekeeper)
        return RecordingApp(gatekeeper, feed or open_source(None, fps=5, loop=False))

    yield make
    for gatekeeper in made:
        gatekeeper.close()


async def _wait_for(pilot, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        await pilot.pause(0.05)


def _burst(app, keys: list[str]) -> None:
    """The key events Pilot.press makes, queued together (Pilot waits for the app after each
    key, so it never sends a burst)."""
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        try:
            char = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)


def _screen_text(app) -> list[str]:
    """The lines of the terminal as the app draws it now (the text of
    ``app.export_screenshot()``), trailing spaces removed."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False
    )
    console.print(app.screen._compositor.render_update(full=True))
    return [line.rstrip() for line in console.export_text().splitlines()]


@pytest.fixture
def screen_text():
    """``screen_text(app)``: the lines the terminal shows now, as text."""
    return _screen_text


@pytest.fixture
def wait_for():
    """``await wait_for(pilot, predicate, timeout=30)``: let the app run until ``predicate()``
    holds; fail after ``timeout`` seconds."""
    return _wait_for


@pytest.fixture
def burst():
    """``burst(app, keys)``: send ``keys`` to ``app`` all at once, as a paste or a laggy SSH link
    delivers them."""
    return _burst
