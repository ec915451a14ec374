#!/usr/bin/env bash
# Builds, on a machine with LLVM (no GPU needed), a bundle of ONNX backend
# conformance cases compiled with --target cuda, in the layout that
# tools/gpu-check.sh runs on a GPU machine (libcuda, Python and numpy only):
#
#   bench/gpu_build_conformance.sh BUILD_DIR OUT_DIR [TARBALL...]
#
# TARBALL: a suite from test/Import/fixtures (default: every case of
# onnx_attention_1_23_2.tar.gz). OUT_DIR gets bin/attn-run,
# lib/libAttnRuntime.so, compare.py, gpu-check.sh and cases/NAME.{so,
# in.npz, ref.npz, tol}: the model for the device, its inputs and ONNX's
# stored outputs (bf16 as their bits, as attn-run writes them), with the
# tolerances of test/Import/lib/onnx_conformance.py.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
out=$2
shift 2
tarballs=("$@")
[ ${#tarballs[@]} -gt 0 ] ||
  tarballs=("$src/test/Import/fixtures/onnx_attention_1_23_2.tar.gz")
mkdir -p "$out"/bin "$out"/lib "$out"/cases
cp "$build/bin/attn-run" "$out/bin/"
cp "$build/lib/libAttnRuntime.so" "$out/lib/"
cp "$src/test/Integration/lib/compare.py" "$src/tools/gpu-check.sh" "$out/"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${tarballs[@]}"; do
  tar -xzf "$t" -C "$work"
done
for case in "$work"/*/*/; do
  name=$(basename "$case")
  c="$out/cases/$name"
  # Inputs and outputs as npz keyed by the graph's names; the tolerance
  # from the outputs' element type.
  python3 - "$src/test/Import/lib" "$case" "$c" <<'PY'
import os, sys
import numpy as np
import onnx
sys.path.insert(0, sys.argv[1])
from onnx_conformance import load_case  # noqa: E402

case, out = sys.argv[2], sys.argv[3]
inputs, outputs = load_case(case)
bits = lambda arrays: {k: a.view(np.uint16) if a.dtype.name == "bfloat16" else a
                       for k, a in arrays.items()}
np.savez(out + ".in.npz", **bits(inputs))
np.savez(out + ".ref.npz", **bits(outputs))
model = onnx.load(os.path.join(case, "model.onnx"), load_external_data=False)
types = {t.type.tensor_type.elem_type for t in model.graph.output}
if onnx.TensorProto.BFLOAT16 in types:
    tol = "--atol 2e-2 --rtol 2e-2"
elif onnx.TensorProto.FLOAT16 in types:
    tol = "--atol 5e-3 --rtol 5e-3"
else:
    tol = "--atol 1e-5 --rtol 1e-3"
with open(out + ".tol", "w") as f:
    f.write(tol + "\n")
PY
  "$build/bin/attn-compile" "$case/model.onnx" --target cuda -o "$c.so"
done
echo "bundle in $out: $(ls "$out"/cases/*.so | wc -l) cases, $(du -sh "$out" | cut -f1)"
