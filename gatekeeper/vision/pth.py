"""Read a PyTorch state dict saved in the legacy (pre-1.6) ``torch.save`` format, with numpy.

No PyTorch and no arbitrary unpickling: the file is a sequence of pickles — a magic number, the
protocol version, the system info, the state dict itself, the list of storage keys — followed by
each storage's raw bytes (an int64 element count, then the little-endian elements). The state
dict's pickle is read by an unpickler that knows exactly four names (``collections.OrderedDict``,
``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage``, ``torch.LongStorage``) and refuses
every other global, so a crafted file cannot run code. Imports no TensorFlow.
"""

from __future__ import annotations

import collections
import io
import pickle
import pickletools
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gatekeeper.errors import WeightsError

#: The legacy format's magic number (``torch.serialization.MAGIC_NUMBER``) and protocol version.
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
#: Storage types the reader accepts, with their numpy element types.
STORAGE_DTYPES = {"FloatStorage": np.dtype("<f4"), "LongStorage": np.dtype("<i8")}


@dataclass(frozen=True)
class _Storage:
    dtype: np.dtype
    key: str
    size: int


@dataclass(frozen=True)
class _TensorRef:
    """A tensor as the pickle describes it: a view into a storage."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, offset, shape, stride, *_):
    return _TensorRef(storage, int(offset), tuple(shape), tuple(stride))


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = STORAGE_DTYPES[name]


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise WeightsError(f"refused: the weights file asks for {module}.{name}") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise WeightsError(f"refused: unexpected persistent id {pid!r:.60}")
        _, kind, key, _location, size = pid[:5]
        if not isinstance(kind, _StorageType):
            raise WeightsError("refused: unknown storage type")
        return _Storage(kind.dtype, str(key), int(size))


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a legacy ``.pth`` state dict as ``name → numpy array`` (C-contiguous
    copies, float32 or int64), in the file's order.

    Raises :class:`WeightsError` for anything else: another format, a global other than the
    four known ones, a storage or view that does not fit its bytes, trailing bytes.
    """
    data = Path(path).read_bytes()
    stream = _BytesReader(data)
    try:
        header = [pickle.loads(stream.pickle_bytes()) for _ in range(3)]
        if header[0] != MAGIC_NUMBER or header[1] != PROTOCOL_VERSION:
            raise WeightsError(f"{path}: not a legacy PyTorch state dict")
        if not isinstance(header[2], dict) or not header[2].get("little_endian"):
            raise WeightsError(f"{path}: not a little-endian PyTorch file")
        state = _Unpickler(io.BytesIO(stream.pickle_bytes())).load()
        keys = pickle.loads(stream.pickle_bytes())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise WeightsError(f"{path}: unreadable PyTorch file ({exc})") from None
    if not isinstance(state, dict) or not isinstance(keys, list):
        raise WeightsError(f"{path}: not a state dict")
    storages: dict[str, np.ndarray] = {}
    by_key = {ref.storage.key: ref.storage for ref in state.values() if isinstance(ref, _TensorRef)}
    for key in keys:
        storage = by_key.get(str(key))
        if storage is None:
            raise WeightsError(f"{path}: storage {key} is not used by any tensor")
        (count,) = struct.unpack("<q", stream.take(8))
        if count != storage.size:
            raise WeightsError(
                f"{path}: storage {key} holds {count} values, expected {storage.size}"
            )
        raw = stream.take(count * storage.dtype.itemsize)
        storages[storage.key] = np.frombuffer(raw, dtype=storage.dtype)
    if not stream.at_end():
        raise WeightsError(f"{path}: unexpected bytes after the last storage")
    tensors = {}
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef) or ref.storage.key not in storages:
            raise WeightsError(f"{path}: entry {name} is not a stored tensor")
        flat = storages[ref.storage.key]
        itemsize = flat.dtype.itemsize
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride, strict=True))
        if ref.offset < 0 or (all(ref.shape) and last >= len(flat)):
            raise WeightsError(f"{path}: tensor {name} does not fit its storage")
        view = np.lib.stride_tricks.as_strided(
            flat[ref.offset :],
            shape=ref.shape,
            strides=tuple(s * itemsize for s in ref.stride),
            writeable=False,
        )
        tensors[str(name)] = np.ascontiguousarray(view)
    return tensors


class _BytesReader:
    """Consecutive pickles and raw byte runs of one file."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def pickle_bytes(self) -> bytes:
        """The bytes of the next pickle (up to and including its STOP opcode)."""
        start = self._pos
        for opcode, _, pos in pickletools.genops(self._data[start:]):
            if opcode.name == "STOP":
                self._pos = start + pos + 1
                return self._data[start : self._pos]
        raise EOFError("no complete pickle")

    def take(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise WeightsError("weights file is truncated")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def at_end(self) -> bool:
        return self._pos == len(self._data)
