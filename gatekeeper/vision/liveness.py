"""Passive liveness: is the face in front of the camera a live person, or a photo or a screen?

MiniFASNet (minivision-ai/Silent-Face-Anti-Spoofing, Apache-2.0; the two models deepface uses
for ``anti_spoofing=True``), rebuilt as Keras 3 functional models in code. Each network takes an
80×80 **BGR** crop as float32 values 0–255 (no scaling) and returns 3 logits: class 1 is a real
face, 0 and 2 are attack types. :data:`VARIANTS` holds the two shipped models:

- ``MiniFASNetV2`` on the face box scaled **2.7×** around its centre;
- ``MiniFASNetV1SE`` on the box scaled **4.0×** (more of the scene: a phone's bezel, a hand).

Topology (``block`` = Conv2D without bias → BatchNorm(ε 1e-5) → PReLU per channel, the
BatchNorm folded into the convolution at load time; ``linear`` =
the same without PReLU; ``dw`` = depthwise, one filter per channel; padding explicit and
symmetric, as PyTorch's): block 3×3/2 → 40×40×32, dw block 3×3 → conv_23 (1×1 expand, dw
3×3/2, linear 1×1 project) → 20×20×64, conv_3: 4 residual depthwise blocks → conv_34 → 10×10×128,
conv_4: 6 blocks → conv_45 → 5×5×128, conv_5: 2 blocks → block 1×1 512 → linear dw 5×5 → 512 →
dense 128 (no bias) → BatchNorm → dense 3 (no bias). The channel counts are the pruned widths of
the original's ``keep_dict`` (``1.8M_`` for V2, ``1.8M`` for V1SE). In V1SE the last residual
block of conv_3, conv_4 and conv_5 has a squeeze-excitation module (global average → 1×1 conv →
BatchNorm → relu → 1×1 conv → BatchNorm → sigmoid, reduction 4) that rescales the block's
output channels before the shortcut is added. Every weighted layer is named by its PyTorch
module path (``conv_3.model.3.se_module.fc1``...), and :func:`load_state_dict` copies the
tensors by those names, strictly: every tensor used, every shape checked.

The weights: the two original ``.pth`` files ship inside this package (``minifasnet/``, with
the licence; 1.8 MB each), are checked at every load against the sha256 pinned here, and are
read by :mod:`gatekeeper.vision.pth` (numpy and a restricted unpickler: no PyTorch) when the
Keras models are built. The run path runs their compiled exports (:func:`network_spec`), cached
in ``weights/`` and tied by their manifests to the pinned ``.pth`` hashes.

The decision follows the original: softmax each model's logits, add the two, and the **live
score** is the sum's class 1 divided by 2 (0–1). A face is live when its score is at least the
site's ``liveness_threshold`` (see ``gatekeeper/decision.py`` for the measured default).

The crop, :func:`crop` (both models': :func:`liveness_crops`), scales a box as the original's
``CropImage`` does (clipped to the image, shifted inside it, integer corners, ``cv2.resize``
bilinear). The models were trained
on boxes of the original's RetinaFace detector, which frame a face differently from MTCNN, so
:func:`original_box` maps an MTCNN box onto the box that detector would give, by the fit of
``scripts/fit_liveness_box.py`` (see :data:`BOX_FIT`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from gatekeeper.errors import WeightsError
from gatekeeper.vision import runtime
from gatekeeper.vision.detect import Face
from gatekeeper.vision.runtime import NetworkSpec, Progress
from gatekeeper.vision.weight_cache import sha256_file

#: Stable identifier of the liveness scorer (both models, the crop and the score).
MODEL_ID = "minifasnet_v2_v1se"
#: Crop side in pixels, both models.
INPUT_SIZE = 80
#: Index of the "real face" class in the models' outputs.
REAL_CLASS = 1
#: BatchNorm epsilon of PyTorch's default.
_BN_EPSILON = 1e-5

#: The original's ``keep_dict``: the channel widths left after pruning, per network.
_KEEP = {
    "1.8M": [32, 32, 103, 103, 64, 13, 13, 64, 26, 26,
             64, 13, 13, 64, 52, 52, 64, 231, 231, 128,
             154, 154, 128, 52, 52, 128, 26, 26, 128, 52,
             52, 128, 26, 26, 128, 26, 26, 128, 308, 308,
             128, 26, 26, 128, 26, 26, 128, 512, 512],
    "1.8M_": [32, 32, 103, 103, 64, 13, 13, 64, 13, 13, 64, 13,
              13, 64, 13, 13, 64, 231, 231, 128, 231, 231, 128, 52,
              52, 128, 26, 26, 128, 77, 77, 128, 26, 26, 128, 26, 26,
              128, 308, 308, 128, 26, 26, 128, 26, 26, 128, 512, 512],
}  # fmt: skip


@dataclass(frozen=True)
class Variant:
    """One shipped MiniFASNet: its ``.pth`` file and sha256, the box scale of its crop, the
    channel widths (a ``keep_dict`` key) and whether its residual stages end in SE blocks."""

    name: str
    filename: str
    sha256: str
    scale: float
    keep: str
    squeeze_excitation: bool


VARIANTS = (
    Variant(
        "MiniFASNetV2",
        "2.7_80x80_MiniFASNetV2.pth",
        "a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0",
        2.7,
        "1.8M_",
        False,
    ),
    Variant(
        "MiniFASNetV1SE",
        "4_0_0_80x80_MiniFASNetV1SE.pth",
        "84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990",
        4.0,
        "1.8M",
        True,
    ),
)


def _keras():
    from gatekeeper.vision.tfimport import import_keras

    return import_keras()


def build_model(variant: Variant):
    """The (untrained) functional Keras model of ``variant``.

    Input: float32 ``(batch, 80, 80, 3)`` BGR crops, values 0–255. Output: float32
    ``(batch, 3)`` logits (class 1: real face). Weighted layers are named by their PyTorch
    module paths (``conv1.conv``, ``conv_3.model.3.se_module.fc1``, ``linear``, ``prob``...).
    Every BatchNorm of the original directly follows a convolution or a dense layer, and at
    inference it is an affine map per channel, so it is folded into that layer's kernel and
    bias (:func:`load_state_dict`): the same function with 55 fewer layers to run (the
    per-face cost is mostly per-op overhead, see ``benchmarks/bench_liveness.py``).
    """
    keras = _keras()
    layers = keras.layers
    keep = _KEEP[variant.keep]

    def conv(x, name, filters, kernel=1, stride=1, padding=0, depthwise=False, prelu=True):
        if padding:
            x = layers.ZeroPadding2D(padding, name=f"{name}.pad")(x)
        if depthwise:
            if filters != x.shape[-1]:
                raise ValueError(f"{name}: depthwise conv from {x.shape[-1]} to {filters}")
            x = layers.DepthwiseConv2D(kernel, stride, name=f"{name}.conv")(x)
        else:
            x = layers.Conv2D(filters, kernel, stride, name=f"{name}.conv")(x)
        if prelu:
            x = layers.PReLU(shared_axes=[1, 2], name=f"{name}.prelu")(x)
        return x

    def squeeze_excitation(x, name, reduction=4):
        channels = x.shape[-1]
        s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}.avg_pool")(x)
        s = layers.Conv2D(channels // reduction, 1, name=f"{name}.fc1")(s)
        s = layers.ReLU(name=f"{name}.relu")(s)
        s = layers.Conv2D(channels, 1, name=f"{name}.fc2")(s)
        s = layers.Activation("sigmoid", name=f"{name}.sigmoid")(s)
        return layers.Multiply(name=f"{name}.scale")([x, s])

    def depth_wise(x, name, expand, project, stride, residual, se=False):
        """1×1 expand → depthwise 3×3 → linear 1×1 project (+ SE, + shortcut)."""
        y = conv(x, f"{name}.conv", expand)
        y = conv(y, f"{name}.conv_dw", expand, 3, stride, 1, depthwise=True)
        y = conv(y, f"{name}.project", project, prelu=False)
        if not residual:
            return y
        if se:
            y = squeeze_excitation(y, f"{name}.se_module")
        return layers.Add(name=f"{name}.add")([x, y])

    def residual_stage(x, name, first, blocks):
        """``blocks`` residual depthwise blocks; widths from ``keep[first:]``, 3 per block."""
        for i in range(blocks):
            expand, project = keep[first + 3 * i + 1], keep[first + 3 * i + 3]
            last = i == blocks - 1
            x = depth_wise(
                x,
                f"{name}.model.{i}",
                expand,
                project,
                1,
                True,
                variant.squeeze_excitation and last,
            )
        return x

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="bgr")
    x = conv(inputs, "conv1", keep[0], 3, 2, 1)
    x = conv(x, "conv2_dw", keep[1], 3, 1, 1, depthwise=True)
    x = depth_wise(x, "conv_23", keep[2], keep[4], 2, False)
    x = residual_stage(x, "conv_3", 4, 4)
    x = depth_wise(x, "conv_34", keep[17], keep[19], 2, False)
    x = residual_stage(x, "conv_4", 19, 6)
    x = depth_wise(x, "conv_45", keep[38], keep[40], 2, False)
    x = residual_stage(x, "conv_5", 40, 2)
    x = conv(x, "conv_6_sep", keep[47])
    kernel = (INPUT_SIZE + 15) // 16  # the original's get_kernel: 5 for 80×80
    x = conv(x, "conv_6_dw", keep[48], kernel, depthwise=True, prelu=False)
    x = layers.Flatten(name="conv_6_flatten")(x)
    x = layers.Dense(128, name="linear")(x)
    outputs = layers.Dense(3, use_bias=False, name="prob")(x)
    return keras.Model(inputs, outputs, name=variant.name)


#: The BatchNorm that follows each kind of weighted layer, by the end of the layer's name.
_BATCH_NORM_OF = {".conv": ".bn", ".fc1": ".bn1", ".fc2": ".bn2", "linear": "bn"}


def _batch_norm_prefix(name: str) -> str | None:
    """The PyTorch prefix of the BatchNorm after layer ``name`` (``prob`` has none)."""
    for end, bn in _BATCH_NORM_OF.items():
        if name.endswith(end):
            return name[: len(name) - len(end)] + bn
    return None


def _keras_arrays(layer, tensors: dict[str, np.ndarray]) -> tuple[list[np.ndarray], set[str]]:
    """The weights of ``layer`` in Keras's order and layout, from the PyTorch tensors (its
    following BatchNorm folded in: ``w·γ/√(σ²+ε)`` and bias ``β − μ·γ/√(σ²+ε)`` per output
    channel), and the names of the tensors used."""
    kind, name = type(layer).__name__, layer.name
    if kind == "PReLU":  # (channels,) → (1, 1, channels)
        return [tensors[f"{name}.weight"].reshape(1, 1, -1)], {f"{name}.weight"}
    weight = tensors[f"{name}.weight"].astype(np.float64)
    if kind == "Conv2D":  # (out, in, kh, kw) → (kh, kw, in, out)
        kernel = weight.transpose(2, 3, 1, 0)
    elif kind == "DepthwiseConv2D":  # (channels, 1, kh, kw) → (kh, kw, channels, 1)
        kernel = weight.transpose(2, 3, 0, 1)
    elif kind == "Dense":  # (out, in) → (in, out)
        kernel = weight.T
    else:
        raise WeightsError(f"MiniFASNet: no PyTorch layout for {kind} layer {name}")
    used = {f"{name}.weight"}
    bn = _batch_norm_prefix(name)
    if bn is None:
        return [kernel], used
    gamma, beta, mean, var = (
        tensors[f"{bn}.{k}"].astype(np.float64)
        for k in ("weight", "bias", "running_mean", "running_var")
    )
    used |= {f"{bn}.{k}" for k in ("weight", "bias", "running_mean", "running_var")}
    scale = gamma / np.sqrt(var + _BN_EPSILON)
    kernel = kernel * (scale[None, None, :, None] if kind == "DepthwiseConv2D" else scale)
    return [kernel, beta - mean * scale], used


def load_state_dict(model, tensors: dict[str, np.ndarray]) -> None:
    """Copy a MiniFASNet state dict (``module.``-prefixed names, as saved by the original's
    ``DataParallel``) into ``model``, by layer name.

    Each BatchNorm is folded into the layer before it (see :func:`build_model`). Strict: every
    weighted layer finds its tensors with the right shapes, and every tensor of the file is used
    (``num_batches_tracked`` counters excepted: training state only). Raises
    :class:`WeightsError` otherwise.
    """
    tensors = {k.removeprefix("module."): v for k, v in tensors.items()}
    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        try:
            arrays, names = _keras_arrays(layer, tensors)
        except KeyError as exc:
            raise WeightsError(f"{model.name}: no tensor {exc} for layer {layer.name}") from None
        for variable, array in zip(layer.weights, arrays, strict=True):
            if tuple(array.shape) != tuple(variable.shape):
                raise WeightsError(
                    f"{model.name} {layer.name}: file shape {array.shape}, "
                    f"model shape {tuple(variable.shape)}"
                )
            variable.assign(array.astype(np.float32))
        used |= names
    unused = sorted(k for k in tensors.keys() - used if not k.endswith(".num_batches_tracked"))
    if unused:
        raise WeightsError(f"{model.name}: unused tensors in the weights file: {unused[:3]}")


def weights_path(variant: Variant) -> Path:
    """Where the shipped ``.pth`` of ``variant`` lies (inside the package)."""
    return Path(str(resources.files("gatekeeper.vision") / "minifasnet" / variant.filename))


def _file_problem(variant: Variant) -> str | None:
    """Why ``variant``'s shipped file cannot be used (missing, or not the published bytes)."""
    path = weights_path(variant)
    if not path.is_file():
        return f"{path} is missing"
    if sha256_file(path) != variant.sha256:
        return f"{path} is not the published {variant.name} (sha256 differs)"
    return None


