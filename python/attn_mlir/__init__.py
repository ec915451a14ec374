"""Compile models and run them from Python.

Thin ctypes wrappers over the C APIs of libAttnCompiler (compiling in this
process, include/attn-c/Compiler.h) and libAttnRuntime
(include/attn-c/Runtime.h)::

    import attn_mlir
    attn_mlir.compile("model.mlir", "model.so")
    model = attn_mlir.Model("model.so")
    print(model.inputs)            # [TensorSpec(name='x', dtype='f32', shape=(2, 3)), ...]
    outputs = model.run({"x": x})  # {"y": ndarray, ...}

Both libraries are looked up in $ATTN_MLIR_LIB_DIR, next to this package
(an installed layout) and in the build directories of a source checkout.

NumPy has no bfloat16: bf16 tensors are passed and returned as uint16
arrays holding the bits (arrays whose dtype is named 'bfloat16', such as
ml_dtypes.bfloat16, are accepted too).
"""

import ctypes
import glob
import os
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

__all__ = ["AttnError", "CompileError", "CompileResult", "Model",
           "TensorSpec", "compile", "compile_buffer", "compile_model",
           "compiler_library", "get_num_threads", "set_num_threads",
           "runtime_library"]

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
    """Compiling failed; the message holds the compiler's diagnostics."""


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


_compiler_lib = None


def compiler_library() -> str:
    """Path of the libAttnCompiler.so that `compile` loads."""
    for d in _candidate_dirs("lib"):
        path = os.path.join(d, "libAttnCompiler.so")
        if os.path.exists(path):
            return os.path.abspath(path)
    raise CompileError("cannot find libAttnCompiler.so: set ATTN_MLIR_LIB_DIR "
                       "to the directory that holds it (e.g. build/lib)")


def _compiler() -> ctypes.CDLL:
    """libAttnCompiler.so (include/attn-c/Compiler.h), loaded once."""
    global _compiler_lib
    if _compiler_lib is not None:
        return _compiler_lib
    lib = ctypes.CDLL(compiler_library())
    p, s, i32, cp = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int32,
                     ctypes.c_char_p)
    for name, res, args in [
            ("attnCompilerSessionCreate", p, []),
            ("attnCompilerSessionDestroy", None, [p]),
            ("attnCompileOptionsCreate", p, []),
            ("attnCompileOptionsDestroy", None, [p]),
            ("attnCompileOptionsSetFlags", ctypes.c_int,
             [p, i32, ctypes.POINTER(cp)]),
            ("attnCompileOptionsGetError", cp, [p]),
            ("attnCompileFile", ctypes.c_int, [p, p, cp, cp]),
            ("attnCompileBuffer", ctypes.c_int, [p, p, p, s, cp, cp, cp]),
            ("attnCompilerGetOutput", cp, [p]),
            ("attnCompilerGetReport", cp, [p]),
            ("attnCompilerGetLog", cp, [p]),
            ("attnCompilerGetError", cp, [p])]:
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    _compiler_lib = lib
    return lib


class CompileResult(NamedTuple):
    """What `compile`/`compile_buffer` gave back."""
    output: Optional[str]  # the library or IR file, if written
    text: str              # the IR (emit other than "library")
    report: str            # the JSON report of the attention ops
    log: str               # informational lines (share-kv calibration)


def _flags(target, dims, mcpu, mattr, emit, report, entry_function, max_seq,
           fuse_decode, extra_args) -> List[str]:
    flags = [f"--target={target}"]
    for name, size in (dims or {}).items():
        flags.append(f"--dim={name}={int(size)}")
    if mcpu:
        flags.append(f"--mcpu={mcpu}")
    if mattr:
        flags.append(f"--mattr={mattr}")
    if emit:
        flags.append(f"--emit={emit}")
    if report:
        flags.append(f"--report={os.fspath(report)}")
    if entry_function:
        flags.append(f"--entry-function={entry_function}")
    if max_seq is not None:
        flags.append(f"--max-seq={int(max_seq)}")
    if not fuse_decode:
        flags.append("--no-fuse-decode")
    flags.extend(extra_args)
    return flags


