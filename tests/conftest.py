"""Fixtures shared by the whole test suite."""

from pathlib import Path

import pytest

#: The team's reference photos and video: ``../shared/data`` beside the project root.
SHARED_DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared test-data folder (see its README.md); skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    """A weights cache converted once per test session (conversion takes a few seconds)."""
    from gatekeeper.vision.encoder import load_model

    directory = tmp_path_factory.mktemp("weights")
    load_model(directory)
    return directory


@pytest.fixture(scope="session")
def engine(weights_dir):
    """One FaceEngine (MTCNN + the Keras encoder) for the whole session."""
    from gatekeeper.vision.engine import FaceEngine

    return FaceEngine(weights_dir)
