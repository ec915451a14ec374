"""Run models compiled by attn-compile from Python.

A thin ctypes wrapper over the C API of libAttnRuntime
(include/attn-c/Runtime.h)::

    import attn_mlir
    attn_mlir.compile("model.mlir", "model.so")
    model = attn_mlir.Model("model.so")
    print(model.inputs)            # [TensorSpec(name='x', dtype='f32', shape=(2, 3)), ...]
    outputs = model.run({"x": x})  # {"y": ndarray, ...}

The runtime library is looked up in $ATTN_MLIR_LIB_DIR, next to this package
(an installed layout) and in the build directories of a source checkout;
attn-compile in the matching bin/ directory, then on PATH.

NumPy has no bfloat16: bf16 tensors are passed and returned as uint16
arrays holding the bits (arrays whose dtype is named 'bfloat16', such as
ml_dtypes.bfloat16, are accepted too).
"""

import ctypes
import glob
import os
import shutil
import subprocess
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

__all__ = ["AttnError", "CompileError", "Model", "TensorSpec", "compile",
           "get_num_threads", "set_num_threads", "runtime_library"]

_DTYPE_NAMES = ["f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8",
                "bool"]
_NUMPY_DTYPES = {
    "f32": np.float32, "f16": np.float16, "bf16": np.uint16,
    "f64": np.float64, "i64": np.int64, "i32": np.int32, "i16": np.int16,
    "i8": np.int8, "u8": np.uint8, "bool": np.bool_,
}
_DEVICES = {0: "cpu", 1: "cuda"}


class AttnError(RuntimeError):
    """An error reported by libAttnRuntime."""


class CompileError(RuntimeError):
    """attn-compile failed; the message holds its diagnostics."""


class TensorSpec(NamedTuple):
    name: str
    dtype: str
    shape: Tuple[int, ...]

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(_NUMPY_DTYPES[self.dtype])


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_int32),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("num_bytes", ctypes.c_uint64)]


def _candidate_dirs(leaf: str) -> List[str]:
    """Directories to search for lib/ or bin/ content, best first."""
    dirs = []
    env = os.environ.get("ATTN_MLIR_LIB_DIR")
    if env:
        dirs.append(env if leaf == "lib" else os.path.join(env, "..", leaf))
    here = os.path.dirname(os.path.abspath(__file__))
    dirs.append(os.path.join(here, leaf))
    repo = os.path.dirname(os.path.dirname(here))
    builds = [os.path.join(repo, "build")]
    builds += sorted(glob.glob(os.path.join(repo, "build*")),
                     key=lambda p: -os.path.getmtime(p))
    for build in builds:
        if os.path.join(build, leaf) not in dirs:
            dirs.append(os.path.join(build, leaf))
    return dirs


def runtime_library() -> str:
    """Path of the libAttnRuntime.so that this package uses."""
    for d in _candidate_dirs("lib"):
        path = os.path.join(d, "libAttnRuntime.so")
        if os.path.exists(path):
            return os.path.abspath(path)
    raise AttnError("cannot find libAttnRuntime.so: set ATTN_MLIR_LIB_DIR to "
                    "the directory that holds it (e.g. build/lib)")


_lib = None


