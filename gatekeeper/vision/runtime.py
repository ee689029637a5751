"""The inference runtime: compiled networks run by LiteRT (``ai-edge-litert``), no TensorFlow.

Every network of the run path (dlib's ResNet, FaceNet, both MiniFASNets) is built in Keras, the
source of truth, and exported once to a ``.tflite`` file by the compile step
(:mod:`gatekeeper.vision.compile`, which imports TensorFlow); from then on a command or the
console loads the cached file here and imports neither TensorFlow nor Keras. LiteRT was chosen
over onnxruntime by measurement (``benchmarks/bench_runtime.py``; docs/DESIGN.md, "The inference
runtime"): faster to start, lighter, as fast per face, and a smaller wheel, on x86-64 and aarch64.

:func:`load` returns a :class:`Network` for a :class:`NetworkSpec`, building the cache first
when it is missing, altered or foreign (sha256 in its manifest).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gatekeeper.vision.stderr import quiet_stderr_fd
from gatekeeper.vision.weight_cache import ConvertedWeights
from gatekeeper.vision.wheel import Progress

#: Threads each network may use. The door computer has 2 cores shared by the camera's capture
#: thread, the UI and the recognition worker, which runs one network at a time: two threads
#: let a network use both cores while the others wait on I/O (``bench_runtime.py`` prints both
#: counts). ``GATEKEEPER_THREADS`` overrides it.
DEFAULT_THREADS = 2
THREADS_ENV = "GATEKEEPER_THREADS"
#: Bumped whenever the export changes (converter, options), so old compiled caches are rebuilt.
COMPILER_VERSION = 1


def threads() -> int:
    """The thread count for each network: :data:`THREADS_ENV` when set to a positive integer,
    else :data:`DEFAULT_THREADS`."""
    value = os.environ.get(THREADS_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_THREADS


@dataclass(frozen=True)
class NetworkSpec:
    """A network the run path uses, and how its compiled cache is made.

    ``network_id``: the cache file's stem (``weights/<network_id>.tflite``); ``label``: its name
    in progress messages; ``side``: its square input, float32 ``(N, side, side, 3)``;
    ``source_sha256`` and ``converter_version``: the published weights and the Keras conversion
    the cache must come from; ``keras_model(weights_dir, progress)``: the Keras model, built
    from its verified weights (imports TensorFlow; only the compile step calls it);
    ``prepare(images)``: uint8 ``(N, side, side, 3)`` images → the network's input, for the
    compile step's check.
    """

    network_id: str
    label: str
    side: int
    source_sha256: str
    converter_version: int
    keras_model: Callable[[Path, Progress | None], object]
    prepare: Callable[[np.ndarray], np.ndarray]


class CompiledCache(ConvertedWeights):
    """The compiled ``.tflite`` of one network inside a ``weights/`` directory."""

    suffix = ".tflite"
    manifest_suffix = ".tflite.json"

    def __init__(self, directory: Path, spec: NetworkSpec) -> None:
        super().__init__(
            Path(directory),
            model_id=spec.network_id,
            converter_version=f"{spec.converter_version}+litert{COMPILER_VERSION}",
            source_sha256=spec.source_sha256,
        )


class Network:
    """One compiled network in a LiteRT interpreter: ``network(batch)`` → float32 output.

    The interpreter is allocated once, at load, for one image, and a batch runs image by image
    through it: LiteRT's CPU delegate (XNNPACK) repacks every weight whenever the input shape
    changes (FaceNet: 0.5–2 s on the 2-core machine, about what a batch would save in a whole
    session), so the shape never changes. Not thread-safe: the engine's lock keeps one caller
    at a time.
    """

    def __init__(self, path: Path, num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        with quiet_stderr_fd():  # LiteRT's C++ logs its CPU delegate's creation on fd 2
            self._interpreter = Interpreter(
                model_path=str(path), num_threads=num_threads or threads()
            )
            (self._input,) = self._interpreter.get_input_details()
            (self._output,) = self._interpreter.get_output_details()
            self.input_shape = (1, *(int(n) for n in self._input["shape"][1:]))
            self._interpreter.resize_tensor_input(self._input["index"], self.input_shape)
            self._interpreter.allocate_tensors()
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        outputs = []
        with self._lock:
            for image in batch:
                self._interpreter.set_tensor(self._input["index"], image[None])
                self._interpreter.invoke()
                outputs.append(self._interpreter.get_tensor(self._output["index"])[0].copy())
        return np.stack(outputs) if outputs else np.zeros((0, *self._output["shape"][1:]))


def ensure_compiled(spec: NetworkSpec, weights_dir: Path, progress: Progress | None = None) -> Path:
    """The path of ``spec``'s verified compiled cache in ``weights_dir``; a missing, altered or
    foreign cache is built first (TensorFlow is imported for that alone, and ``progress``
    hears of every step)."""
    cache = CompiledCache(Path(weights_dir), spec)
    if cache.problem() is not None:
        from gatekeeper.vision.compile import compile_network

        compile_network(spec, Path(weights_dir), progress)
    return cache.weights


def load(spec: NetworkSpec, weights_dir: Path, progress: Progress | None = None) -> Network:
    """``spec``'s network from its verified compiled cache in ``weights_dir``, built first
    when needed (:func:`ensure_compiled`)."""
    return Network(ensure_compiled(spec, weights_dir, progress))


def installed(spec: NetworkSpec, converted: ConvertedWeights) -> bool:
    """Whether ``spec``'s network can run without a download: its compiled cache or the
    ``converted`` Keras weights it is compiled from are verified (no TensorFlow import)."""
    return CompiledCache(converted.directory, spec).problem() is None or converted.problem() is None


class UnitEncoder:
    """Base of the encoders whose embeddings are L2-normalised network outputs (FaceNet,
    SFace): crops ``(N, side, side, 3)`` (or one crop) → ``prepare`` → the compiled network
    (:data:`SPEC` of the subclass, loaded by :func:`load`) → float32 ``(N, 128)`` unit vectors.
    """

    spec: NetworkSpec
    model_id: str
    input_size: int

    def __init__(self, weights_dir: Path, progress: Progress | None = None):
        self.network = load(self.spec, Path(weights_dir), progress)

    def encode_raw(self, crops: np.ndarray) -> np.ndarray:
        """The network's raw output, float32 ``(N, 128)``, before L2 normalisation."""
        crops = image_batch(crops, self.spec.side, "crops")
        if len(crops) == 0:
            return np.zeros((0, 128), np.float32)
        return self.network(self.spec.prepare(crops))

    def encode(self, crops: np.ndarray) -> np.ndarray:
        """L2-normalised embeddings, float32 ``(N, 128)`` with norm 1."""
        raw = self.encode_raw(crops)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return (raw / np.maximum(norms, 1e-12)).astype(np.float32)


def image_batch(images: np.ndarray, side: int, what: str) -> np.ndarray:
    """``images`` as a batch ``(N, side, side, 3)``: one image ``(side, side, 3)`` becomes a
    batch of one; any other shape is a ``ValueError`` naming ``what`` the images are."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1:] != (side, side, 3):
        raise ValueError(f"expected {what} of shape (N, {side}, {side}, 3), got {images.shape}")
    return images
