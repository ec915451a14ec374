"""Device memory for CUDA models: `DeviceArray` and the reading of device
tensors made elsewhere (torch CUDA tensors, `__cuda_array_interface__`,
DLPack).

Everything here goes through libAttnRuntime's attnCuda* helpers and
ctypes; neither torch nor CuPy is needed (torch is used only when the
caller passes torch tensors, so it is already imported).
"""

import ctypes
import sys
from typing import NamedTuple, Optional, Tuple

import numpy as np

from . import _lib as rt

# attn dtype name -> numpy dtype of the host arrays (bf16 as uint16 bits).
NUMPY_DTYPES = {
    "f32": np.float32, "f16": np.float16, "bf16": np.uint16,
    "f64": np.float64, "i64": np.int64, "i32": np.int32, "i16": np.int16,
    "i8": np.int8, "u8": np.uint8, "bool": np.bool_,
}
ITEM_SIZES = {k: np.dtype(v).itemsize for k, v in NUMPY_DTYPES.items()}

# __cuda_array_interface__ type strings. bf16 has none: its bits travel as
# '<u2', as with numpy.
_TYPESTRS = {"f32": "<f4", "f16": "<f2", "bf16": "<u2", "f64": "<f8",
             "i64": "<i8", "i32": "<i4", "i16": "<i2", "i8": "|i1",
             "u8": "|u1", "bool": "|b1"}
_FROM_TYPESTR = {v: k for k, v in _TYPESTRS.items()}
_FROM_TYPESTR.update({"|u2": "bf16", "<u2": "bf16", "|b1": "bool",
                      "<i1": "i8", "<u1": "u8", "<b1": "bool"})

# DLPack (dlpack.h): device types and (type code, bits) of each dtype.
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13
_DL_DTYPES = {"f32": (2, 32), "f16": (2, 16), "bf16": (4, 16), "f64": (2, 64),
              "i64": (0, 64), "i32": (0, 32), "i16": (0, 16), "i8": (0, 8),
              "u8": (1, 8), "bool": (6, 8)}
_FROM_DL = {v: k for k, v in _DL_DTYPES.items()}


def _torch_dtypes(torch):
    return {torch.float32: "f32", torch.float16: "f16",
            torch.bfloat16: "bf16", torch.float64: "f64",
            torch.int64: "i64", torch.int32: "i32", torch.int16: "i16",
            torch.int8: "i8", torch.uint8: "u8", torch.bool: "bool"}


def torch_dtype(name: str):
    import torch
    return {v: k for k, v in _torch_dtypes(torch).items()}[name]


def check(status: int, what: str = "") -> None:
    if status != 0:
        message = rt.last_error()
        raise rt.AttnError(f"{what}: {message}" if what else message)


def device_ordinal() -> int:
    """The CUDA device that the runtime uses (see `set_cuda_device`)."""
    return rt.runtime().attnCudaGetDevice()


def set_cuda_device(ordinal: int) -> None:
    """Chooses the GPU that CUDA models and DeviceArrays use (default 0).
    Call it before loading a CUDA model or allocating device memory: the
    choice is fixed then. Raises AttnError for a device the driver does not
    have, or for a change after that point."""
    check(rt.runtime().attnCudaSetDevice(int(ordinal)))


def synchronize(stream: int = 0) -> None:
    """Waits for `stream` (a CUstream handle), or all work of the device."""
    check(rt.runtime().attnCudaSynchronize(ctypes.c_void_p(stream or None)),
          "synchronize")


#===------------------------------------------------------------------===#
# DLPack structures (dlpack.h, the unversioned DLManagedTensor).
#===------------------------------------------------------------------===#

class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice),
                ("ndim", ctypes.c_int32), ("dtype", _DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    pass


_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(_DLManagedTensor))
_DLManagedTensor._fields_ = [("dl_tensor", _DLTensor),
                             ("manager_ctx", ctypes.c_void_p),
                             ("deleter", _DELETER)]

_CAPSULE_NAME = b"dltensor"


def _capi(name, restype, argtypes):
    # Indexing gives a function object of our own: setting its types does
    # not change ctypes.pythonapi.<name> for other users.
    fn = ctypes.pythonapi[name]
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


_capsule_new = _capi("PyCapsule_New", ctypes.py_object,
                     [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p])
_capsule_get = _capi("PyCapsule_GetPointer", ctypes.c_void_p,
                     [ctypes.py_object, ctypes.c_char_p])
_capsule_valid = _capi("PyCapsule_IsValid", ctypes.c_int,
                       [ctypes.py_object, ctypes.c_char_p])
# The destructor receives a borrowed PyObject*; these read it as a pointer.
_capsule_valid_raw = _capi("PyCapsule_IsValid", ctypes.c_int,
                           [ctypes.c_void_p, ctypes.c_char_p])
_capsule_get_raw = _capi("PyCapsule_GetPointer", ctypes.c_void_p,
                         [ctypes.c_void_p, ctypes.c_char_p])