def _compile_in_process(flags: List[str], run) -> CompileResult:
    """Creates a session and options from `flags`, calls `run(lib, session,
    options)` (a compile call) and collects the results."""
    lib = _compiler()
    session = lib.attnCompilerSessionCreate()
    options = lib.attnCompileOptionsCreate()
    try:
        array = (ctypes.c_char_p * len(flags))(*[f.encode() for f in flags])
        if lib.attnCompileOptionsSetFlags(options, len(flags), array) != 0:
            raise CompileError(
                "error: " + lib.attnCompileOptionsGetError(options).decode())
        status, output = run(lib, session, options)
        if status != 0:
            raise CompileError(
                lib.attnCompilerGetError(session).decode().strip())
        return CompileResult(output,
                             lib.attnCompilerGetOutput(session).decode(),
                             lib.attnCompilerGetReport(session).decode(),
                             lib.attnCompilerGetLog(session).decode())
    finally:
        lib.attnCompileOptionsDestroy(options)
        lib.attnCompilerSessionDestroy(session)


def compile(path: str, out: Optional[str], *, target: str = "cpu",
            dims: Optional[Dict[str, int]] = None, mcpu: Optional[str] = None,
            mattr: Optional[str] = None,
            emit: Optional[str] = None, report: Optional[str] = None,
            entry_function: Optional[str] = None,
            max_seq: Optional[int] = None, fuse_decode: bool = True,
            extra_args: Sequence[str] = ()) -> str:
    """Compiles a .mlir/.onnx model into `out` (a shared library, or IR with
    `emit`) in this process, through libAttnCompiler.so; returns `out` (with
    `emit` and no `out`, the IR text). A decode-step ONNX model whose past
    length is symbolic gets in-place KV caches of `max_seq` positions (the
    model's `inouts`) unless `fuse_decode` is False. `extra_args` are more
    attn-compile flags ("--share-kv=2"). Raises CompileError with the
    compiler's diagnostics on failure."""
    result = compile_model(path, out, target=target, dims=dims, mcpu=mcpu,
                           mattr=mattr, emit=emit, report=report,
                           entry_function=entry_function, max_seq=max_seq,
                           fuse_decode=fuse_decode, extra_args=extra_args)
    return result.output if result.output is not None else result.text



def _flags_of(kwargs) -> list:
    """The compile flags of `compile_model`/`compile_buffer`'s keywords."""
    return _flags(kwargs.get("target", "cpu"), kwargs.get("dims"),
                  kwargs.get("mcpu"), kwargs.get("mattr"), kwargs.get("emit"),
                  kwargs.get("report"), kwargs.get("entry_function"),
                  kwargs.get("max_seq"), kwargs.get("fuse_decode", True),
                  kwargs.get("extra_args", ()))

def compile_model(path: str, out: Optional[str], **kwargs) -> CompileResult:
    """`compile` returning everything: output path, IR text, report, log."""
    flags = _flags_of(kwargs)
    out = os.fspath(out) if out is not None else None

    def run(lib, session, options):
        status = lib.attnCompileFile(session, options,
                                     os.fspath(path).encode(),
                                     out.encode() if out else None)
        return status, out
    return _compile_in_process(flags, run)


def compile_buffer(data: bytes, format: str, out: Optional[str] = None, *,
                   name: Optional[str] = None, **kwargs) -> CompileResult:
    """Compiles a model held in memory (`format` "mlir" or "onnx") like
    `compile_model`; `name` names it in diagnostics."""
    if isinstance(data, str):
        data = data.encode()
    flags = _flags_of(kwargs)
    out = os.fspath(out) if out is not None else None

    def run(lib, session, options):
        status = lib.attnCompileBuffer(session, options, data, len(data),
                                       format.encode(),
                                       name.encode() if name else None,
                                       out.encode() if out else None)
        return status, out
    return _compile_in_process(flags, run)
