"""DLPack (dlpack.h) through ctypes: exporting a device buffer as a
capsule (the unversioned DLManagedTensor) and reading the capsule of
another library's tensor."""

import ctypes
from typing import NamedTuple, Optional, Tuple

# Device types, and the (type code, bits) of each model dtype.
DL_CPU, DL_CUDA, DL_CUDA_HOST, DL_CUDA_MANAGED = 1, 2, 3, 13
DL_DTYPES = {"f32": (2, 32), "f16": (2, 16), "bf16": (4, 16), "f64": (2, 64),
             "i64": (0, 64), "i32": (0, 32), "i16": (0, 16), "i8": (0, 8),
             "u8": (1, 8), "bool": (6, 8)}
_FROM_DL = {v: k for k, v in DL_DTYPES.items()}


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


def export(ptr: int, shape: Tuple[int, ...], dtype: str, device_index: int,
           owner) -> object:
    """A "dltensor" capsule viewing `ptr`; `owner` is kept alive until the
    consumer releases the tensor (or the capsule dies unconsumed)."""
    managed = _DLManagedTensor()
    sizes = (ctypes.c_int64 * max(1, len(shape)))(*shape)
    code, bits = DL_DTYPES[dtype]
    managed.dl_tensor = _DLTensor(
        ctypes.c_void_p(ptr), _DLDevice(DL_CUDA, device_index), len(shape),
        _DLDataType(code, bits, 1),
        ctypes.cast(sizes, ctypes.POINTER(ctypes.c_int64)), None, 0)
    key = _next_export[0]
    _next_export[0] += 1
    managed.manager_ctx = key
    managed.deleter = _dl_deleter
    _exported[key] = (managed, sizes, owner)
    return _capsule_new(ctypes.addressof(managed), _CAPSULE_NAME,
                        ctypes.cast(_capsule_destructor, ctypes.c_void_p))


def live_exports() -> int:
    """Capsules exported and not yet released (for tests)."""
    return len(_exported)


class Tensor(NamedTuple):
    """What a capsule describes."""
    ptr: int
    shape: Tuple[int, ...]
    dtype: Optional[str]      # None: no model dtype
    dtype_text: str
    device_type: int
    device_id: int
    contiguous: bool


def read(capsule) -> Tensor:
    """The tensor of an unconsumed "dltensor" capsule. The capsule is left
    unconsumed: its destructor (the producer's) releases the tensor when
    the capsule is dropped, so keep it while the memory is used."""
    ptr = _capsule_get(capsule, _CAPSULE_NAME)
    if not ptr:
        raise ValueError("the DLPack capsule holds no tensor")
    t = ctypes.cast(ptr, ctypes.POINTER(_DLManagedTensor)).contents.dl_tensor
    shape = tuple(t.shape[i] for i in range(t.ndim))
    dtype = (_FROM_DL.get((t.dtype.code, t.dtype.bits))
             if t.dtype.lanes == 1 else None)
    contiguous = True
    if t.strides:
        expected = 1  # DLPack strides count elements
        for i in reversed(range(t.ndim)):
            if shape[i] != 1 and t.strides[i] != expected:
                contiguous = False
            expected *= shape[i]
    return Tensor((t.data or 0) + t.byte_offset, shape, dtype,
                  f"DLPack type code {t.dtype.code} bits {t.dtype.bits} "
                  f"lanes {t.dtype.lanes}", t.device.device_type,
                  t.device.device_id, contiguous)
