"""Fixtures for store tests: real SQLite files under pytest's ``tmp_path``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gatekeeper.store import Store, open_store


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A Gatekeeper home folder with no data yet."""
    return tmp_path / "home"


@pytest.fixture
def db_path(home: Path) -> Path:
    return home / "data" / "gatekeeper.db"


@pytest.fixture
def images_dir(home: Path) -> Path:
    return home / "images"


@pytest.fixture
def store(db_path: Path, images_dir: Path) -> Iterator[Store]:
    """A new store with an audit key."""
    with open_store(str(db_path), images_dir=images_dir, audit_key="test-key") as opened:
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
