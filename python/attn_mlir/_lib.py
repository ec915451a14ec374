"""libAttnRuntime.so (include/attn-c/Runtime.h) through ctypes: found,
loaded once, its functions typed."""

import ctypes
import glob
import os
from typing import List


class AttnError(RuntimeError):
    """An error reported by libAttnRuntime."""


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_int32),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("num_bytes", ctypes.c_uint64)]


def candidate_dirs(leaf: str) -> List[str]:
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
    for d in candidate_dirs("lib"):
        path = os.path.join(d, "libAttnRuntime.so")
        if os.path.exists(path):
            return os.path.abspath(path)
    raise AttnError("cannot find libAttnRuntime.so: set ATTN_MLIR_LIB_DIR to "
                    "the directory that holds it (e.g. build/lib)")


_lib = None


def runtime() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(runtime_library())
    info_p = ctypes.POINTER(TensorInfo)
    p, i32, vp = ctypes.c_void_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_void_p)
    signatures = {
        "attnModelLoad": (p, [ctypes.c_char_p]),
        "attnModelLoadWith": (p, [ctypes.c_char_p, ctypes.c_int]),
        "attnModelFree": (None, [p]),
        "attnModelGetDevice": (ctypes.c_int, [p]),
        "attnModelGetNumInputs": (i32, [p]),
        "attnModelGetNumOutputs": (i32, [p]),
        "attnModelGetInputInfo": (ctypes.c_int, [p, i32, info_p]),
        "attnModelGetOutputInfo": (ctypes.c_int, [p, i32, info_p]),
        "attnModelGetNumInouts": (i32, [p]),
        "attnModelGetInoutInfo": (ctypes.c_int, [p, i32, info_p]),
        "attnModelGetSignature": (ctypes.c_char_p, [p]),
        "attnModelRun": (ctypes.c_int, [p, vp, vp, p]),
        "attnModelRunInPlace": (ctypes.c_int, [p, vp, vp, vp, p]),
        "attnGetLastError": (ctypes.c_char_p, []),
        "attnSetNumThreads": (None, [i32]),
        "attnGetNumThreads": (i32, []),
        "attnCudaSetDevice": (ctypes.c_int, [i32]),
        "attnCudaGetDevice": (i32, []),
        "attnCudaIsAvailable": (i32, []),
        "attnCudaMalloc": (ctypes.c_int, [ctypes.c_size_t, vp]),
        "attnCudaFree": (ctypes.c_int, [p]),
        "attnCudaMemcpy": (ctypes.c_int, [p, p, ctypes.c_size_t]),
        "attnCudaSynchronize": (ctypes.c_int, [p]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _lib = lib
    return lib


def last_error() -> str:
    return runtime().attnGetLastError().decode(errors="replace")
