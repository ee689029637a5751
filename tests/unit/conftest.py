"""Fixtures of the fast unit tests (``tests/unit``): pure code and the store in this process,
no models."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def tokyo_local_time(monkeypatch):
    """The process's local time zone is Asia/Tokyo (UTC+9) for the test, not the machine's: a
    conversion to local time instead of UTC shows."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def keyed_store(database, tmp_path):
    """A new store with an audit key on a fresh database of each backend (``database``)."""
    from gatekeeper.store import open_store

    with open_store(database.url, images_dir=tmp_path / "images", audit_key="test-key") as opened:
        yield opened
