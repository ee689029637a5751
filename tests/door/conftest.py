"""Fixtures for the door tests: a real store, real HTTP endpoints, a real mosquitto broker, a
real command (see ``endpoints``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from endpoints import Broker, HttpEndpoint, RecordingCommand, free_port, require_mosquitto

from gatekeeper.store import Store, open_store


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    """A fresh SQLite store in ``tmp_path``."""
    opened = open_store(str(tmp_path / "door.db"), images_dir=tmp_path / "images")
    yield opened
    opened.close()


@pytest.fixture
def http() -> Iterator[Callable[..., HttpEndpoint]]:
    """``http(hang=False, statuses=None)`` → a started :class:`HttpEndpoint`, closed after."""
    made: list[HttpEndpoint] = []

    def make(**options) -> HttpEndpoint:
        made.append(HttpEndpoint(**options))
        return made[-1]

    yield make
    for endpoint in made:
        endpoint.close()


@pytest.fixture
def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: every connection is refused."""
    return f"http://127.0.0.1:{free_port()}/door"


@pytest.fixture
def broker(tmp_path) -> Iterator[Broker]:
    """A running mosquitto broker on 127.0.0.1 (anonymous), stopped after the test."""
    require_mosquitto()
    folder = tmp_path / "broker"
    folder.mkdir()
    started = Broker(folder)
    started.start()
    yield started
    started.stop()


@pytest.fixture
def recorder(tmp_path) -> RecordingCommand:
    """A real command that records each run's environment and standard input."""
    folder = tmp_path / "command"
    folder.mkdir()
    return RecordingCommand(folder)
