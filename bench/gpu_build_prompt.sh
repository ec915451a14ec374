#!/usr/bin/env bash
# Builds, on a machine with LLVM (no GPU needed), the bundle that checks and
# times the prompt phase on a GPU machine with the CUDA driver, Python,
# numpy, onnx and torch:
#
#   bench/gpu_build_prompt.sh BUILD_DIR OUT_DIR [--layers N] [--tokens S] [--no-model]
#   then, there: OUT_DIR/run.sh [--json OUT.json]
#
# OUT_DIR gets bin/attn-run, lib/ and libAttnRuntime.so, compare.py,
# gpu-check.sh, gpu_decode.py (the model loader), gpu_prompt.py, and
#   cases/NAME.{so,in.npz,ref.npz,tol}: the test/GPU/gemm-tc-* cases (numpy's
#       product as the reference);
#   gemm-FORM-mM-kK-nN-DTYPE.so: one tensor-core product at the prompt's
#       shapes (S tokens x the SmolLM-135M layers' K x N, a 4096^3 square),
#       operands given by gpu_prompt.py;
#   prompt.so + prompt.onnx: bench/gpu_prompt_model.py's f16 SmolLM-135M-
#       shaped decoder (N layers, 30 by default) in its prompt form at S
#       tokens (2048 by default), compiled with --target cuda
#       --params=external; run.sh regenerates its model.onnx.data there
#       (bench/, python/ carry the generator).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
out=$2
shift 2
layers=30 tokens=2048 model=1
while [ $# -gt 0 ]; do
  case $1 in
    --layers) layers=$2; shift 2 ;;
    --tokens) tokens=$2; shift 2 ;;
    --no-model) model=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"/bin "$out"/lib "$out"/cases "$out"/bench "$out"/python/attn_mlir_models
cp "$build/bin/attn-run" "$out/bin/"
cp "$build/lib/libAttnRuntime.so" "$out/lib/"
cp "$build/lib/libAttnRuntime.so" "$out/"
cp "$src/test/Integration/lib/compare.py" "$src/tools/gpu-check.sh" \
   "$src/bench/gpu_decode.py" "$src/bench/gpu_prompt.py" "$out/"
cp "$src/bench/compile_size.py" "$src/bench/gpu_prompt_model.py" "$out/bench/"
cp "$src/python/attn_mlir_models/__init__.py" \
   "$src/python/attn_mlir_models/tiny_decoder.py" "$out/python/attn_mlir_models/"
compile=${ATTN_COMPILE:-$build/bin/attn-compile}
tol_f16="--atol 5e-3 --rtol 5e-3"
tol_bf16="--atol 2e-2 --rtol 2e-2"
tol_f32="--atol 1e-3 --rtol 1e-3"

# The test/GPU product cases (one gemm_case.py / %compare pair each).
for t in "$src"/test/GPU/gemm-tc-*.test; do
  c="$out/cases/GPU-$(basename "$t" .test)"
  args=$(grep '^RUN: %python %S/Inputs/gemm_case.py' "$t" | sed 's/^RUN: %python %S\/Inputs\/gemm_case.py //; s/ --mlir .*//')
  tol=$(grep '^RUN: %compare' "$t" | grep -o '%tol_[a-z0-9]*' | sed 's/%//')
  # shellcheck disable=SC2086
  python3 "$src/test/GPU/Inputs/gemm_case.py" $args --mlir "$c.mlir" --inputs "$c.in.npz" --ref "$c.ref.npz"
  "$compile" "$c.mlir" --target cuda -o "$c.so"
  echo "${!tol}" > "$c.tol"
  rm -f "$c.mlir"
done

gemm_model() { # FORM(kn|nk) M K N DTYPE
  local form=$1 m=$2 k=$3 n=$4 t=$5
  local name="$out/gemm-$form-m$m-k$k-n$n-$t"
  local w="tensor<${k}x${n}x$t>" wmap="(m, n, k) -> (k, n)"
  if [ "$form" = nk ]; then w="tensor<${n}x${k}x$t>"; wmap="(m, n, k) -> (n, k)"; fi
  local x="tensor<${m}x${k}x$t>" y="tensor<${m}x${n}x$t>"
  cat > "$name.mlir" <<EOM
func.func @gemm(%x: $x {attn.name = "x"}, %w: $w {attn.name = "w"}) -> ($y {attn.name = "y"}) {
  %zero = arith.constant 0.0 : $t
  %empty = tensor.empty() : $y
  %init = linalg.fill ins(%zero : $t) outs(%empty : $y) -> $y
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<$wmap>, affine_map<(m, n, k) -> (m, n)>]
    ins(%x, %w : $x, $w) outs(%init : $y) -> $y
  return %y : $y
}
EOM
  "$compile" "$name.mlir" --target cuda -o "$name.so"
  rm -f "$name.mlir"
}
# SmolLM-135M's prompt products: q/o (576 x 576), k/v (576 x 192), gate/up
# (576 x 1536), down (1536 x 576), lm_head (576 x 49152; also as a [n, k]
# tied embedding); bf16 once; a large square.
for kn in "576 576" "576 192" "576 1536" "1536 576" "576 49152"; do
  # shellcheck disable=SC2086
  gemm_model kn "$tokens" $kn f16
done
gemm_model kn "$tokens" 576 1536 bf16
gemm_model nk "$tokens" 576 49152 f16
gemm_model kn 4096 4096 4096 f16
gemm_model kn 4096 4096 4096 bf16

if [ "$model" = 1 ]; then
  python3 "$src/bench/gpu_prompt_model.py" --out "$out" --layers "$layers"
  "$compile" "$out/prompt.onnx" --target cuda --params=external \
    --input-shape "input_ids=1x$tokens" --input-shape "position_ids=1x$tokens" \
    -o "$out/prompt.so"
  rm -f "$out/model.onnx.data"
fi

cat > "$out/run.sh" <<EOS
#!/usr/bin/env bash
# The attn-run product cases against numpy, then gpu_prompt.py (products
# against cuBLAS, the prompt against torch).
dir=\$(cd "\$(dirname "\$0")" && pwd)
"\$dir/gpu-check.sh" "\$dir"; rc=\$?
if [ -f "\$dir/prompt.so" ]; then
  python3 "\$dir/bench/gpu_prompt_model.py" --out "\$dir" --layers $layers --data-only || rc=1
fi
python3 "\$dir/gpu_prompt.py" --dir "\$dir" "\$@" || rc=1
exit \$rc
EOS
chmod +x "$out/run.sh"
echo "bundle in $out: $(ls "$out"/cases/*.so 2>/dev/null | wc -l) cases, $(ls "$out"/*.so | wc -l) models, $(du -sh "$out" | cut -f1)"
