#!/usr/bin/env bash
# Builds, on a machine with LLVM (no GPU needed), the bundle that runs
# test/GPU/python-torch.test's checks (test/GPU/Inputs/python_torch.py) on a
# GPU machine that has only the CUDA driver, Python, numpy and torch:
#
#   bench/gpu_build_python.sh BUILD_DIR OUT_DIR
#   OUT_DIR/run.sh [RESULTS.json]        # on the GPU machine
#
# OUT_DIR gets the Python package, libAttnRuntime.so and the models
# (models/), the GPT-2 fixtures it checks against (fixtures/) and the script.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
out=$2
rm -rf "$out"/models "$out"/python "$out"/fixtures
mkdir -p "$out"/models "$out"/python/attn_mlir "$out"/fixtures
cp "$build/lib/libAttnRuntime.so" "$out/models/"
cp "$src"/python/attn_mlir/*.py "$out/python/attn_mlir/"
cp "$src/test/GPU/Inputs/python_torch.py" "$out/"
exports="$src/test/Import/fixtures/exports"
cp "$exports"/gpt2_mha_ts17dyn.inputs.npz \
   "$exports"/gpt2_mha_ts17dyn.generate16.npz "$out/fixtures/"
python3 "$src/test/Integration/lib/gen_case.py" --batch 2 --q-heads 16 \
  --kv-heads 4 --sq 1 --skv 1000 --d 128 --dtype f16 --seed 1 \
  --mlir "$out/models/attn.mlir" --config "$out/models/attn.json" \
  --inputs "$out/models/unused.npz"
rm -f "$out/models/unused.npz"
"$build/bin/attn-compile" "$out/models/attn.mlir" --target cuda \
  -o "$out/models/attn.so"
# The same attention for the CPU (torch CPU tensors); x86-64-v3 runs on any
# recent x86 host, whatever this machine's CPU.
"$build/bin/attn-compile" "$out/models/attn.mlir" --mcpu x86-64-v3 \
  -o "$out/models/attn-cpu.so"
"$build/bin/attn-compile" "$exports/gpt2_mha_ts17dyn.onnx" --max-seq 40 \
  --target cuda -o "$out/models/gpt2.so"
cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs python_torch.py on this bundle; prints PASS/FAIL per check.
here=$(cd "$(dirname "$0")" && pwd)
ATTN_MLIR_LIB_DIR="$here/models" PYTHONPATH="$here/python" \
  exec python3 "$here/python_torch.py" "$here/models" "$here/fixtures" "$@"
RUN
chmod +x "$out/run.sh"
echo "bundle in $out: $(du -sh "$out" | cut -f1)"
