"""Compile models and run them from Python.

Thin ctypes wrappers over the C APIs of libAttnCompiler (compiling in this
process, include/attn-c/Compiler.h) and libAttnRuntime
(include/attn-c/Runtime.h)::

    import attn_mlir
    module = attn_mlir.compile("model.onnx", dims={"batch": 1})
    print(module.signature.inputs)  # [TensorSpec(name='x', dtype='f32', shape=(2, 3)), ...]
    outputs = module(x=x)           # {"y": ndarray, ...}
    module.report                   # the attention ops found (JSON)
    module.generate(prompt_ids, 16) # greedy decoding of a decode step

    model = attn_mlir.Model("model.so")  # a library compiled earlier

Both libraries are looked up in $ATTN_MLIR_LIB_DIR, next to this package
(an installed layout) and in the build directories of a source checkout.

CUDA models (`attn-compile --target cuda`) run on device tensors: torch
CUDA tensors, `__cuda_array_interface__` objects, DLPack producers and this
package's `DeviceArray`, on an optional stream; see `Model.run` and
docs/cuda-target.md ("From Python")::

    model = attn_mlir.Model("decoder-cuda.so")
    caches = model.allocate_inouts(device=torch.device("cuda"))
    out = model.run(input_ids=ids, position_ids=pos, cache_position=p,
                    **caches)          # torch tensors in, torch tensors out

NumPy has no bfloat16: bf16 tensors are passed and returned as uint16
arrays holding the bits (arrays whose dtype is named 'bfloat16', such as
ml_dtypes.bfloat16, are accepted too).
"""

__version__ = "0.1.0"

import contextlib
import ctypes
import os
import sys
import tempfile
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import _device, _interop, _module
from ._module import Diagnostic, Module, Signature
from ._device import (DeviceArray, set_cuda_device, synchronize, to_device)
from ._lib import AttnError, candidate_dirs as _candidate_dirs
from ._lib import last_error as _last_error, runtime as _runtime
from ._lib import runtime_library, TensorInfo as _TensorInfo

__all__ = ["AttnError", "CompileError", "CompileResult", "DeviceArray",
           "Diagnostic", "Model", "Module", "Signature", "TensorSpec", "compile", "compile_buffer",
           "compile_model", "compiler_library", "cuda_device",
           "cuda_is_available", "get_num_threads", "runtime_library",
           "set_cuda_device", "set_num_threads", "synchronize", "to_device"]

_DTYPE_NAMES = ["f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8",
                "bool"]
_NUMPY_DTYPES = _device.NUMPY_DTYPES
_DEVICES = {0: "cpu", 1: "cuda"}


class CompileError(RuntimeError):
    """Compiling failed. `str(e)` is the compiler's full diagnostics text
    (`FILE:LINE:COL: error: ...` with the source line, then `error: WHAT
    FAILED`); `e.diagnostics` holds the located messages as `Diagnostic`s
    (file, line, column, severity, message)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text
        self.diagnostics = _module.parse_diagnostics(text)


class TensorSpec(NamedTuple):
    name: str
    dtype: str
    shape: Tuple[int, ...]

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(_NUMPY_DTYPES[self.dtype])


def set_num_threads(n: int) -> None:
    """Threads that CPU models use, the caller included."""
    _runtime().attnSetNumThreads(int(n))


def get_num_threads() -> int:
    return _runtime().attnGetNumThreads()


def cuda_device() -> int:
    """The CUDA device ordinal that CUDA models and DeviceArrays use."""
    return _device.device_ordinal()


def cuda_is_available() -> bool:
    """True when the CUDA driver loads and the runtime's device works."""
    return bool(_runtime().attnCudaIsAvailable())


def _pointers(values) -> ctypes.Array:
    return (ctypes.c_void_p * max(1, len(values)))(*values)