# Exported tensors, keyed by manager_ctx: the structure, its shape array and
# the DeviceArray, alive until the consumer calls the deleter (or the
# capsule dies unconsumed).
_exported = {}
_next_export = [1]


@_DELETER
def _dl_deleter(managed):
    _exported.pop(managed.contents.manager_ctx, None)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _capsule_destructor(capsule):
    # A consumer renames the capsule "used_dltensor" and owns the tensor;
    # an unconsumed one still holds it.
    if _capsule_valid_raw(capsule, _CAPSULE_NAME):
        ptr = _capsule_get_raw(capsule, _CAPSULE_NAME)
        managed = ctypes.cast(ptr, ctypes.POINTER(_DLManagedTensor))
        _exported.pop(managed.contents.manager_ctx, None)


#===------------------------------------------------------------------===#
# DeviceArray
#===------------------------------------------------------------------===#

class DeviceArray:
    """A dense, C-contiguous tensor in device memory (attnCudaMalloc) that
    this object owns and frees. It is what a CUDA model's run returns when
    no torch tensors were passed, and what `Model.allocate_inouts` gives for
    device caches.

    Other libraries read it without a copy through
    `__cuda_array_interface__` (CuPy, Numba, `torch.as_tensor(a,
    device="cuda")`) or DLPack (`torch.from_dlpack(a)`); `numpy()` copies it
    to the host. `dtype` is the model's dtype name ("f32", "bf16", ...);
    bf16 reads back as uint16 bits, as everywhere in this package.
    """

    def __init__(self, shape, dtype: str = "f32"):
        if dtype not in NUMPY_DTYPES:
            raise ValueError(f"unknown dtype {dtype!r} (one of "
                             + ", ".join(NUMPY_DTYPES) + ")")
        self.shape = tuple(int(d) for d in shape)
        if any(d < 0 for d in self.shape):
            raise ValueError(f"negative size in shape {list(self.shape)}")
        self.dtype = dtype
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * \
            ITEM_SIZES[dtype]
        self.device_index = device_ordinal()
        # The stream of the run that last wrote it (0: none pending).
        self.stream = 0
        self._ptr = None
        ptr = ctypes.c_void_p()
        check(rt.runtime().attnCudaMalloc(self.nbytes, ctypes.byref(ptr)),
              "allocating a DeviceArray")
        self._ptr = ptr.value

    @classmethod
    def from_numpy(cls, array, dtype: Optional[str] = None) -> "DeviceArray":
        """A device copy of a host array (bf16: uint16 bits, or an array
        whose dtype is named 'bfloat16')."""
        array = np.asarray(array)
        if dtype is None:
            dtype = _numpy_to_name(array.dtype)
        out = cls(array.shape, dtype)
        out.copy_from(array)
        return out

    @classmethod
    def zeros(cls, shape, dtype: str = "f32") -> "DeviceArray":
        out = cls(shape, dtype)
        zeros = np.zeros(min(out.nbytes, 1 << 26), np.uint8)
        for start in range(0, out.nbytes, zeros.nbytes):
            n = min(zeros.nbytes, out.nbytes - start)
            check(rt.runtime().attnCudaMemcpy(
                ctypes.c_void_p(out.ptr + start), zeros.ctypes.data, n),
                "zero-filling a DeviceArray")
        return out

    @property
    def ptr(self) -> int:
        """The CUdeviceptr of its first element."""
        if self._ptr is None:
            raise rt.AttnError("the DeviceArray has been freed")
        return self._ptr

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(NUMPY_DTYPES[self.dtype])

    @property
    def device(self) -> str:
        return f"cuda:{self.device_index}"

    def _wait(self) -> None:
        if self.stream:
            synchronize(self.stream)
            self.stream = 0

    def numpy(self) -> np.ndarray:
        """A host copy (after the run that wrote it has finished)."""
        self._wait()
        out = np.empty(self.shape, self.numpy_dtype)
        check(rt.runtime().attnCudaMemcpy(out.ctypes.data,
                                          ctypes.c_void_p(self.ptr),
                                          self.nbytes),
              "copying a DeviceArray to the host")
        return out

    def copy_from(self, array) -> "DeviceArray":
        """Overwrites it with a host array of its shape and dtype."""
        array = np.asarray(array)
        if self.dtype == "bf16" and array.dtype.name == "bfloat16":
            array = array.view(np.uint16)
        if array.dtype != self.numpy_dtype or array.shape != self.shape:
            raise ValueError(f"cannot copy a {array.dtype} array of shape "
                             f"{list(array.shape)} into a DeviceArray of "
                             f"{self.dtype} {list(self.shape)}")
        array = np.ascontiguousarray(array)
        self._wait()
        check(rt.runtime().attnCudaMemcpy(ctypes.c_void_p(self.ptr),
                                          array.ctypes.data, self.nbytes),
              "copying to a DeviceArray")
        return self

    def free(self) -> None:
        """Frees the memory now, after the run that writes it (if any) has
        finished. Views exported to other libraries must be dropped first,
        and runs on other streams that read it must be done."""
        if self._ptr is not None:
            try:
                self._wait()
            finally:
                ptr, self._ptr = self._ptr, None
                rt.runtime().attnCudaFree(ctypes.c_void_p(ptr))

    def __del__(self):
        try:
            self.free()
        except Exception:
            pass

    @property
    def __cuda_array_interface__(self):
        iface = {"shape": self.shape, "typestr": _TYPESTRS[self.dtype],
                 "data": (self.ptr, False), "strides": None, "version": 3}
        # A consumer waits for the run that wrote it.
        if self.stream:
            iface["stream"] = self.stream
        return iface

    def __dlpack_device__(self) -> Tuple[int, int]:
        return (_DL_CUDA, self.device_index)

    def __dlpack__(self, stream=None, max_version=None, dl_device=None,
                   copy=None):
        """A DLPack capsule (unversioned) viewing this memory; the array
        lives until the consumer releases it."""
        if copy:
            raise BufferError("DeviceArray exports views only (copy=True)")
        if dl_device is not None and tuple(dl_device) != \
                self.__dlpack_device__():
            raise BufferError(f"DeviceArray is on {self.device}, not on "
                              f"DLPack device {tuple(dl_device)}")
        # The consumer will use `stream`: the run that wrote this array
        # must be done first (the coarse form: wait for it).
        if self.stream and stream != self.stream:
            self._wait()
        managed = _DLManagedTensor()
        shape = (ctypes.c_int64 * max(1, len(self.shape)))(*self.shape)
        code, bits = _DL_DTYPES[self.dtype]
        managed.dl_tensor = _DLTensor(
            ctypes.c_void_p(self.ptr), _DLDevice(_DL_CUDA, self.device_index),
            len(self.shape), _DLDataType(code, bits, 1),
            ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64)), None, 0)
        key = _next_export[0]
        _next_export[0] += 1
        managed.manager_ctx = key
        managed.deleter = _dl_deleter
        _exported[key] = (managed, shape, self)
        return _capsule_new(ctypes.addressof(managed), _CAPSULE_NAME,
                            ctypes.cast(_capsule_destructor, ctypes.c_void_p))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d DeviceArray")
        return self.shape[0]

    def __repr__(self):
        state = "freed" if self._ptr is None else hex(self._ptr)
        return (f"DeviceArray(shape={self.shape}, dtype={self.dtype!r}, "
                f"device={self.device!r}, ptr={state})")


