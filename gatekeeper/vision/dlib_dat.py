"""Parse dlib's serialized DNN file ``dlib_face_recognition_resnet_model_v1.dat`` with numpy.

No dlib is needed at run time. The file format (see ``../shared/notes/dlib-dat-format.md`` in the
team's notes) stores the loss layer first, then one version integer per layer wrapper from the
top of the network down, then the input layer, then the layer bodies bottom-up. The network's
*topology* is not stored: tags, skips and which tag an ``add_prev`` adds come from dlib's C++ type
(``dnn_face_recognition_ex.cpp``), rebuilt in :mod:`gatekeeper.vision.encoder`.

The parser is strict: it understands every layer type of this file, checks that the layer
sequence is the one the encoder expects, and consumes the file to its last byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gatekeeper.errors import WeightsError

_WRAPPER_ADD_LAYER = 2
_WRAPPER_TAG_OR_SKIP = 1
_WRAPPER_INPUT_LAYER = (2, 3)
#: The serialized name of the input layer (length integer ``01 15`` then the text), which ends
#: the run of wrapper versions.
_INPUT_MARKER = b"\x01\x15input_rgb_image_sized"


@dataclass
class Layer:
    """One computational layer, in bottom-up (input → output) order.

    ``kind`` is one of ``conv``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``, ``add_prev``,
    ``fc``. Parameters are float32 numpy arrays in dlib's layouts:

    - conv: ``filters`` (out, in, kh, kw), ``bias`` (out,), ``stride`` (sy, sx),
      ``padding`` (py, px)
    - affine: ``gamma`` (k,), ``beta`` (k,) — frozen per-channel scale and shift
    - max_pool / avg_pool: ``size`` (nr, nc) (0, 0 = global average), ``stride``, ``padding``
    - fc: ``weights`` (num_inputs, num_outputs), ``bias`` (num_outputs,) or None
    """

    kind: str
    params: dict[str, object] = field(default_factory=dict)


@dataclass
class DlibNet:
    """The parsed file: input normalisation, bottom-up layers and the loss settings."""

    input_size: tuple[int, int]
    channel_means: tuple[float, float, float]
    layers: list[Layer]
    wrapper_versions: list[int]
    loss_margin: float
    loss_distance_threshold: float


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def _take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise WeightsError(f"truncated dlib model file (wanted {n} bytes at offset {self.pos})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if not 1 <= size <= 8 or control & 0x70:
            raise WeightsError(f"bad integer control byte 0x{control:02x} at offset {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def boolean(self) -> bool:
        byte = bytes(self._take(1))
        if byte not in (b"0", b"1"):
            raise WeightsError(f"bad bool byte {byte!r} at offset {self.pos - 1}")
        return byte == b"1"

    def string(self) -> str:
        return bytes(self._take(self.integer())).decode("latin-1")

    def scalar(self) -> float:
        if self.data[self.pos] & 0x70:
            raise WeightsError(f"ASCII-encoded float at offset {self.pos} is not supported")
        mantissa = self.integer()
        exponent = self.integer()
        special = {32000: float("inf"), 32001: float("-inf"), 32002: float("nan")}
        if exponent in special:
            return special[exponent]
        return float(mantissa) * 2.0**exponent

    def _shape(self) -> tuple[int, int, int, int]:
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise WeightsError(f"unsupported tensor version {version} at offset {self.pos}")
        shape = self._shape()
        count = int(np.prod(shape))
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)

    def alias(self) -> tuple[int, int, int, int]:
        version = self.integer()
        if version != 1:
            raise WeightsError(f"unsupported alias_tensor version {version} at offset {self.pos}")
        return self._shape()

    def expect(self, what: str, value: object, expected: object) -> None:
        if value != expected:
            raise WeightsError(f"unexpected {what} {value!r} (expected {expected!r})")


def _conv(r: _Reader) -> Layer:
    params = r.tensor().reshape(-1)
    num_filters, nr, nc = r.integer(), r.integer(), r.integer()
    stride = (r.integer(), r.integer())
    padding = (r.integer(), r.integer())
    filters_shape = r.alias()
    bias_shape = r.alias()
    for _ in range(4):
        r.scalar()  # learning-rate and weight-decay multipliers: training only
    out, inp, kh, kw = filters_shape
    r.expect("conv filter shape", (out, kh, kw), (num_filters, nr, nc))
    r.expect("conv bias shape", bias_shape, (1, out, 1, 1))
    n_w = out * inp * kh * kw
    r.expect("conv parameter count", params.size, n_w + out)
    return Layer(
        "conv",
        {
            "filters": params[:n_w].reshape(out, inp, kh, kw),
            "bias": params[n_w:].copy(),
            "stride": stride,
            "padding": padding,
        },
    )


def _affine(r: _Reader) -> Layer:
    params = r.tensor().reshape(-1)
    gamma_shape = r.alias()
    r.alias()
    mode = r.integer()
    r.expect("affine mode (0 = per channel)", mode, 0)
    k = int(np.prod(gamma_shape))
    r.expect("affine parameter count", params.size, 2 * k)
    return Layer("affine", {"gamma": params[:k].copy(), "beta": params[k:].copy()})


def _pool(kind: str) -> object:
    def read(r: _Reader) -> Layer:
        size = (r.integer(), r.integer())
        stride = (r.integer(), r.integer())
        padding = (r.integer(), r.integer())
        return Layer(kind, {"size": size, "stride": stride, "padding": padding})

    return read


def _fc(r: _Reader) -> Layer:
    num_outputs, num_inputs = r.integer(), r.integer()
    params = r.tensor().reshape(-1)
    weights_shape = r.alias()
    r.alias()
    bias_mode = r.integer()
    for _ in range(4):
        r.scalar()
    r.expect("fc weight shape", weights_shape[:2], (num_inputs, num_outputs))
    n_w = num_inputs * num_outputs
    has_bias = bias_mode == 0
    r.expect("fc parameter count", params.size, n_w + (num_outputs if has_bias else 0))
    return Layer(
        "fc",
        {
            "weights": params[:n_w].reshape(num_inputs, num_outputs),
            "bias": params[n_w:].copy() if has_bias else None,
        },
    )


_DETAILS = {
    "con_4": _conv,
    "affine_": _affine,
    "relu_": lambda r: Layer("relu"),
    "max_pool_2": _pool("max_pool"),
    "avg_pool_2": _pool("avg_pool"),
    "add_prev_": lambda r: Layer("add_prev"),
    "fc_2": _fc,
}


def parse_dlib_dat(data: bytes) -> DlibNet:
    """Parse the bytes of a dlib metric-loss ResNet ``.dat`` file.

    Raises :class:`WeightsError` on anything unexpected (truncation, unknown layer versions,
    trailing bytes), so a damaged file is never turned into a silently wrong model.
    """
    r = _Reader(data)
    r.expect("loss layer version", r.integer(), 1)
    r.expect("loss type", r.string(), "loss_metric_2")
    margin, dist_thresh = r.scalar(), r.scalar()

    versions: list[int] = []
    while True:
        version = r.integer()
        versions.append(version)
        if version not in (_WRAPPER_ADD_LAYER, _WRAPPER_TAG_OR_SKIP, 3):
            raise WeightsError(f"unknown layer wrapper version {version}")
        # The bottom add_layer (directly on the input) is version 3 in current files, or 2 in old
        # ones; it is recognised by the input layer's name that follows it.
        if bytes(r.data[r.pos : r.pos + len(_INPUT_MARKER)]) == _INPUT_MARKER:
            break
    if versions[-1] not in _WRAPPER_INPUT_LAYER:
        raise WeightsError("the layer on the input is not an add_layer")

    r.expect("input layer", r.string(), "input_rgb_image_sized")
    means = (r.scalar(), r.scalar(), r.scalar())
    input_size = (r.integer(), r.integer())

    n_layers = sum(v != _WRAPPER_TAG_OR_SKIP for v in versions)
    layers: list[Layer] = []
    for i in range(n_layers):
        name = r.string()
        reader = _DETAILS.get(name)
        if reader is None:
            raise WeightsError(f"unsupported dlib layer {name!r}")
        layers.append(reader(r))
        for _ in range(3):
            r.boolean()
        for _ in range(3):
            r.tensor()
        if i == 0 and versions[-1] == 3:
            r.expect("sample expansion factor", r.integer(), 1)
    if r.pos != len(r.data):
        raise WeightsError(f"{len(r.data) - r.pos} unexpected trailing bytes in dlib model file")
    return DlibNet(
        input_size=input_size,
        channel_means=means,
        layers=layers,
        wrapper_versions=versions,
        loss_margin=margin,
        loss_distance_threshold=dist_thresh,
    )


def load_dlib_dat(path: str | Path) -> DlibNet:
    """Read and parse a ``.dat`` file (see :func:`parse_dlib_dat`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WeightsError(f"cannot read dlib model {path}: {exc.strerror or exc}") from None
    return parse_dlib_dat(data)