class Model:
    """A compiled model (.so) loaded into this process.

    A CPU model (`device == "cpu"`) runs on host arrays. A CUDA model runs
    on device tensors: torch CUDA tensors, objects with
    `__cuda_array_interface__` (CuPy, Numba, DeviceArray) or DLPack
    producers on a CUDA device, on the runtime's device (`cuda_device()`,
    chosen by `set_cuda_device` before loading). Host arrays given to a
    CUDA model are copied to the device and its outputs back, so code
    written for CPU models runs unchanged (and synchronously).
    """

    # How the weights of a model with a parameter file are held
    # (docs/runtime-abi.md, "How the runtime holds the weights").
    _PARAMS_LOAD = {"default": 0, "map": 1, "huge": 2}

    def __init__(self, path: str, params: str = "default"):
        """`params`: "map" maps the weights (shared with other processes),
        "huge" copies them into huge pages (faster decode on the CPU),
        "default" leaves it to $ATTN_PARAMS_LOAD or the runtime's rule."""
        if params not in self._PARAMS_LOAD:
            raise ValueError(f"params={params!r}: expected one of "
                             f"{', '.join(self._PARAMS_LOAD)}")
        lib = _runtime()
        self._lib = lib
        self._handle = lib.attnModelLoadWith(os.fsencode(os.fspath(path)),
                                             self._PARAMS_LOAD[params])
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

    def allocate_inouts(self, device=None) -> Dict[str, object]:
        """Zero-filled buffers for the model's inout buffers (its KV
        caches), to pass to every run. `device`: None or "cpu" gives numpy
        arrays (any model; a CUDA model then copies them to the device and
        back on every run); for a CUDA model, "cuda" (or "cuda:N", N the
        runtime's device) gives DeviceArrays and a torch.device gives torch
        tensors, which stay on the device between runs."""
        if device is None or device == "cpu":
            return {s.name: np.zeros(s.shape, dtype=s.numpy_dtype)
                    for s in self.inouts}
        if self.device != "cuda":
            raise ValueError(f"the model '{self.path}' runs on the "
                             f"{self.device}: its inouts are host arrays "
                             f"(device=None), not {device!r}")
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(device, torch.device):
            if device.type != "cuda" or (device.index or 0) != cuda_device():
                raise ValueError(f"inouts on {device}: the runtime uses "
                                 f"cuda:{cuda_device()}")
            return {s.name: torch.zeros(s.shape,
                                        dtype=_interop.torch_dtype(s.dtype),
                                        device=device)
                    for s in self.inouts}
        if device not in ("cuda", f"cuda:{cuda_device()}"):
            raise ValueError(f"unknown device {device!r} for inouts: None, "
                             f"'cpu', 'cuda', 'cuda:{cuda_device()}' or a "
                             f"torch.device")
        return {s.name: DeviceArray.zeros(s.shape, s.dtype)
                for s in self.inouts}

    def _inout(self, spec: TensorSpec, value) -> np.ndarray:
        if not (isinstance(value, np.ndarray) and value.dtype == spec.numpy_dtype
                and value.shape == spec.shape and value.flags.c_contiguous
                and value.flags.writeable):
            raise ValueError(f"inout '{spec.name}' must be a writable, "
                             f"C-contiguous {spec.numpy_dtype} array of shape "
                             f"{list(spec.shape)} (it is updated in place)")
        return value

    def _given(self, inputs, kwargs) -> Dict[str, object]:
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
        return given

    def run(self, inputs: Optional[Dict[str, object]] = None, *,
            stream=None, **kwargs) -> Dict[str, object]:
        """Runs the model on tensors keyed by input name (a dict, keywords,
        or both); returns the outputs keyed by name. Inout buffers (see
        `allocate_inouts`) are passed by the same names and updated in
        place. (An input named "stream" goes in the dict.)

        CPU model: host arrays (numpy, anything np.asarray reads); device
        tensors are refused. Returns numpy arrays.

        CUDA model: each tensor is either on the device (torch CUDA tensor,
        `__cuda_array_interface__`, DLPack; dense C order, the model's dtype
        and shape, on the runtime's device, 16-byte aligned), used in
        place, or host data, copied there. Outputs are torch tensors on the
        inputs' device when the device tensors given are all torch's,
        DeviceArrays when other device tensors are given, numpy arrays when
        all were host data. `stream`: a torch.cuda.Stream, an int CUstream
        handle, or None (torch's current stream of the inputs' device when
        torch tensors are given, else the legacy default stream). The run is
        enqueued on it and returns at once: synchronise the stream before
        reading device outputs on another one (DeviceArray.numpy() and its
        `__cuda_array_interface__` do). With host data (copied in or out),
        or with no stream, the call waits for the run.
        """
        given = self._given(inputs, kwargs)
        if self.device == "cuda":
            return self._run_cuda(given, stream)
        if stream is not None:
            raise ValueError(f"stream= is for CUDA models; the model "
                             f"'{self.path}' runs on the {self.device}")
        for kind, specs in (("input", self.inputs), ("inout", self.inouts)):
            for s in specs:
                where = _interop.describe_device(given[s.name])
                if where is not None:
                    raise ValueError(
                        f"{kind} '{s.name}' is on {where}, but the model "
                        f"'{self.path}' runs on the cpu: pass host arrays "
                        f"(e.g. tensor.cpu().numpy())")
        arrays = [self._prepare(s, given[s.name]) for s in self.inputs]
        inouts = [self._inout(s, given[s.name]) for s in self.inouts]
        results = [np.empty(s.shape, dtype=s.numpy_dtype)
                   for s in self.outputs]

        def pointers(items):
            return _pointers([a.ctypes.data for a in items])

        if self._lib.attnModelRunInPlace(self._handle, pointers(arrays),
                                         pointers(inouts), pointers(results),
                                         None) != 0:
            raise AttnError(_last_error())
        return {s.name: r for s, r in zip(self.outputs, results)}

    __call__ = run

    def _check_view(self, kind: str, spec: TensorSpec,
                    view: "_interop.DeviceView", ordinal: int) -> None:
        what = f"{kind} '{spec.name}'"
        if view.device_type != "cuda":
            raise ValueError(f"{what} is on {view.device_type}, not on a "
                             f"CUDA device")
        if view.device_index != ordinal:
            raise ValueError(f"{what} is on cuda:{view.device_index}, but "
                             f"the runtime uses cuda:{ordinal} (choose it "
                             f"with attn_mlir.set_cuda_device before "
                             f"loading a CUDA model)")
        if view.dtype != spec.dtype:
            raise ValueError(f"{what} has dtype {view.dtype_text}, the "
                             f"model expects {spec.dtype}")
        if view.shape != spec.shape:
            raise ValueError(f"{what} has shape {list(view.shape)}, the "
                             f"model expects {list(spec.shape)}")
        if not view.contiguous:
            raise ValueError(f"{what} is not C-contiguous (dense, row "
                             f"major); pass a contiguous copy")
        if kind == "inout" and view.readonly:
            raise ValueError(f"{what} is read-only, but the run updates it "
                             f"in place")
        if view.ptr % 16:
            raise ValueError(f"{what} is at {view.ptr:#x}, not 16-byte "
                             f"aligned as CUDA models need (a view at an "
                             f"offset?); pass a copy")

    def _run_cuda(self, given: Dict[str, object], stream) -> Dict[str, object]:
        handle = _interop.stream_handle(stream)
        ordinal = cuda_device()
        specs = ([("input", s) for s in self.inputs]
                 + [("inout", s) for s in self.inouts])
        torch = sys.modules.get("torch")
        torch_tensors = [v for v in given.values()
                         if _interop.is_torch_tensor(v)
                         and v.device.type != "cpu"]
        torch_stream = None
        if torch_tensors:
            if stream is None:
                torch_stream = torch.cuda.current_stream(
                    torch_tensors[0].device)
                handle = torch_stream.cuda_stream
            elif isinstance(stream, torch.cuda.Stream):
                torch_stream = stream
            elif handle:
                torch_stream = torch.cuda.ExternalStream(
                    handle, device=torch_tensors[0].device)

        # Per buffer, what the run reads: the caller's device tensor, or a
        # device copy of host data (`temps`; inouts copied back after).
        views, given_views, temps, copy_back = [], [], [], []
        waited = {0, handle}
        for kind, s in specs:
            value = given[s.name]
            view = _interop.device_view(value, handle)
            if view is not None:
                self._check_view(kind, s, view, ordinal)
                # Order the run after the writer's, on another stream
                # (coarsely: wait for it).
                if view.stream not in waited:
                    synchronize(view.stream)
                    waited.add(view.stream)
                if view.kind == "attn" and view.stream in waited:
                    view.owner.stream = view.stream if view.stream == \
                        handle else 0
                views.append(view)
                given_views.append(view)
                continue
            host = (self._prepare(s, value) if kind == "input"
                    else self._inout(s, value))
            temp = DeviceArray.from_numpy(host, s.dtype)
            temps.append(temp)
            if kind == "inout":
                copy_back.append((host, temp))
            views.append(temp)
        on_host = not given_views
        as_torch = bool(given_views) and all(v.kind == "torch"
                                             for v in given_views)

        if as_torch:
            context = (torch.cuda.stream(torch_stream) if torch_stream
                       is not None else contextlib.nullcontext())
            with context:
                outputs = [torch.empty(s.shape,
                                       dtype=_interop.torch_dtype(s.dtype),
                                       device=torch_tensors[0].device)
                           for s in self.outputs]
            out_ptrs = [o.data_ptr() for o in outputs]
        else:
            outputs = [DeviceArray(s.shape, s.dtype) for s in self.outputs]
            out_ptrs = [o.ptr for o in outputs]

        ptrs = [v.ptr for v in views]
        n = len(self.inputs)
        if self._lib.attnModelRunInPlace(
                self._handle, _pointers(ptrs[:n]), _pointers(ptrs[n:]),
                _pointers(out_ptrs), ctypes.c_void_p(handle or None)) != 0:
            raise AttnError(_last_error())
        if handle and (temps or on_host):
            # Host data goes back now, and the uploads may be freed.
            synchronize(handle)
            handle = 0
        for host, temp in copy_back:
            host[...] = temp.numpy()
        if on_host:
            return {s.name: o.numpy() for s, o in zip(self.outputs, outputs)}
        # Device buffers written by a run still in flight remember its
        # stream, so that numpy() and consumers wait for it.
        n_in = len(self.inputs)
        written = [v.owner for v in views[n_in:]
                   if isinstance(v, _interop.DeviceView) and v.kind == "attn"]
        for o in outputs + written:
            if isinstance(o, DeviceArray):
                o.stream = handle
        return {s.name: o for s, o in zip(self.outputs, outputs)}

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
            ("attnCompilerGetDiagnostics", cp, [p]),
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
    diagnostics: str = ""  # warnings of a compilation that succeeded