def _runtime() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(runtime_library())
    info_p = ctypes.POINTER(_TensorInfo)
    signatures = {
        "attnModelLoad": (ctypes.c_void_p, [ctypes.c_char_p]),
        "attnModelFree": (None, [ctypes.c_void_p]),
        "attnModelGetDevice": (ctypes.c_int, [ctypes.c_void_p]),
        "attnModelGetNumInputs": (ctypes.c_int32, [ctypes.c_void_p]),
        "attnModelGetNumOutputs": (ctypes.c_int32, [ctypes.c_void_p]),
        "attnModelGetInputInfo": (ctypes.c_int,
                                  [ctypes.c_void_p, ctypes.c_int32, info_p]),
        "attnModelGetOutputInfo": (ctypes.c_int,
                                   [ctypes.c_void_p, ctypes.c_int32, info_p]),
        "attnModelGetNumInouts": (ctypes.c_int32, [ctypes.c_void_p]),
        "attnModelGetInoutInfo": (ctypes.c_int,
                                  [ctypes.c_void_p, ctypes.c_int32, info_p]),
        "attnModelGetSignature": (ctypes.c_char_p, [ctypes.c_void_p]),
        "attnModelRun": (ctypes.c_int, [ctypes.c_void_p,
                                        ctypes.POINTER(ctypes.c_void_p),
                                        ctypes.POINTER(ctypes.c_void_p),
                                        ctypes.c_void_p]),
        "attnModelRunInPlace": (ctypes.c_int, [ctypes.c_void_p,
                                               ctypes.POINTER(ctypes.c_void_p),
                                               ctypes.POINTER(ctypes.c_void_p),
                                               ctypes.POINTER(ctypes.c_void_p),
                                               ctypes.c_void_p]),
        "attnGetLastError": (ctypes.c_char_p, []),
        "attnSetNumThreads": (None, [ctypes.c_int32]),
        "attnGetNumThreads": (ctypes.c_int32, []),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _lib = lib
    return lib


def _last_error() -> str:
    return _runtime().attnGetLastError().decode(errors="replace")


def set_num_threads(n: int) -> None:
    """Threads that CPU models use, the caller included."""
    _runtime().attnSetNumThreads(int(n))


def get_num_threads() -> int:
    return _runtime().attnGetNumThreads()


class Model:
    """A compiled model (.so) loaded into this process."""

    def __init__(self, path: str):
        lib = _runtime()
        self._lib = lib
        self._handle = lib.attnModelLoad(os.fsencode(os.fspath(path)))
        if not self._handle:
            raise AttnError(_last_error())
        self.path = os.fspath(path)
        self.device = _DEVICES.get(lib.attnModelGetDevice(self._handle),
                                   "unknown")
        self.signature = lib.attnModelGetSignature(self._handle).decode()
        self.inputs = self._specs(lib.attnModelGetNumInputs,
                                  lib.attnModelGetInputInfo)
        self.outputs = self._specs(lib.attnModelGetNumOutputs,
                                   lib.attnModelGetOutputInfo)
        # Buffers the model reads and updates in place on every run: the KV
        # caches of a fused decode step.
        self.inouts = self._specs(lib.attnModelGetNumInouts,
                                  lib.attnModelGetInoutInfo)

    def _specs(self, count, get) -> List[TensorSpec]:
        specs = []
        for i in range(count(self._handle)):
            info = _TensorInfo()
            if get(self._handle, i, ctypes.byref(info)) != 0:
                raise AttnError(_last_error())
            specs.append(TensorSpec(info.name.decode(),
                                    _DTYPE_NAMES[info.dtype],
                                    tuple(info.shape[d]
                                          for d in range(info.rank))))
        return specs

    def _prepare(self, spec: TensorSpec, value) -> np.ndarray:
        want = spec.numpy_dtype
        if isinstance(value, np.ndarray):
            if spec.dtype == "bf16" and value.dtype.name == "bfloat16":
                value = value.view(np.uint16)
            if value.dtype != want:
                raise ValueError(f"input '{spec.name}' has dtype "
                                 f"{value.dtype}, the model expects "
                                 f"{spec.dtype} ({want})")
        else:
            value = np.asarray(value, dtype=want)
        if value.shape != spec.shape:
            raise ValueError(f"input '{spec.name}' has shape "
                             f"{list(value.shape)}, the model expects "
                             f"{list(spec.shape)}")
        return np.ascontiguousarray(value)

    def allocate_inouts(self) -> Dict[str, np.ndarray]:
        """Zero-filled arrays for the model's inout buffers (its KV caches),
        to pass to every run."""
        return {s.name: np.zeros(s.shape, dtype=s.numpy_dtype)
                for s in self.inouts}

    def _inout(self, spec: TensorSpec, value) -> np.ndarray:
        if not (isinstance(value, np.ndarray) and value.dtype == spec.numpy_dtype
                and value.shape == spec.shape and value.flags.c_contiguous
                and value.flags.writeable):
            raise ValueError(f"inout '{spec.name}' must be a writable, "
                             f"C-contiguous {spec.numpy_dtype} array of shape "
                             f"{list(spec.shape)} (it is updated in place)")
        return value

    def run(self, inputs: Optional[Dict[str, object]] = None,
            **kwargs) -> Dict[str, np.ndarray]:
        """Runs the model on host arrays keyed by input name; returns the
        outputs keyed by name. The arrays of inout buffers (see
        `allocate_inouts`) are passed by the same names and updated in
        place."""
        if self._handle is None:
            raise AttnError("the model has been closed")
        given = dict(inputs or {})
        given.update(kwargs)
        names = [s.name for s in self.inputs] + [s.name for s in self.inouts]
        missing = [n for n in names if n not in given]
        extra = sorted(set(given) - set(names))
        if missing or extra:
            parts = []
            if missing:
                parts.append("missing inputs " + ", ".join(map(repr, missing)))
            if extra:
                parts.append("unknown inputs " + ", ".join(map(repr, extra)))
            raise ValueError("; ".join(parts) + " (the model's inputs are "
                             + ", ".join(map(repr, names)) + ")")
        arrays = [self._prepare(s, given[s.name]) for s in self.inputs]
        inouts = [self._inout(s, given[s.name]) for s in self.inouts]
        results = [np.empty(s.shape, dtype=s.numpy_dtype)
                   for s in self.outputs]

        def pointers(items):
            return (ctypes.c_void_p * max(1, len(items)))(
                *[a.ctypes.data for a in items])

        if self._lib.attnModelRunInPlace(self._handle, pointers(arrays),
                                         pointers(inouts), pointers(results),
                                         None) != 0:
            raise AttnError(_last_error())
        return {s.name: r for s, r in zip(self.outputs, results)}

    __call__ = run

    def close(self) -> None:
        if getattr(self, "_handle", None):
            self._lib.attnModelFree(self._handle)
        self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return (f"Model({self.path!r}, device={self.device!r}, "
                f"inputs={self.inputs}, outputs={self.outputs})")


def _attn_compile() -> str:
    env = os.environ.get("ATTN_COMPILE")
    if env:
        return env
    for d in _candidate_dirs("bin"):
        path = os.path.join(d, "attn-compile")
        if os.access(path, os.X_OK):
            return os.path.abspath(path)
    found = shutil.which("attn-compile")
    if found:
        return found
    raise CompileError("cannot find attn-compile: set ATTN_MLIR_LIB_DIR to "
                       "the build's lib/ directory or put it on PATH")


def compile(path: str, out: str, *, target: str = "cpu",
            dims: Optional[Dict[str, int]] = None, mcpu: Optional[str] = None,
            emit: Optional[str] = None, report: Optional[str] = None,
            entry_function: Optional[str] = None,
            max_seq: Optional[int] = None, fuse_decode: bool = True,
            extra_args: Sequence[str] = ()) -> str:
    """Compiles a .mlir/.onnx model with attn-compile into `out` (a shared
    library, or IR with `emit`); returns `out`. A decode-step ONNX model
    whose past length is symbolic gets in-place KV caches of `max_seq`
    positions (the model's `inouts`) unless `fuse_decode` is False. Raises
    CompileError with the compiler's messages on failure."""
    args = [_attn_compile(), os.fspath(path), "-o", os.fspath(out),
            f"--target={target}"]
    for name, size in (dims or {}).items():
        args.append(f"--dim={name}={int(size)}")
    if mcpu:
        args.append(f"--mcpu={mcpu}")
    if emit:
        args.append(f"--emit={emit}")
    if report:
        args.append(f"--report={os.fspath(report)}")
    if entry_function:
        args.append(f"--entry-function={entry_function}")
    if max_seq is not None:
        args.append(f"--max-seq={int(max_seq)}")
    if not fuse_decode:
        args.append("--no-fuse-decode")
    args.extend(extra_args)
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CompileError(proc.stderr.strip() or
                           f"attn-compile exited with {proc.returncode}")
    return os.fspath(out)
