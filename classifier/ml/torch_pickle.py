"""A reader for state dicts saved by `torch.save` before PyTorch 1.6 (the legacy, non-zip format), with
numpy and an allow-listed unpickler: no torch needed, and no arbitrary code runs from a crafted file.
"""

from __future__ import annotations

import collections
import math
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

# Header of the legacy torch.save format: a magic number, then the format's protocol version.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
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


@dataclass
class _StorageType:
    """What the unpickler hands out for torch.FloatStorage and friends: only their element type."""

    dtype: np.dtype[Any]


@dataclass
class _Storage:
    dtype: np.dtype[Any]
    numel: int
    data: NDArray[Any] | None = None


@dataclass
class _TensorRef:
    """A tensor as the pickle describes it; its storage's bytes follow the pickle in the file."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def to_numpy(self) -> NDArray[Any]:
        storage = self.storage
        if storage.data is None:
            raise ValueError("tensor refers to a storage the file never wrote")
        if self.offset < 0 or any(n < 0 for n in self.shape) or any(s < 0 for s in self.stride):
            raise ValueError("tensor has a negative offset, size or stride")
        if math.prod(self.shape) == 0:
            return np.empty(self.shape, dtype=storage.dtype)
        # as_strided reads raw memory without checks, so a crafted file must not point past the storage.
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride, strict=True))
        if last >= storage.numel:
            raise ValueError("tensor reaches past the end of its storage")
        itemsize = storage.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            storage.data[self.offset :], shape=self.shape, strides=[s * itemsize for s in self.stride]
        )
        return view.copy()


def _rebuild_tensor(
    storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_grad_and_hooks: Any
) -> _TensorRef:
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("tensor without a storage")
    return _TensorRef(storage, int(offset), tuple(int(n) for n in size), tuple(int(s) for s in stride))


class _AllowListUnpickler(pickle.Unpickler):
    """Resolves only the few names a state dict needs; anything else (os.system…) is refused."""

    def __init__(self, file: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")

    def persistent_load(self, pid: Any) -> _Storage:
        # ("storage", storage type, key, device, element count, view metadata); views predate 2018.
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _device, numel, view = pid
        if not isinstance(storage_type, _StorageType) or storage_type.dtype not in _STORAGE_DTYPES.values():
            raise pickle.UnpicklingError("unsupported storage type")
        if view is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        storage = self._storages.setdefault(str(key), _Storage(storage_type.dtype, int(numel)))
        if storage.dtype != storage_type.dtype or storage.numel != int(numel):
            raise pickle.UnpicklingError(f"storage {key} is declared twice with different types")
        return storage


def read_legacy_torch_state_dict(path: str | Path) -> dict[str, NDArray[Any]]:
    """Read a state dict saved by `torch.save` before PyTorch 1.6, as numpy arrays in torch layout."""
    storages: dict[str, _Storage] = {}
    with open(path, "rb") as file:

        def load() -> Any:
            return _AllowListUnpickler(file, storages).load()

        try:
            magic, protocol = load(), load()
        except (pickle.UnpicklingError, EOFError) as error:
            raise ValueError(
                f"{path} is not a legacy torch.save file (zip-format files are not supported)"
            ) from error
        if magic != _LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL:
            raise ValueError(f"{path} is not a legacy torch.save file")
        system_info = load()
        if not isinstance(system_info, dict) or not system_info.get("little_endian"):
            raise ValueError(f"{path} was saved on a big-endian machine")
        state_dict = load()
        if not isinstance(state_dict, dict) or not all(
            isinstance(t, _TensorRef) for t in state_dict.values()
        ):
            raise ValueError(f"{path} does not hold a state dict of tensors")
        # The storages' raw bytes follow in this order, each after its element count.
        for key in load():
            storage = storages.get(str(key))
            if storage is None:
                raise ValueError(f"{path}: storage {key} is written but no tensor uses it")
            (numel,) = struct.unpack("<q", _read_exactly(file, 8))
            if numel != storage.numel:
                raise ValueError(
                    f"{path}: storage {key} holds {numel} elements, the pickle declared {storage.numel}"
                )
            storage.data = np.frombuffer(
                _read_exactly(file, numel * storage.dtype.itemsize), dtype=storage.dtype
            )
    return {name: tensor.to_numpy() for name, tensor in state_dict.items()}


def _read_exactly(file: BinaryIO, count: int) -> bytes:
    data = file.read(count)
    if len(data) != count:
        raise ValueError("weights file is truncated")
    return data