def _flags(target, dims, mcpu, mattr, emit, report, entry_function, max_seq,
           fuse_decode, extra_args, kv_cache_type=None,
           params=None) -> List[str]:
    flags = [f"--target={target}"]
    if params:
        flags.append(f"--params={params}")
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
    if kv_cache_type:
        flags.append(f"--kv-cache-type={kv_cache_type}")
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
                             lib.attnCompilerGetLog(session).decode(),
                             lib.attnCompilerGetDiagnostics(session).decode())
    finally:
        lib.attnCompileOptionsDestroy(options)
        lib.attnCompilerSessionDestroy(session)


def _model_source(model):
    """(path, None, None) for a file, or (None, bytes, format) for a model
    in memory: an onnx.ModelProto, ONNX bytes, or MLIR text."""
    if isinstance(model, (str, os.PathLike)) and not (
            isinstance(model, str) and "\n" in model):
        return os.fspath(model), None, None
    if hasattr(model, "SerializeToString"):
        return None, model.SerializeToString(), "onnx"
    if isinstance(model, str):
        return None, model.encode(), "mlir"
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
        head = data.lstrip()[:64]
        text = head.startswith((b"module", b"func.func", b"//", b"#", b"!",
                                b"util.", b"builtin."))
        return None, data, "mlir" if text else "onnx"
    raise TypeError(f"cannot compile a {type(model).__name__}: pass a path "
                    f"(.onnx or .mlir), an onnx.ModelProto, ONNX bytes or "
                    f"MLIR text")


