#!/usr/bin/env bash
# Builds, on a machine with LLVM (no GPU needed), the bundle that checks
# and times the latent (MLA) decode kernel (lib/Conversion/AttnToGPU/
# LatentDecode.cpp) on a GPU machine with the CUDA driver, Python, numpy
# and torch:
#
#   bench/gpu_build_mla.sh BUILD_DIR OUT_DIR
#   then, there: OUT_DIR/run.sh [--json OUT.json]
#
# OUT_DIR gets bin/attn-run, lib/ and models/libAttnRuntime.so, compare.py,
# compare_npz.py, gpu-check.sh, gpu-decoder-check.sh, gpu_decode.py (the
# model loader), gpu_mla_decode.py, and
#   cases/NAME.{so,in.npz,ref.npz,tol}: the test/GPU/decode-latent-* cases
#       with attn-reference's double-precision outputs;
#   decoders/mla-{small,wide}.{fused.so,in.npz,gen.npz}: the MLA export
#       (tools/export/export_mla_decoder.py; 4 heads of 16 + 4, and 16
#       heads of 128 + 32) fused with --max-seq 64 for cuda, and ONNX
#       Runtime's 16 greedy steps (test/GPU/decoder-generate-mla.test);
#   models/mla-b*-s*-*.so: the timing shapes of gpu_mla_decode.py.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"/bin "$out"/lib "$out"/cases "$out"/models "$out"/decoders
cp "$build/bin/attn-run" "$out/bin/"
cp "$build/lib/libAttnRuntime.so" "$out/lib/"
cp "$build/lib/libAttnRuntime.so" "$out/models/"
cp "$src/test/Integration/lib/compare.py" "$src/test/Import/lib/compare_npz.py" \
   "$src/tools/gpu-check.sh" "$src/tools/gpu-decoder-check.sh" \
   "$src/bench/gpu_decode.py" "$src/bench/gpu_mla_decode.py" \
   "$src/bench/gpu_bundle_cli.py" "$out/"
gen="python3 $src/test/Integration/lib/gen_case.py"
compile="$build/bin/attn-compile"
reference="$build/bin/attn-reference"
tol_f32="--atol 1e-5 --rtol 1e-3"
tol_f16="--atol 5e-3 --rtol 5e-3"
tol_bf16="--atol 2e-2 --rtol 2e-2"

# The test/GPU latent cases (one %gen_case / %compare pair each).
for t in "$src"/test/GPU/decode-latent-*.test; do
  name=GPU-$(basename "$t" .test)
  c="$out/cases/$name"
  args=$(grep '^RUN: %gen_case' "$t" | sed 's/^RUN: %gen_case //; s/ --mlir .*//')
  cmp=$(grep '^RUN: %compare' "$t")
  tol=$(echo "$cmp" | grep -o '%tol_[a-z0-9]*' | sed 's/%//')
  extra=$(echo "$cmp" | grep -o -- '--equal-nan' || true)
  # shellcheck disable=SC2086
  $gen $args --mlir "$c.mlir" --inputs "$c.in.npz"
  "$compile" "$c.mlir" --target cuda -o "$c.so"
  "$reference" "$c.mlir" --inputs "$c.in.npz" --outputs "$c.ref.npz"
  echo "${!tol} $extra" > "$c.tol"
  rm -f "$c.mlir"
done

# The MLA export, fused, and ORT's greedy steps.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
add_decoder() { # NAME EXPORT_ARGS...
  local name=$1; shift
  python3 "$src/test/GPU/Inputs/mla_export.py" "$work/$name" "$@" > /dev/null
  "$compile" "$work/$name/model.onnx" --max-seq 64 --input-shape input_ids=1x1 \
    --input-shape position_ids=1x1 --target cuda -o "$out/decoders/$name.fused.so"
  cp "$work/$name/inputs.npz" "$out/decoders/$name.in.npz"
  cp "$work/$name/generate16.npz" "$out/decoders/$name.gen.npz"
}
add_decoder mla-small
add_decoder mla-wide --set heads=16 --set kv_lora_rank=128 --set qk_rope_head_dim=32 \
  --set qk_nope_head_dim=32 --set v_head_dim=32

python3 "$src/bench/gpu_mla_decode.py" build "$build/bin" "$out"

cat > "$out/run.sh" <<'EOS'
#!/usr/bin/env bash
# The latent cases against attn-reference, the MLA decoders against ORT's
# greedy steps, then the timing against PyTorch.
dir=$(cd "$(dirname "$0")" && pwd)
"$dir/gpu-check.sh" "$dir"; rc=$?
"$dir/gpu-decoder-check.sh" "$dir" || rc=1
python3 "$dir/gpu_mla_decode.py" run "$dir" "$@" || rc=1
exit $rc
EOS
chmod +x "$out/run.sh"
echo "bundle in $out: $(ls "$out"/cases/*.so | wc -l) cases, $(ls "$out"/decoders/*.so | wc -l) decoders, $(ls "$out"/models/*.so | wc -l) models, $(du -sh "$out" | cut -f1)"
