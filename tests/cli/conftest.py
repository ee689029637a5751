"""Fixtures for command-line tests: homes in ``tmp_path``, in-process runs sharing one engine,
real subprocesses, and database dumps to prove a failed command changed nothing."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from gatekeeper import cli
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


@pytest.fixture
def use_engine(engine, monkeypatch) -> None:
    """In-process commands share the session's engine instead of loading their own."""
    monkeypatch.setattr(cli, "engine_factory", lambda settings: engine)


@pytest.fixture
def no_engine(monkeypatch) -> None:
    """In-process commands get an engine that fails on any use."""
    monkeypatch.setattr(cli, "engine_factory", lambda settings: NoEngine())


@pytest.fixture
def run(capsys) -> Callable[..., Result]:
    """``run(*argv)``: ``cli.main(argv)`` in this process, with its captured output."""

    def run_main(*argv: str | Path) -> Result:
        capsys.readouterr()
        code = cli.main([str(a) for a in argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run_main


@pytest.fixture(scope="session")
def new_home(weights_dir: Path) -> Callable[[Path], Path]:
    """``new_home(root)``: a home under ``root`` with the session's converted weights."""
    return lambda root: make_home(root, weights_dir)


@pytest.fixture(scope="session")
def process() -> Callable[..., Result]:
    """``process(*argv, **env)``: ``python -m gatekeeper ARGV`` in a subprocess."""
    return run_process


@pytest.fixture
def home(tmp_path: Path, weights_dir: Path) -> Path:
    """A fresh home with the converted weights."""
    return make_home(tmp_path, weights_dir)


@pytest.fixture
def bare_home(tmp_path: Path) -> Path:
    """A fresh home without weights, for commands that never need the engine."""
    return make_home(tmp_path, None)


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


@pytest.fixture
def seeds(shared_data: Path, tmp_path: Path) -> Path:
    """The 12 seed face crops (no camera frames) copied into their own folder."""
    folder = tmp_path / "seeds"
    folder.mkdir()
    for photo in (shared_data / "seed-images").iterdir():
        if not photo.stem.startswith("camera_"):
            shutil.copy(photo, folder / photo.name)
    assert len(list(folder.iterdir())) == 12
    return folder


@pytest.fixture
def probe(shared_data: Path) -> Callable[[str], Path]:
    """``probe(name)``: a photo of ``faces/probe``."""
    return lambda name: shared_data / "faces" / "probe" / name


@pytest.fixture
def train(shared_data: Path) -> Iterator[Path]:
    """The ``faces/train`` folder: one sub-folder of photos per person."""
    yield shared_data / "faces" / "train"
