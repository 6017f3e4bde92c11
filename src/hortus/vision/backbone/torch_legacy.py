"""Read a PyTorch legacy (pre-zip) ``.pth`` state dict into NumPy, without PyTorch.

The legacy format is a run of pickles read one after another from the same file: a magic
number, the protocol version (1001), system info, the state dict itself, then the list of
storage keys in the order their bytes follow. Each storage is then stored as an 8-byte
little-endian element count and its raw little-endian bytes.

Inside the state-dict pickle every tensor is ``torch._utils._rebuild_tensor_v2(storage, offset,
size, stride, requires_grad, backward_hooks)`` over a storage given as a persistent id
``('storage', <torch.FloatStorage>, key, location, count)``. The restricted unpickler below maps
exactly those globals (plus ``collections.OrderedDict``) to inert placeholders and refuses every
other global, so a hostile file cannot run code: it can only fail to load.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch storage class name -> little-endian NumPy dtype.
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsafeWeightsError(ValueError):
    """The weights file is malformed or references something the safe reader refuses."""


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype
    count: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(
    storage: Any, offset: Any, size: Any, stride: Any, *_rest: Any
) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise UnsafeWeightsError("tensor built over something that is not a storage")
    return _TensorRef(
        storage, int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride)
    )


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a legacy state dict needs."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeWeightsError(f"refusing global {module}.{name} in weights file")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise UnsafeWeightsError(f"unexpected persistent id {pid!r:.80}")
        storage_type, key, _location, count = pid[1], pid[2], pid[3], pid[4]
        if not isinstance(storage_type, _StorageType):
            raise UnsafeWeightsError("persistent id without a known storage type")
        return _StorageRef(str(key), _STORAGE_DTYPES[storage_type.name], int(count))


def _load_pickle(stream: BinaryIO) -> Any:
    try:
        return _RestrictedUnpickler(stream).load()
    except UnsafeWeightsError:
        raise
    except Exception as exc:  # any pickle-level corruption
        raise UnsafeWeightsError(f"malformed weights pickle: {exc}") from exc


def _read_storages(
    stream: BinaryIO, keys: list[str], refs: dict[str, _StorageRef]
) -> dict[str, np.ndarray]:
    storages: dict[str, np.ndarray] = {}
    for key in keys:
        ref = refs.get(key)
        if ref is None:
            raise UnsafeWeightsError(f"storage {key} listed but not used by any tensor")
        header = stream.read(8)
        if len(header) != 8:
            raise UnsafeWeightsError("weights file ends inside the storage table")
        (count,) = struct.unpack("<q", header)
        if count != ref.count:
            raise UnsafeWeightsError(f"storage {key}: {count} elements, expected {ref.count}")
        nbytes = count * ref.dtype.itemsize
        raw = stream.read(nbytes)
        if len(raw) != nbytes:
            raise UnsafeWeightsError(f"weights file truncated in storage {key}")
        storages[key] = np.frombuffer(raw, dtype=ref.dtype)
    return storages


def _materialise(tensor: _TensorRef, storage: np.ndarray) -> np.ndarray:
    """Copy a (possibly non-contiguous) strided view of a storage into a fresh array."""
    if any(s < 0 for s in tensor.size) or any(s < 0 for s in tensor.stride):
        raise UnsafeWeightsError("negative size or stride")
    if len(tensor.size) != len(tensor.stride):
        raise UnsafeWeightsError("size and stride ranks differ")
    if 0 in tensor.size:
        return np.zeros(tensor.size, dtype=storage.dtype.newbyteorder("="))
    last = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.size, tensor.stride, strict=True))
    if tensor.offset < 0 or last >= storage.size:
        raise UnsafeWeightsError("tensor view reaches outside its storage")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[tensor.offset :],
        shape=tensor.size,
        strides=tuple(s * item for s in tensor.stride),
        writeable=False,
    )
    return np.array(view, dtype=storage.dtype.newbyteorder("="), order="C", copy=True)


def read_legacy_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Read a legacy-format PyTorch state dict as ``{key: ndarray}`` in file order.

    Raises ``UnsafeWeightsError`` for any file that is not a plain legacy state dict of
    tensors, including one that references a global outside the allowed set.
    """
    with open(path, "rb") as stream:
        if _load_pickle(stream) != LEGACY_MAGIC:
            raise UnsafeWeightsError("not a legacy PyTorch file (bad magic number)")
        if _load_pickle(stream) != LEGACY_PROTOCOL:
            raise UnsafeWeightsError("unsupported legacy protocol version")
        sys_info = _load_pickle(stream)
        if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
            raise UnsafeWeightsError("only little-endian legacy files are supported")
        state = _load_pickle(stream)
        keys = _load_pickle(stream)
        if not isinstance(state, dict) or not isinstance(keys, list):
            raise UnsafeWeightsError("weights file does not hold a state dict")
        tensors: dict[str, _TensorRef] = {}
        for name, value in state.items():
            if not isinstance(name, str) or not isinstance(value, _TensorRef):
                raise UnsafeWeightsError(f"state dict entry {name!r:.80} is not a tensor")
            tensors[name] = value
        refs = {t.storage.key: t.storage for t in tensors.values()}
        storages = _read_storages(stream, [str(k) for k in keys], refs)
    missing = set(refs) - set(storages)
    if missing:
        raise UnsafeWeightsError(f"{len(missing)} storages have no data")
    return {name: _materialise(t, storages[t.storage.key]) for name, t in tensors.items()}