def _numpy_to_name(dtype: np.dtype) -> str:
    if dtype.name == "bfloat16":
        return "bf16"
    for name, np_type in NUMPY_DTYPES.items():
        if name != "bf16" and dtype == np.dtype(np_type):
            return name
    raise ValueError(f"no model dtype for numpy dtype {dtype}")


def to_device(array, dtype: Optional[str] = None) -> DeviceArray:
    """`DeviceArray.from_numpy`: a device copy of a host array."""
    return DeviceArray.from_numpy(array, dtype)


#===------------------------------------------------------------------===#
# Reading device tensors from other libraries.
#===------------------------------------------------------------------===#

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
        if int(device_type) in (_DL_CPU, _DL_CUDA_HOST):
            return None
        return _from_dlpack(value, int(device_type), int(index), stream)
    return None


def _from_cai(value, iface) -> DeviceView:
    shape = tuple(int(d) for d in iface["shape"])
    typestr = iface["typestr"]
    dtype = _FROM_TYPESTR.get(typestr)
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
    names = {_DL_CUDA: "cuda", _DL_CUDA_MANAGED: "cuda"}
    if device_type not in names or index != device_ordinal():
        where = names.get(device_type, f"DLPack device type {device_type}")
        return DeviceView(0, (), None, "?", where, index, False, "dlpack",
                          value, 0)
    # The producer orders its work before `stream` (1: the legacy default
    # stream, as DLPack spells it).
    capsule = value.__dlpack__(stream=stream or 1)
    ptr = _capsule_get(capsule, _CAPSULE_NAME)
    if not ptr:
        raise ValueError("the DLPack capsule holds no tensor")
    t = ctypes.cast(ptr, ctypes.POINTER(_DLManagedTensor)).contents.dl_tensor
    shape = tuple(t.shape[i] for i in range(t.ndim))
    key = (t.dtype.code, t.dtype.bits)
    dtype = _FROM_DL.get(key) if t.dtype.lanes == 1 else None
    if key == (1, 8) and dtype is None:
        dtype = "u8"
    item = t.dtype.bits // 8
    contiguous = not t.strides or _c_contiguous(
        shape, [t.strides[i] * item for i in range(t.ndim)], item)
    # The capsule stays unconsumed: alive during the run, its destructor
    # (the producer's) releases the tensor afterwards.
    return DeviceView((t.data or 0) + t.byte_offset, shape, dtype,
                      f"DLPack type code {t.dtype.code} bits {t.dtype.bits}"
                      f" lanes {t.dtype.lanes}", names[device_type],
                      index, contiguous, "dlpack",
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
        if int(device_type) not in (_DL_CPU, _DL_CUDA_HOST):
            name = "cuda" if int(device_type) in (_DL_CUDA, _DL_CUDA_MANAGED) \
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