def problem() -> str | None:
    """Why the liveness models cannot be loaded (a shipped file missing or altered), or
    ``None`` when both files are present with their pinned sha256 (hashes 3.7 MB)."""
    return next((p for p in map(_file_problem, VARIANTS) if p is not None), None)


def load_model(variant: Variant):
    """The Keras model of ``variant`` with its verified weights (:class:`WeightsError` when
    the shipped file is missing, altered or not the expected state dict)."""
    from gatekeeper.vision.pth import read_state_dict

    reason = _file_problem(variant)
    if reason is not None:
        raise WeightsError(f"liveness weights: {reason}")
    path = weights_path(variant)
    model = build_model(variant)
    load_state_dict(model, read_state_dict(path))
    return model


@dataclass(frozen=True)
class BoxFit:
    """MTCNN box → the original detector's box: the centre moves by (``dx``, ``dy``) × the MTCNN
    box's (w, h) and the size is scaled by (``sw``, ``sh``)."""

    dx: float
    dy: float
    sw: float
    sh: float


#: Fitted by ``scripts/fit_liveness_box.py`` on the 79 faces of the liveness frames and the
#: ``faces/`` photos that both detectors find (the original's RetinaFace finds the masked
#: ``zalo`` live faces, MTCNN does not): medians, quartiles in brackets, dx +0.019 [+0.002,
#: +0.033], dy +0.060 [+0.043, +0.078], sw 1.167 [1.129, 1.205], sh 0.900 [0.866, 0.941] —
#: the original's box is wider, shorter and lower (it leaves out the forehead). IoU with the
#: original box: median 0.754 (min 0.610) for MTCNN's, 0.894 (min 0.751) mapped. The live score
#: against the score on the original box, on the 57 liveness frames both detectors find:
#:
#:     box                |Δ score| median   max   APCER  BPCER (score ≥ 0.5 is live)
#:     original box                  0.000  0.000   10.0    3.7
#:     MTCNN box                     0.003  0.427   10.0    3.7
#:     fitted                        0.002  0.331   10.0    3.7
#:     fitted, size ×0.9             0.001  0.292   10.0    3.7
#:     fitted, size ×1.1             0.001  0.359   10.0    3.7
#:     fitted, dy −0.05              0.003  0.461   10.0    0.0
#:     fitted, dy +0.05              0.003  0.343   10.0    3.7
#:
#: Most scores sit near 0 or 1 whatever the box; the few faces near the middle move most, and
#: the fitted box moves them least of the unperturbed definitions. ±10 % of size changes
#: little; the vertical centre matters most.
BOX_FIT = BoxFit(dx=0.019, dy=0.06, sw=1.167, sh=0.9)


