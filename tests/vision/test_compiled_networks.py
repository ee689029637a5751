"""The compiled networks (LiteRT) against their Keras models on real faces, and their cache:
verified by sha256, rebuilt when altered or foreign, refused when the export disagrees."""

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gatekeeper.config import Settings
from gatekeeper.errors import WeightsError
from gatekeeper.evaluate import read_pairs
from gatekeeper.site import Site
from gatekeeper.vision import compile as compile_step
from gatekeeper.vision import encoder, facenet, liveness, runtime, sface
from gatekeeper.vision.image import load_image
from gatekeeper.vision.measure import FaceMeasure
from gatekeeper.vision.quality import measure_quality
from gatekeeper.vision.runtime import CompiledCache

TOLERANCE = 1e-4
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shared_faces(engine, shared_data):
    """(rgb, face) of every face of the shared photos."""
    photos = sorted(p for f in ("faces", "seed-images") for p in (shared_data / f).rglob("*.*"))
    found = []
    for path in photos:
        rgb = load_image(path)
        found += [(rgb, face) for face in engine.detect(rgb)]
    assert len(found) == 45
    return found


@pytest.fixture(scope="module")
def keras_models(weights_dir):
    return {
        encoder.MODEL_ID: encoder.load_model(weights_dir),
        facenet.MODEL_ID: facenet.load_model(weights_dir),
        sface.MODEL_ID: sface.load_model(weights_dir),
        **{v.name: liveness.load_model(v) for v in liveness.VARIANTS},
    }


def test_dlib_export_matches_keras_on_every_shared_face(engine, shared_faces, keras_models):
    chips = np.stack([engine.embed_faces(rgb, [face])[0].chip for rgb, face in shared_faces])
    keras = np.asarray(keras_models[encoder.MODEL_ID](chips.astype(np.float32), training=False))
    assert np.abs(engine.encoder.encode(chips) - keras).max() <= TOLERANCE
    single = engine.encoder.encode(chips[:1])  # batch size changes: tensors reallocated
    assert np.abs(single - keras[:1]).max() <= TOLERANCE


def test_facenet_export_matches_keras_on_every_shared_face(engine, shared_faces, keras_models):
    crops = np.stack([facenet.facenet_crop(rgb, face) for rgb, face in shared_faces])
    keras = np.asarray(keras_models[facenet.MODEL_ID](facenet.prewhiten(crops), training=False))
    assert np.abs(engine.facenet.encode_raw(crops) - keras).max() <= TOLERANCE


def test_sface_export_matches_keras_on_every_shared_face(engine, shared_faces, keras_models):
    crops = np.stack([sface.sface_crop(rgb, face) for rgb, face in shared_faces])
    keras = np.asarray(keras_models[sface.MODEL_ID](sface.preprocess(crops), training=False))
    assert np.abs(engine.sface.encode_raw(crops) - keras).max() <= TOLERANCE


def test_minifasnet_exports_match_keras_on_the_liveness_frames(engine, shared_data, keras_models):
    per_face = []
    for path in sorted((shared_data / "liveness").rglob("*.jpg")):
        rgb = load_image(path)
        per_face += [liveness.liveness_crops(rgb, face) for face in engine.detect(rgb)[:1]]
    assert len(per_face) >= 50
    crops = [np.stack([c[i] for c in per_face]) for i in range(len(liveness.VARIANTS))]
    compiled = engine.liveness.logits(crops)
    for variant, batch, ours in zip(liveness.VARIANTS, crops, compiled, strict=True):
        keras = np.asarray(keras_models[variant.name](batch.astype(np.float32), training=False))
        assert np.abs(ours - keras).max() <= TOLERANCE, variant.name


