"""The compile step: a Keras network exported for the inference runtime, checked, cached.

Part of building the weights cache (a network's first use, ``gatekeeper models install``,
``reencode``): the Keras model (the source of truth, built from the verified published
weights) is traced once with TensorFlow and converted by TensorFlow's own TFLite converter;
the export is run by LiteRT beside the Keras model on check images, and refused
(:class:`~gatekeeper.errors.WeightsError`) unless every output component agrees within
:data:`TOLERANCE`; then it is cached as ``weights/<network>.tflite`` with its sha256 (and the
difference measured) in the manifest (:class:`~gatekeeper.vision.runtime.CompiledCache`).

The check images are made here (the package ships no photos): smooth and noisy textures,
gradients and a flat grey. The tests check every export against its Keras model on real faces
of the shared photos too (``tests/vision/test_compiled_networks.py``). This is the only module
of the vision package that imports TensorFlow on purpose, and only when a cache is (re)built.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from gatekeeper.errors import WeightsError
from gatekeeper.vision.runtime import CompiledCache, NetworkSpec, Progress
from gatekeeper.vision.stderr import quiet_stderr_fd

log = logging.getLogger(__name__)

#: Largest difference allowed between the export's and the Keras model's outputs, per component.
TOLERANCE = 1e-4


def check_images(side: int) -> np.ndarray:
    """Six deterministic uint8 RGB ``(side, side, 3)`` images: uniform noise, blurred noise
    (face-sized blobs), horizontal and vertical gradients, a checkerboard, flat grey."""
    rng = np.random.default_rng(20261207)
    noise = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    blobs = cv2.GaussianBlur(noise, (0, 0), side / 16)
    blobs = cv2.normalize(blobs, None, 0, 255, cv2.NORM_MINMAX)
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    across = np.broadcast_to(ramp[None, :, None], (side, side, 3)).astype(np.uint8)
    down = np.ascontiguousarray(across.transpose(1, 0, 2))
    checks = (((np.indices((side, side)) // max(1, side // 10)).sum(axis=0) % 2) * 255).astype(
        np.uint8
    )
    board = np.repeat(checks[:, :, None], 3, axis=2)
    grey = np.full((side, side, 3), 127, np.uint8)
    return np.stack([noise, blobs, across, down, board, grey])


def export_tflite(model, side: int) -> bytes:
    """``model`` (Keras, input float32 ``(N, side, side, 3)``) as a ``.tflite`` flatbuffer, its
    batch size left free."""
    from gatekeeper.vision.tfimport import import_tf

    tf = import_tf()
    function = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec((None, side, side, 3), tf.float32)],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], function
    )
    with quiet_stderr_fd():
        return converter.convert()


def export_difference(model, flatbuffer: bytes, inputs: np.ndarray) -> float:
    """Largest |export − Keras| over every output component of ``inputs`` (float32
    ``(N, side, side, 3)``), run as one batch and as single images by LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    expected = np.asarray(model(inputs, training=False))
    with quiet_stderr_fd():
        interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
    (entry,) = interpreter.get_input_details()
    (exit_,) = interpreter.get_output_details()

    def run(batch: np.ndarray) -> np.ndarray:
        interpreter.resize_tensor_input(entry["index"], batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(entry["index"], np.ascontiguousarray(batch, np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(exit_["index"])

    with quiet_stderr_fd():  # its CPU delegate announces itself on fd 2 at the first run
        whole = float(np.abs(run(inputs) - expected).max())
        single = max(float(np.abs(run(inputs[i : i + 1])[0] - expected[i]).max()) for i in range(2))
    return max(whole, single)


def compile_network(spec: NetworkSpec, weights_dir: Path, progress: Progress | None = None):
    """Build ``spec``'s compiled cache in ``weights_dir`` (see the module docstring); returns
    the cached file's path. ``progress`` receives one-line messages (default: logged)."""
    say = progress or log.warning
    cache = CompiledCache(weights_dir, spec)
    problem = cache.problem()
    say(f"building the model cache (once): {spec.label}: {problem}")
    began = time.perf_counter()
    model = spec.keras_model(Path(weights_dir), progress)
    say(f"{spec.label}: exporting the Keras model for the inference runtime (LiteRT)…")
    flatbuffer = export_tflite(model, spec.side)
    difference = export_difference(model, flatbuffer, spec.prepare(check_images(spec.side)))
    if not difference <= TOLERANCE:
        raise WeightsError(
            f"{spec.label}: the compiled network differs from its Keras model by {difference:.2e} "
            f"(more than {TOLERANCE:g}); not cached"
        )
    try:
        cache.write_with(lambda path: path.write_bytes(flatbuffer), max_difference=difference)
    except OSError as exc:
        raise WeightsError(f"could not write {cache.weights} ({exc})") from None
    say(
        f"{spec.label}: compiled and checked (max |Δ| {difference:.1e} against Keras) "
        f"in {time.perf_counter() - began:.0f} s"
    )
    return cache.weights