def original_box(box: tuple[int, int, int, int], fit: BoxFit = BOX_FIT) -> tuple[float, ...]:
    """The original detector's box ``(x, y, w, h)`` (float pixels) for an MTCNN ``box``."""
    x, y, w, h = box
    cx, cy = x + w / 2 + fit.dx * w, y + h / 2 + fit.dy * h
    nw, nh = w * fit.sw, h * fit.sh
    return cx - nw / 2, cy - nh / 2, nw, nh


def crop_box(
    width: int, height: int, box: tuple[float, ...], scale: float
) -> tuple[int, int, int, int]:
    """The original's ``CropImage._get_new_box``: ``box`` (x, y, w, h) scaled by ``scale``
    about its centre (less when that would exceed the image), shifted to lie inside the
    ``width`` × ``height`` image; returns integer corners ``(x0, y0, x1, y1)``, inclusive."""
    x, y, w, h = box
    scale = min((height - 1) / h, (width - 1) / w, scale)
    new_w, new_h = w * scale, h * scale
    cx, cy = w / 2 + x, h / 2 + y
    x0, y0, x1, y1 = cx - new_w / 2, cy - new_h / 2, cx + new_w / 2, cy + new_h / 2
    if x0 < 0:
        x1 -= x0
        x0 = 0
    if y0 < 0:
        y1 -= y0
        y0 = 0
    if x1 > width - 1:
        x0 -= x1 - width + 1
        x1 = width - 1
    if y1 > height - 1:
        y0 -= y1 - height + 1
        y1 = height - 1
    return int(x0), int(y0), int(x1), int(y1)


