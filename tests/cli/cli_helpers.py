"""Helpers for command-line tests: homes, a refusing engine, subprocess runs, a seeded
database."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gatekeeper.store import open_store


@dataclass(frozen=True)
class Result:
    """What a command did: its exit status and its two output streams."""

    code: int
    out: str
    err: str


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


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a ``gatekeeper`` subprocess: quiet TensorFlow, UTF-8 output."""
    env = dict(os.environ)
    env.pop("GATEKEEPER_HOME", None)
    env.update(PYTHONIOENCODING="utf-8", TF_CPP_MIN_LOG_LEVEL="3", **extra)
    return env


def run_process(*argv: str | Path, timeout: float = 120, **env: str) -> Result:
    """``python -m gatekeeper ARGV`` in a subprocess."""
    completed = subprocess.run(
        [sys.executable, "-m", "gatekeeper", *map(str, argv)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        env=subprocess_env(**env),
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


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