def test_decisions_on_the_shared_pairs_are_those_of_the_keras_models(
    engine, shared_data, keras_models, tmp_path
):
    """Every pair of ``benchmarks/shared_pairs.csv`` gets the same verdict from the site's rule
    whether the compiled networks or the Keras models embed its faces."""
    site = Site.open(Settings(home=tmp_path), engine=engine)
    rule = site.recognition.rule()
    assert set(rule.models) == {encoder.MODEL_ID, facenet.MODEL_ID, sface.MODEL_ID}
    compiled, keras = {}, {}
    pairs = read_pairs(REPO / "benchmarks" / "shared_pairs.csv", images=shared_data)
    for path in {p for pair in pairs for p in (pair.first, pair.second)}:
        compiled[path] = site.recognition.measure(path)
        rgb = load_image(path)
        face = engine.single(rgb, largest=True)
        inputs = {
            encoder.MODEL_ID: face.chip[None].astype(np.float32),
            facenet.MODEL_ID: facenet.prewhiten(facenet.facenet_crop(rgb, face.face)[None]),
            sface.MODEL_ID: sface.preprocess(sface.sface_crop(rgb, face.face)[None]),
        }
        outputs = {m: np.asarray(keras_models[m](x))[0] for m, x in inputs.items()}
        units = {m: v / np.linalg.norm(v) for m, v in outputs.items() if m != encoder.MODEL_ID}
        keras[path] = FaceMeasure(
            {encoder.MODEL_ID: outputs[encoder.MODEL_ID], **units},
            measure_quality(face.face, face.chip).low,
            float(face.face.box[2]),
        )
    assert all(set(m.embeddings) == set(rule.models) for m in compiled.values())
    ours = [rule.accepts(compiled[p.first].evidence(compiled[p.second])) for p in pairs]
    theirs = [rule.accepts(keras[p.first].evidence(keras[p.second])) for p in pairs]
    assert len(ours) == 703 and ours == theirs
    site.close()


@pytest.fixture
def copied_weights(weights_dir, tmp_path) -> Path:
    target = tmp_path / "weights"
    shutil.copytree(weights_dir, target)
    return target


def test_a_corrupted_export_is_detected_and_rebuilt(copied_weights, engine, shared_faces):
    cache = CompiledCache(copied_weights, encoder.SPEC)
    data = bytearray(cache.weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cache.weights.write_bytes(bytes(data))
    assert "sha256" in cache.problem()
    messages = []
    network = runtime.load(encoder.SPEC, copied_weights, messages.append)
    assert any("building the model cache" in m and "sha256" in m for m in messages)
    assert cache.problem() is None
    chips = np.stack([engine.embed_faces(rgb, [f])[0].chip for rgb, f in shared_faces[:4]])
    assert np.abs(network(chips) - engine.encoder.encode(chips)).max() <= TOLERANCE


def test_a_foreign_export_is_rebuilt(copied_weights):
    spec = liveness.network_spec(liveness.VARIANTS[0])
    cache = CompiledCache(copied_weights, spec)
    cache.manifest.write_text(cache.manifest.read_text().replace(spec.source_sha256, "0" * 64))
    assert cache.problem() == "cache was converted from another source file"
    runtime.load(spec, copied_weights, lambda message: None)
    assert cache.problem() is None


def test_an_export_that_disagrees_with_keras_is_refused_and_not_cached(monkeypatch):
    """The compile step runs the export beside the Keras model; an export of other weights
    (here: one layer's kernel nudged by 1 %) is refused, and nothing is cached."""
    spec = liveness.network_spec(liveness.VARIANTS[0])
    export = compile_step.export_tflite

    def export_of_other_weights(model, side):
        other = liveness.load_model(liveness.VARIANTS[0])
        layer = other.get_layer("linear")
        layer.set_weights([w * 1.01 for w in layer.get_weights()])
        return export(other, side)

    monkeypatch.setattr(compile_step, "export_tflite", export_of_other_weights)
    with tempfile.TemporaryDirectory() as folder:
        with pytest.raises(WeightsError, match="differs from its Keras model"):
            compile_step.compile_network(spec, Path(folder), lambda message: None)
        assert not CompiledCache(Path(folder), spec).weights.exists()