def crop(rgb: np.ndarray, box: tuple[float, ...], scale: float) -> np.ndarray:
    """A model's input from an RGB ``uint8 (H, W, 3)`` image: uint8 **BGR** ``(80, 80, 3)``,
    the region of :func:`crop_box` resized bilinearly (the channels are swapped after the
    resize, which works per channel: the same pixels as resizing the BGR image, without
    converting the whole frame)."""
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = crop_box(width, height, box, scale)
    region = rgb[max(0, y0) : y1 + 1, max(0, x0) : x1 + 1]
    return np.ascontiguousarray(cv2.resize(region, (INPUT_SIZE, INPUT_SIZE))[:, :, ::-1])


def liveness_crops(rgb: np.ndarray, face: Face, fit: BoxFit = BOX_FIT) -> list[np.ndarray]:
    """Both models' inputs for one MTCNN ``face`` of an RGB ``uint8 (H, W, 3)`` image: BGR
    ``(80, 80, 3)`` crops of the mapped box, in :data:`VARIANTS` order."""
    box = original_box(face.box, fit)
    return [crop(rgb, box, variant.scale) for variant in VARIANTS]


def live_score(logits: list[np.ndarray]) -> np.ndarray:
    """The original's score from each model's logits ``(N, 3)``: softmax each, add, class 1
    divided by the number of models. float32 ``(N,)`` in [0, 1]; 1 is surely live."""
    total = 0.0
    for z in logits:
        z = np.asarray(z, np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        total = total + e / e.sum(axis=1, keepdims=True)
    return (total[:, REAL_CLASS] / len(logits)).astype(np.float32)


#: Bumped whenever the conversion from the ``.pth`` changes, so compiled caches are rebuilt.
CONVERTER_VERSION = 1


def network_spec(variant: Variant) -> NetworkSpec:
    """The compiled network of ``variant`` (``vision/runtime.py``), built from :func:`load_model`
    and cached in ``weights/`` as ``minifasnet_v2.tflite`` / ``minifasnet_v1se.tflite``."""
    return NetworkSpec(
        network_id=variant.name.lower().replace("minifasnet", "minifasnet_"),
        label=variant.name,
        side=INPUT_SIZE,
        source_sha256=variant.sha256,
        converter_version=CONVERTER_VERSION,
        keras_model=lambda weights_dir, progress: load_model(variant),
        prepare=lambda crops: np.asarray(crops, np.float32),
    )


class LivenessScorer:
    """Faces → live scores, by both compiled MiniFASNets (LiteRT). Create once; use from one
    thread at a time. The shipped ``.pth`` files are checked against their pinned sha256 at
    every load, and the compiled caches in ``weights_dir`` against their manifests (built from
    the Keras models when missing: ``vision/compile.py``)."""

    model_id = MODEL_ID

    def __init__(
        self, weights_dir: Path, fit: BoxFit = BOX_FIT, progress: Progress | None = None
    ) -> None:
        reason = problem()
        if reason is not None:
            raise WeightsError(f"liveness weights: {reason}")
        self.fit = fit
        self.networks = [
            runtime.load(network_spec(v), Path(weights_dir), progress) for v in VARIANTS
        ]

    def logits(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Raw logits, float32 ``(N, 3)`` per model, of uint8 BGR crops ``(N, 80, 80, 3)``
        given per model in :data:`VARIANTS` order."""
        return [net(c) for net, c in zip(self.networks, crops, strict=True)]

    def score(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Live scores, float32 ``(N,)`` in [0, 1], of ``faces`` of an RGB ``uint8`` image."""
        if not faces:
            return np.zeros(0, np.float32)
        per_face = [liveness_crops(rgb, f, self.fit) for f in faces]
        crops = [np.stack([c[i] for c in per_face]) for i in range(len(VARIANTS))]
        return live_score(self.logits(crops))
