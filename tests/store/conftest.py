"""Fixtures for store tests: real databases, each test on both backends (``database``, from
``tests/conftest.py``: a SQLite file under pytest's ``tmp_path`` and a new PostgreSQL database).
``db_path`` is the SQLite file of tests of what only SQLite has (files, modes, pragmas)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import DatabaseUnderTest

from gatekeeper.store import Store, open_store


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A Gatekeeper home folder with no data yet."""
    return tmp_path / "home"


@pytest.fixture
def db_path(home: Path) -> Path:
    """The SQLite file of SQLite-only tests (where ``database`` puts it too)."""
    return home / "data" / "gatekeeper.db"


@pytest.fixture
def images_dir(home: Path) -> Path:
    return home / "images"


@pytest.fixture
def store(database: DatabaseUnderTest, images_dir: Path) -> Iterator[Store]:
    """A new store with an audit key, on each backend."""
    with open_store(database.url, images_dir=images_dir, audit_key="test-key") as opened:
        yield opened


def _embedding(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=128) * 0.125).astype(np.float32)


@pytest.fixture
def make_embedding() -> Callable[[int], np.ndarray]:
    """``make_embedding(seed)``: a deterministic float32 (128,) embedding, norm about 1.4."""
    return _embedding


def _attempt(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "camera_id": "front-door",
        "name": "Alice",
        "person_id": None,
        "distance": 0.41,
        "threshold": 0.6,
        "decision": "granted",
        "model_id": "dlib_resnet_v1",
        "box": (10, 20, 110, 120),
    }
    values.update(overrides)
    return values


@pytest.fixture
def attempt() -> Callable[..., dict[str, Any]]:
    """``attempt(**overrides)``: keyword arguments of a plausible granted attempt for
    ``Store.record_attempt``."""
    return _attempt


@pytest.fixture
def sha() -> Callable[[bytes], str]:
    """``sha(data)``: hex SHA-256 of bytes."""
    return lambda data: hashlib.sha256(data).hexdigest()
