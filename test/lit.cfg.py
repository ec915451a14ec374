# -*- Python -*-
# lit configuration of the attn-mlir test suite.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "ATTN"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test", ".py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs",
                   "lib", "fixtures"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%attn_lib_dir", config.attn_lib_dir))
config.substitutions.append(("%attn_src_root", config.attn_src_root))
# Model exports and ONNX conformance cases the tests share: data kept in the
# repository, so that the suite runs from a fresh clone.
config.substitutions.append(("%fixtures",
                             os.path.join(config.attn_src_root, "test",
                                          "Import", "fixtures")))
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%mlir_opt_stock",
                             os.path.join(config.llvm_tools_dir, "mlir-opt")))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])

# Tests write only inside the build tree: attn-run's compile cache, the
# temporary files of attn-compile (objects before linking), matplotlib's
# font cache and Python's bytecode go there too, not to $HOME, /tmp or the
# source tree.
# lit would otherwise point TMPDIR at a directory of its own under the
# system's /tmp (LIT_PRESERVES_TMP is its documented switch, read after the
# configuration is loaded); leaked temporaries stay visible in build/test/tmp.
os.environ["LIT_PRESERVES_TMP"] = "1"
for variable, name in [("ATTN_MLIR_CACHE_DIR", "attn-mlir-cache"),
                       ("TMPDIR", "tmp"), ("TMP", "tmp"), ("TEMP", "tmp"),
                       ("MPLCONFIGDIR", "matplotlib"),
                       # attn-run's fallback and onnxruntime's telemetry
                       # database follow the XDG cache directory.
                       ("XDG_CACHE_HOME", "xdg-cache"),
                       ("PYTHONPYCACHEPREFIX", "pycache")]:
    path = os.path.join(config.test_exec_root, name)
    os.makedirs(path, exist_ok=True)
    config.environment[variable] = path

# A sanitizer build: every process gets the runtimes preloaded, so that
# uninstrumented hosts (python, stock mlir-opt) can load instrumented
# libraries. Leak checking is off: LLVM's and Python's globals live on.
if config.attn_sanitizers.upper() in ("ON", "1", "TRUE", "YES"):
    import subprocess
    runtimes = []
    for lib in ("libasan.so", "libubsan.so"):
        path = subprocess.run([config.c_compiler, f"-print-file-name={lib}"],
                              capture_output=True, text=True).stdout.strip()
        if os.path.isabs(path):
            runtimes.append(path)
    config.environment["LD_PRELOAD"] = ":".join(runtimes)
    config.environment["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
    config.environment["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    config.available_features.add("sanitizers")
llvm_config.use_default_substitutions()

tool_dirs = [config.attn_tools_dir, config.llvm_tools_dir]
tools = ["attn-opt", "attn-compile", "attn-run", "attn-reference"]
llvm_config.add_tool_substitutions(
    [ToolSubst(t, unresolved="ignore") for t in tools], tool_dirs)
llvm_config.with_environment("PATH", config.attn_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PYTHONPATH",
                             os.path.join(config.attn_src_root, "python"),
                             append_path=True)
# Comparing .npz outputs against a reference (any test directory).
config.substitutions.append(
    ("%compare_npz", "%s %s" % (config.python_executable,
                                os.path.join(config.attn_src_root, "test",
                                             "Import", "lib", "compare_npz.py"))))

# Tests that run code compiled for an AVX-512 CPU named with --mcpu (e.g.
# znver4, sapphirerapids) need a host with AVX-512 F/BW/DQ/VL.
try:
    with open("/proc/cpuinfo") as f:
        flags = next((l.split(":", 1)[1].split() for l in f
                      if l.startswith("flags")), [])
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= set(flags):
        config.available_features.add("avx512")
    # Code for Sapphire Rapids and later (--mcpu=emeraldrapids) also takes
    # AVX512-FP16 and AVX512-BF16 instructions (vcvtph2psx).
    # vdpbf16ps (--bf16-dot-products=on) runs here.
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16"} <= set(
            flags):
        config.available_features.add("avx512bf16")
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_fp16",
        "avx512_bf16"} <= set(flags):
        config.available_features.add("avx512-spr")
except OSError:
    pass

# Tests that run CUDA models (test/GPU) need an NVIDIA driver and GPU; on
# machines without one they are reported UNSUPPORTED.
if os.path.exists("/dev/nvidiactl") and os.path.exists("/dev/nvidia0"):
    config.available_features.add("cuda-device")

# Compiling for --target cuda runs ptxas (gpu-module-to-binary), found as the
# pipeline finds it: $CUDA_ROOT (default /usr/local/cuda), $CUDA_HOME,
# $CUDA_PATH, then PATH.
import shutil
if any(os.path.exists(os.path.join(d, "bin", "ptxas")) for d in
       [os.environ.get(v) for v in ("CUDA_ROOT", "CUDA_HOME", "CUDA_PATH")]
       + ["/usr/local/cuda"] if d) or shutil.which("ptxas"):
    config.available_features.add("ptxas")
