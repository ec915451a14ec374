#!/usr/bin/env bash
# Builds, on a machine with LLVM (no GPU needed), the bundle that checks and
# times the prompt phase on a GPU machine with the CUDA driver, Python,
# numpy, onnx and torch:
#
#   bench/gpu_build_prompt.sh BUILD_DIR OUT_DIR [--layers N] [--tokens S] [--no-model]
#       [--decode-steps N] [--no-gemm] [--check]
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
#   decode.so + decode.onnx: the decode step of the same export and data
#       (gpu_prompt_model.py --decode), in-place caches of S + 2 N
#       positions (--max-seq), the rotary tables S + 2 N long; gpu_prompt.py
#       copies the prompt's presents into its caches and decodes N steps
#       (--decode-steps, default 32).
#   check/: with --check, the same two forms at a reduced size (2 layers,
#       vocab 1024, 128 prompt tokens, caches of 160, 16 tokens) for `attn-run decode.so
#       --generate 16 --prefill prompt.so` on the GPU, with the tokens of
#       ONNX Runtime (CPU, the same f16 export) and of this build's CPU
#       target as the references (check/gen.ort.npz, check/gen.cpu.npz).
#   --no-gemm leaves out the product cases and models.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
out=$2
shift 2
layers=30 tokens=2048 model=1 steps=32 gemm=1 check=0
while [ $# -gt 0 ]; do
  case $1 in
    --layers) layers=$2; shift 2 ;;
    --tokens) tokens=$2; shift 2 ;;
    --no-model) model=0; shift ;;
    --decode-steps) steps=$2; shift 2 ;;
    --no-gemm) gemm=0; shift ;;
    --check) check=1; shift ;;
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
  [ "$gemm" = 1 ] || break
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
if [ "$gemm" = 1 ]; then
  for kn in "576 576" "576 192" "576 1536" "1536 576" "576 49152"; do
    # shellcheck disable=SC2086
    gemm_model kn "$tokens" $kn f16
  done
  gemm_model kn "$tokens" 576 1536 bf16
  gemm_model nk "$tokens" 576 49152 f16
  gemm_model kn 4096 4096 4096 f16
  gemm_model kn 4096 4096 4096 bf16
fi

# The prompt form and the decode step of one export (DIR LAYERS VOCAB
# TOKENS POSITIONS [MAX_SEQ]): rotary tables of POSITIONS rows, the decode
# step's caches MAX_SEQ (default POSITIONS) long.
export_pair() {
  local dir=$1 n=$2 vocab=$3 s=$4 positions=$5 maxseq=${6:-$5}
  mkdir -p "$dir"
  python3 "$src/bench/gpu_prompt_model.py" --out "$dir" --layers "$n" --vocab "$vocab" \
    --max-pos "$positions" --decode
  "$compile" "$dir/prompt.onnx" --target cuda --params=external \
    --input-shape "input_ids=1x$s" --input-shape "position_ids=1x$s" \
    -o "$dir/prompt.so" --report "$dir/prompt.report.json"
  "$compile" "$dir/decode.onnx" --target cuda --params=external --max-seq "$maxseq" \
    --input-shape input_ids=1x1 --input-shape position_ids=1x1 \
    -o "$dir/decode.so" --report "$dir/decode.report.json"
}

if [ "$model" = 1 ]; then
  export_pair "$out" "$layers" 49152 "$tokens" $((tokens + 2 * steps))
  rm -f "$out/model.onnx.data"
fi

if [ "$check" = 1 ]; then
  c="$out/check"
  export_pair "$c" 2 1024 128 256 160
  python3 - "$c" <<'EOP'
import sys
import numpy as np
rng = np.random.default_rng(7)
np.savez(sys.argv[1] + "/in.npz", input_ids=rng.integers(0, 1024, (1, 128), dtype=np.int64),
         position_ids=np.arange(128, dtype=np.int64).reshape(1, 128))
EOP
  # References: this build's CPU target, and ONNX Runtime on the same export.
  "$compile" "$c/prompt.onnx" --params=external --input-shape input_ids=1x128 \
    --input-shape position_ids=1x128 -o "$c/prompt.cpu.so"
  "$compile" "$c/decode.onnx" --params=external --max-seq 160 --input-shape input_ids=1x1 \
    --input-shape position_ids=1x1 -o "$c/decode.cpu.so"
  "$build/bin/attn-run" "$c/decode.cpu.so" --prefill "$c/prompt.cpu.so" --inputs "$c/in.npz" \
    --generate 15 --outputs "$c/gen.cpu.npz"
  python3 "$src/bench/gpu_prompt_ort.py" "$c" 16
  rm -f "$c"/*.cpu.so* "$c/model.onnx.data"
fi

cat > "$out/run.sh" <<EOS
#!/usr/bin/env bash
# The attn-run product cases against numpy, then gpu_prompt.py (products
# against cuBLAS, the prompt against torch).
dir=\$(cd "\$(dirname "\$0")" && pwd)
rc=0
if ls "\$dir"/cases/*.so > /dev/null 2>&1; then
  "\$dir/gpu-check.sh" "\$dir"; rc=\$?
fi
if [ -f "\$dir/prompt.so" ]; then
  python3 "\$dir/bench/gpu_prompt_model.py" --out "\$dir" --layers $layers \\
    --max-pos $((tokens + 2 * steps)) --data-only || rc=1
fi
if [ -d "\$dir/check" ]; then
  # Prompt then decode at a reduced size: attn-run's tokens against ONNX
  # Runtime's and the CPU target's.
  python3 "\$dir/bench/gpu_prompt_model.py" --out "\$dir/check" --layers 2 --vocab 1024 \\
    --max-pos 256 --data-only || rc=1
  "\$dir/bin/attn-run" "\$dir/check/decode.so" --prefill "\$dir/check/prompt.so" \\
    --inputs "\$dir/check/in.npz" --generate 15 --outputs "\$dir/check/gen.cuda.npz" || rc=1
  for ref in ort cpu; do
    python3 "\$dir/compare.py" "\$dir/check/gen.cuda.npz" "\$dir/check/gen.\$ref.npz" \\
      --atol 0 --rtol 0 --keys tokens && echo "check tokens vs \$ref: PASS" || { echo "check tokens vs \$ref: FAIL"; rc=1; }
  done
fi
python3 "\$dir/gpu_prompt.py" --dir "\$dir" --steps $steps "\$@" || rc=1
exit \$rc
EOS
chmod +x "$out/run.sh"
echo "bundle in $out: $(ls "$out"/cases/*.so 2>/dev/null | wc -l) cases, $(ls "$out"/*.so | wc -l) models, $(du -sh "$out" | cut -f1)"
