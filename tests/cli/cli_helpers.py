"""Helpers for command-line tests: homes, a refusing engine, a seeded database, and the
subprocess runs of ``helpers`` (where tests of other folders find them too)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers import Result, run_process, subprocess_env

from gatekeeper.store import open_store

__all__ = [
    "EngineUsed",
    "NoEngine",
    "Result",
    "make_home",
    "run_process",
    "seed_database",
    "subprocess_env",
]


def make_home(root: Path, weights_dir: Path | None) -> Path:
    """A Gatekeeper home under ``root``; ``weights/`` linked to the session's converted cache so
    no run converts the weights again."""
    home = root / "home"
    home.mkdir(parents=True)
    if weights_dir is not None:
        (home / "weights").symlink_to(weights_dir, target_is_directory=True)
    return home


class EngineUsed(AssertionError):
    """The recognition engine was touched by a command that must fail before needing it."""


class NoEngine:
    """Stands in for the engine where a command must not need it: any use raises."""

    def __getattr__(self, name: str):
        raise EngineUsed(f"the engine was used ({name}) where it should not be needed")


def seed_database(home: Path, database: str | None = None) -> Path:
    """A database with one person (a synthetic embedding and a kept photo), one attempt and a
    threshold, written through the store without the engine, at ``database`` (a path or URL;
    default: the home's own file). Returns the home's database path."""
    path = home / "data" / "gatekeeper.db"
    rng = np.random.default_rng(7)
    with open_store(database or str(path), images_dir=home / "images") as store:
        store.add_encoding(
            "Ada Lovelace",
            model_id="dlib_resnet_v1",
            embedding=(rng.normal(size=128) * 0.125).astype(np.float32),
            image_sha256="ab" * 32,
            photo=b"not really a photo",
        )
        store.record_attempt(
            camera_id="front",
            name="Ada Lovelace",
            person_id=None,
            distance=0.4,
            threshold=0.6,
            decision="granted",
            model_id="dlib_resnet_v1",
            box=(1, 2, 3, 4),
        )
        store.set_threshold(0.6)
    return path
