"""Device memory for CUDA models: `DeviceArray`, the device ordinal and
synchronisation, through libAttnRuntime's attnCuda* helpers (ctypes; no
torch or CuPy needed)."""

import ctypes
from typing import Optional, Tuple

import numpy as np

from . import _dlpack
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
TYPESTRS = {"f32": "<f4", "f16": "<f2", "bf16": "<u2", "f64": "<f8",
             "i64": "<i8", "i32": "<i4", "i16": "<i2", "i8": "|i1",
             "u8": "|u1", "bool": "|b1"}
FROM_TYPESTR = {v: k for k, v in TYPESTRS.items()}
FROM_TYPESTR.update({"|u2": "bf16", "<u2": "bf16", "|b1": "bool",
                      "<i1": "i8", "<u1": "u8", "<b1": "bool"})


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
        iface = {"shape": self.shape, "typestr": TYPESTRS[self.dtype],
                 "data": (self.ptr, False), "strides": None, "version": 3}
        # A consumer waits for the run that wrote it.
        if self.stream:
            iface["stream"] = self.stream
        return iface

    def __dlpack_device__(self) -> Tuple[int, int]:
        return (_dlpack.DL_CUDA, self.device_index)

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
        return _dlpack.export(self.ptr, self.shape, self.dtype,
                              self.device_index, self)

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