def compile(model, out=None, *, target: str = "cpu",
            dims: Optional[Dict[str, int]] = None,
            share_kv: Optional[int] = None,
            share_kv_method: Optional[str] = None,
            calibration: Optional[str] = None,
            max_seq: Optional[int] = None,
            kv_cache_type: Optional[str] = None,
            mcpu: Optional[str] = None, mattr: Optional[str] = None,
            emit: Optional[str] = None, report: Optional[str] = None,
            entry_function: Optional[str] = None,
            fuse_decode: bool = True, params: Optional[str] = None,
            per_row_positions: bool = False,
            window_ring_cache: bool = False,
            extra_args: Sequence[str] = ()):
    """Compiles a model in this process (libAttnCompiler.so, the C API of
    include/attn-c/Compiler.h) and returns a `Module`.

    `model`: a .onnx/.mlir path, an onnx.ModelProto, ONNX bytes or MLIR
    text. `out`: where the library goes (with OUT.params beside it); by
    default a temporary directory that lives as long as the Module.
    `target`: "cpu" or "cuda". `dims`: sizes of symbolic dimensions
    ({"batch": 1, "seq": 1}). `share_kv`: convert attention to that many KV
    heads (`share_kv_method` "mean", "exact", or with a `calibration` .npz
    of graph inputs "calibrated", "aligned", "aligned-fit" or "joint"
    (the default with one)). A decode-step ONNX model whose past
    length is symbolic gets in-place KV caches of `max_seq` positions (the
    module's `signature.inouts`) unless `fuse_decode` is False;
    `kv_cache_type` (f16, bf16, int8, fp8) stores them in that type;
    `per_row_positions` gives each batch row its own cache position (a [B]
    `cache_position` input); `window_ring_cache` keeps the caches of
    sliding-window layers as rings of window + new-token slots.
    `params="external"` reads weights from the ONNX model's external data
    files in place. `extra_args`: more attn-compile flags.

    With `emit` ("mlir", "mlir-imported", "llvm") returns the IR text, or
    `out` when given, as attn-compile --emit does. Raises CompileError (with
    the compiler's located diagnostics) when compiling fails."""
    path, data, fmt = _model_source(model)
    keep = None
    if out is None and not emit:
        keep = tempfile.TemporaryDirectory(prefix="attn-mlir-")
        stem = (os.path.splitext(os.path.basename(path))[0]
                if path else "model")
        out = os.path.join(keep.name, stem + ".so")
    kwargs = dict(target=target, dims=dims, mcpu=mcpu, mattr=mattr,
                  emit=emit, report=report, entry_function=entry_function,
                  max_seq=max_seq, fuse_decode=fuse_decode,
                  kv_cache_type=kv_cache_type, params=params,
                  extra_args=list(_share_kv_flags(share_kv, share_kv_method,
                                                  calibration))
                  + (["--per-row-positions"] if per_row_positions else [])
                  + (["--window-ring-cache"] if window_ring_cache else [])
                  + list(extra_args))
    if path is not None:
        result = compile_model(path, out, **kwargs)
    else:
        result = compile_buffer(data, fmt, out, **kwargs)
    if emit:
        return result.output if result.output is not None else result.text
    return _module.Module(result.output, _module.load_report(result.report),
                          result.diagnostics, _keep=keep)


def _share_kv_flags(share_kv, method, calibration) -> List[str]:
    flags = []
    if share_kv is not None:
        flags.append(f"--share-kv={int(share_kv)}")
    if method:
        flags.append(f"--share-kv-method={method}")
    if calibration:
        flags.append(f"--calibration={os.fspath(calibration)}")
    return flags


def _flags_of(kwargs) -> list:
    """The compile flags of `compile_model`/`compile_buffer`'s keywords."""
    return _flags(kwargs.get("target", "cpu"), kwargs.get("dims"),
                  kwargs.get("mcpu"), kwargs.get("mattr"), kwargs.get("emit"),
                  kwargs.get("report"), kwargs.get("entry_function"),
                  kwargs.get("max_seq"), kwargs.get("fuse_decode", True),
                  kwargs.get("extra_args", ()), kwargs.get("kv_cache_type"),
                  kwargs.get("params"))

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
