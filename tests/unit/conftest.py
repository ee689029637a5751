"""Fixtures of the fast unit tests (``tests/unit``): pure code, no models, no servers."""

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
