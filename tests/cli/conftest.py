"""Fixtures for command-line tests: homes in ``tmp_path``, in-process runs sharing one engine,
real subprocesses (helpers in ``cli_helpers``), and the site's database on each backend."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import NoEngine, Result, make_home, run_process

from gatekeeper import cli
from gatekeeper.cli import opening


@pytest.fixture
def site_database(database, monkeypatch):
    """The site's database on each backend (``database``), chosen the way an operator would:
    ``GATEKEEPER_DB`` names it for every command of the test, in this process and in
    subprocesses. On SQLite it is the home's own file (``home/data/gatekeeper.db``)."""
    monkeypatch.setenv("GATEKEEPER_DB", database.url)
    return database


@pytest.fixture
def use_engine(engine, monkeypatch) -> None:
    """In-process commands share the session's engine instead of loading their own."""
    monkeypatch.setattr(opening, "engine_factory", lambda settings: engine)


@pytest.fixture
def no_engine(monkeypatch) -> None:
    """In-process commands get an engine that fails on any use."""
    monkeypatch.setattr(opening, "engine_factory", lambda settings: NoEngine())


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
