"""Helpers for command-line tests: homes, a refusing engine, subprocess runs, database dumps."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
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


def dump(database: Path) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: equal dumps mean an unchanged database."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            table: sorted(connection.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
            for table in tables
        }
    finally:
        connection.close()


def seed_database(home: Path) -> Path:
    """A database with one person (a synthetic embedding and a kept photo), one attempt and a
    threshold, written through the store without the engine. Returns the database path."""
    database = home / "data" / "gatekeeper.db"
    rng = np.random.default_rng(7)
    with open_store(str(database), images_dir=home / "images") as store:
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
    return database


@contextlib.contextmanager
def exclusive_lock(database: Path) -> Iterator[None]:
    """Hold ``BEGIN EXCLUSIVE`` on ``database`` from another process for the block."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
            str(database),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.communicate("", timeout=10)
