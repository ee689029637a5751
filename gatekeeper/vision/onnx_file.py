"""Read an ONNX model file's graph and constant tensors with numpy: no ``onnx`` package.

An ONNX file is one protobuf message (``ModelProto``). This reader walks the protobuf wire
format for the few fields a weight converter needs and skips every other field by its wire
type, so it never executes anything from the file:

- ``ModelProto``: ``graph`` (7);
- ``GraphProto``: ``node`` (1), ``initializer`` (5), ``input`` (11), ``output`` (12);
- ``NodeProto``: ``input`` (1), ``output`` (2), ``name`` (3), ``op_type`` (4), ``attribute`` (5);
- ``AttributeProto``: ``name`` (1), ``f`` (2), ``i`` (3), ``s`` (4), ``t`` (5), ``floats`` (7),
  ``ints`` (8);
- ``TensorProto``: ``dims`` (1), ``data_type`` (2), ``float_data`` (4), ``int32_data`` (5),
  ``int64_data`` (7), ``name`` (8), ``raw_data`` (9);
- ``ValueInfoProto``: ``name`` (1).

Field numbers are those of ``onnx/onnx.proto`` (IR version ≥ 3). Tensors of the element types
in :data:`DTYPES` are returned as numpy arrays; a file that is not well-formed protobuf, or a
tensor whose bytes do not fill its shape, raises :class:`~gatekeeper.errors.WeightsError`.
Imports no TensorFlow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gatekeeper.errors import WeightsError

#: ONNX ``TensorProto.DataType`` codes this reader decodes, with their numpy types.
DTYPES = {
    1: np.dtype("<f4"),
    2: np.dtype("u1"),
    3: np.dtype("i1"),
    6: np.dtype("<i4"),
    7: np.dtype("<i8"),
    11: np.dtype("<f8"),
}

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Node:
    """One operator of the graph: ``op_type``, input and output value names, attributes
    (name → int, float, bytes, list of int or float, or numpy array)."""

    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    name: str = ""
    attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Graph:
    """An ONNX graph: its operators in file order, its named constant tensors (initializers),
    and the names of its inputs and outputs."""

    nodes: tuple[Node, ...]
    initializers: dict[str, np.ndarray]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def _varint(view: memoryview, pos: int) -> tuple[int, int]:
    """The base-128 varint starting at ``pos``, and the position after it."""
    result = shift = 0
    while True:
        if pos >= len(view) or shift > 63:
            raise WeightsError("not an ONNX file (truncated or malformed protobuf)")
        byte = view[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes | memoryview):
    """``(field number, wire type, value)`` of a protobuf message: an int for varints, bytes
    for length-delimited fields, raw little-endian bytes for fixed-width ones."""
    view = memoryview(data)
    pos = 0
    while pos < len(view):
        key, pos = _varint(view, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(view, pos)
            yield number, wire, value
            continue
        size = {_FIXED64: 8, _FIXED32: 4}.get(wire)
        if wire == _BYTES:
            size, pos = _varint(view, pos)
        if size is None or pos + size > len(view):
            raise WeightsError("not an ONNX file (truncated or malformed protobuf)")
        yield number, wire, view[pos : pos + size]
        pos += size


def _signed(value: int) -> int:
    """A varint read as a two's-complement int64."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _ints(value, wire: int) -> list[int]:
    """A repeated int field: one unpacked varint, or a packed run of them."""
    if wire == _VARINT:
        return [_signed(value)]
    view, pos, out = memoryview(value), 0, []
    while pos < len(view):
        number, pos = _varint(view, pos)
        out.append(_signed(number))
    return out


def _floats(value) -> list[float]:
    """A repeated float field: one fixed32, or a packed run of them."""
    return list(struct.unpack(f"<{len(value) // 4}f", value))


def _tensor(message) -> tuple[str, np.ndarray]:
    name, dims, dtype_code, raw = "", [], None, None
    floats: list[float] = []
    ints: list[int] = []
    for number, wire, value in _fields(message):
        if number == 1:
            dims += _ints(value, wire)
        elif number == 2:
            dtype_code = value
        elif number == 4:
            floats += _floats(value)
        elif number in (5, 7):
            ints += _ints(value, wire)
        elif number == 8:
            name = bytes(value).decode("utf-8")
        elif number == 9:
            raw = bytes(value)
    if dtype_code not in DTYPES:
        raise WeightsError(f"ONNX tensor {name!r}: element type {dtype_code} is not supported")
    dtype = DTYPES[dtype_code]
    count = int(np.prod(dims)) if dims else 1
    if raw is not None:
        if len(raw) != count * dtype.itemsize:
            raise WeightsError(f"ONNX tensor {name!r}: {len(raw)} bytes for shape {dims}")
        array = np.frombuffer(raw, dtype=dtype).copy()
    else:
        values = floats if dtype.kind == "f" else ints
        if len(values) != count:
            raise WeightsError(f"ONNX tensor {name!r}: {len(values)} values for shape {dims}")
        array = np.array(values, dtype=dtype)
    return name, array.reshape(dims)


def _attribute(message) -> tuple[str, object]:
    name, value = "", None
    floats: list[float] = []
    ints: list[int] = []
    for number, wire, raw in _fields(message):
        if number == 1:
            name = bytes(raw).decode("utf-8")
        elif number == 2:
            value = struct.unpack("<f", raw)[0]
        elif number == 3:
            value = _signed(raw)
        elif number == 4:
            value = bytes(raw)
        elif number == 5:
            value = _tensor(raw)[1]
        elif number == 7:
            floats += _floats(raw)
        elif number == 8:
            ints += _ints(raw, wire)
    if value is None:
        value = ints or floats
    return name, value


def _node(message) -> Node:
    inputs, outputs, attributes = [], [], {}
    name = op_type = ""
    for number, _, value in _fields(message):
        if number == 1:
            inputs.append(bytes(value).decode("utf-8"))
        elif number == 2:
            outputs.append(bytes(value).decode("utf-8"))
        elif number == 3:
            name = bytes(value).decode("utf-8")
        elif number == 4:
            op_type = bytes(value).decode("utf-8")
        elif number == 5:
            key, attribute = _attribute(value)
            attributes[key] = attribute
    return Node(op_type, tuple(inputs), tuple(outputs), name, attributes)


def _value_name(message) -> str:
    for number, _, value in _fields(message):
        if number == 1:
            return bytes(value).decode("utf-8")
    return ""


def read_graph(path: Path) -> Graph:
    """The graph of the ONNX model file at ``path`` (see the module docstring)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WeightsError(f"cannot read {path} ({exc})") from None
    graph = None
    for number, wire, value in _fields(data):
        if number == 7 and wire == _BYTES:
            graph = value
    if graph is None:
        raise WeightsError(f"{path}: not an ONNX model (no graph)")
    nodes, initializers, inputs, outputs = [], {}, [], []
    for number, wire, value in _fields(graph):
        if wire != _BYTES:
            continue
        if number == 1:
            nodes.append(_node(value))
        elif number == 5:
            key, array = _tensor(value)
            initializers[key] = array
        elif number == 11:
            inputs.append(_value_name(value))
        elif number == 12:
            outputs.append(_value_name(value))
    return Graph(tuple(nodes), initializers, tuple(inputs), tuple(outputs))
