"""Reading device tensors made by other libraries (torch CUDA tensors,
`__cuda_array_interface__`, DLPack) and stream arguments, for CUDA models'
runs. torch is only used when the caller passes torch objects (so it is
already imported)."""

import sys
from typing import NamedTuple, Optional, Tuple

import numpy as np

from . import _dlpack
from ._device import DeviceArray, FROM_TYPESTR, device_ordinal


def _torch_dtypes(torch):
    return {torch.float32: "f32", torch.float16: "f16",
            torch.bfloat16: "bf16", torch.float64: "f64",
            torch.int64: "i64", torch.int32: "i32", torch.int16: "i16",
            torch.int8: "i8", torch.uint8: "u8", torch.bool: "bool"}


def torch_dtype(name: str):
    import torch
    return {v: k for k, v in _torch_dtypes(torch).items()}[name]


class DeviceView(NamedTuple):
    """A device tensor seen through its protocol."""
    ptr: int
    shape: Tuple[int, ...]
    dtype: Optional[str]      # None: a dtype no model has
    dtype_text: str           # what to print in an error
    device_type: str          # "cuda", or what else it is on
    device_index: int
    contiguous: bool
    kind: str                 # "torch", "attn", "cuda_array_interface", "dlpack"
    owner: object             # kept alive during the run
    stream: int               # the producer's stream to wait for (0: none)
    readonly: bool = False    # the producer forbids writes


def _c_contiguous(shape, strides, item) -> bool:
    """Row-major dense; sizes of 1 may have any stride."""
    expected = item
    for size, stride in reversed(list(zip(shape, strides))):
        if size != 1 and stride != expected:
            return False
        expected *= size
    return True


def _torch_module():
    return sys.modules.get("torch")


def is_torch_tensor(value) -> bool:
    torch = _torch_module()
    return torch is not None and isinstance(value, torch.Tensor)


def device_view(value, stream: int) -> Optional[DeviceView]:
    """The device tensor `value` is, or None for host data (numpy, scalars,
    lists, CPU torch tensors, CPU DLPack producers). `stream` is the one
    the run will use (handed to DLPack producers)."""
    if isinstance(value, DeviceArray):
        return DeviceView(value.ptr, value.shape, value.dtype, value.dtype,
                          "cuda", value.device_index, True, "attn", value,
                          value.stream)
    if is_torch_tensor(value):
        if value.device.type == "cpu":
            return None
        dtype = _torch_dtypes(_torch_module()).get(value.dtype)
        index = value.device.index if value.device.index is not None else 0
        return DeviceView(value.data_ptr(), tuple(value.shape), dtype,
                          str(value.dtype), value.device.type, index,
                          value.is_contiguous(), "torch", value, 0)
    if isinstance(value, np.ndarray):
        return None
    iface = getattr(value, "__cuda_array_interface__", None)
    if iface is not None:
        return _from_cai(value, iface)
    if hasattr(value, "__dlpack_device__") and hasattr(value, "__dlpack__"):
        device_type, index = value.__dlpack_device__()
        if int(device_type) in (_dlpack.DL_CPU, _dlpack.DL_CUDA_HOST):
            return None
        return _from_dlpack(value, int(device_type), int(index), stream)
    return None


def _from_cai(value, iface) -> DeviceView:
    shape = tuple(int(d) for d in iface["shape"])
    typestr = iface["typestr"]
    dtype = FROM_TYPESTR.get(typestr)
    item = int(typestr[2:]) if typestr[2:].isdigit() else 0
    strides = iface.get("strides")
    contiguous = strides is None or _c_contiguous(shape, strides, item)
    ptr = int(iface["data"][0])
    # The interface does not say which device; the pointer's context does.
    # It is taken to be the runtime's device (as CuPy and Numba on one GPU).
    stream = iface.get("stream") or 0
    return DeviceView(ptr, shape, dtype, typestr, "cuda", device_ordinal(),
                      contiguous, "cuda_array_interface", value, int(stream),
                      bool(iface["data"][1]))


def _from_dlpack(value, device_type: int, index: int,
                 stream: int) -> DeviceView:
    # The device comes from __dlpack_device__ (as the protocol intends): a
    # tensor the run cannot use is refused before a capsule is made.
    names = {_dlpack.DL_CUDA: "cuda", _dlpack.DL_CUDA_MANAGED: "cuda"}
    if device_type not in names or index != device_ordinal():
        where = names.get(device_type, f"DLPack device type {device_type}")
        return DeviceView(0, (), None, "?", where, index, False, "dlpack",
                          value, 0)
    # The producer orders its work before `stream` (1: the legacy default
    # stream, as DLPack spells it).
    capsule = value.__dlpack__(stream=stream or 1)
    t = _dlpack.read(capsule)
    # The capsule goes with the view: kept during the run, released after.
    return DeviceView(t.ptr, t.shape, t.dtype, t.dtype_text,
                      names[device_type], index, t.contiguous, "dlpack",
                      (value, capsule), 0)


def describe_device(value) -> Optional[str]:
    """Where a device tensor is ("cuda:0"), or None for host data; reads
    nothing but the device (for CPU models, which refuse device data)."""
    if isinstance(value, DeviceArray):
        return value.device
    if is_torch_tensor(value):
        return None if value.device.type == "cpu" else str(value.device)
    if isinstance(value, np.ndarray):
        return None
    if getattr(value, "__cuda_array_interface__", None) is not None:
        return "cuda (__cuda_array_interface__)"
    if hasattr(value, "__dlpack_device__"):
        try:
            device_type, index = value.__dlpack_device__()
        except Exception:
            return None
        if int(device_type) not in (_dlpack.DL_CPU, _dlpack.DL_CUDA_HOST):
            name = "cuda" if int(device_type) in (_dlpack.DL_CUDA, _dlpack.DL_CUDA_MANAGED) \
                else f"DLPack device type {int(device_type)}"
            return f"{name}:{int(index)}"
    return None


def stream_handle(stream) -> int:
    """The CUstream of `stream`: None or an int, a torch.cuda.Stream (or
    anything with `cuda_stream`), an object with `__cuda_stream__` (the
    CUDA stream protocol) or `ptr` (CuPy)."""
    if stream is None:
        return 0
    if isinstance(stream, bool):
        raise TypeError("stream must be a CUstream handle, not a bool")
    if isinstance(stream, int):
        if stream < 0:
            raise ValueError(f"stream handle {stream} is negative")
        return stream
    if hasattr(stream, "__cuda_stream__"):
        return int(stream.__cuda_stream__()[1])
    for attr in ("cuda_stream", "ptr"):
        handle = getattr(stream, attr, None)
        if isinstance(handle, int):
            return handle
    raise TypeError(f"stream must be None, an int CUstream handle, a "
                    f"torch.cuda.Stream or an object with __cuda_stream__, "
                    f"not {type(stream).__name__}")
