#!/usr/bin/env bash
# Builds, on a machine with LLVM (no GPU needed), the bundle that checks
# and times the tensor-core prefill kernel on a GPU machine with the CUDA
# driver, Python, numpy and torch:
#
#   bench/gpu_build_prefill.sh BUILD_DIR OUT_DIR
#   then, there: OUT_DIR/run.sh [--json OUT.json]
#
# OUT_DIR gets bin/attn-run, lib/ and models/libAttnRuntime.so, compare.py,
# gpu-check.sh, gpu_decode.py (its model loader), gpu_prefill.py, and
#   cases/NAME.{so,in.npz,ref.npz,tol}: the test/GPU/prefill-tc-* cases and
#       the prompt cases of bench/gpu_build_cases.sh that now take the
#       prefill kernel, with attn-reference's double-precision outputs;
#   models/num-*.{so,json}: shapes gpu_prefill.py checks against PyTorch
#       SDPA (inputs made on the GPU);
#   models/bench-*.{so,json}: B=4, S=4096, Hq=32, D=128, Hkv 32/8/1, causal
#       and not, f16 and bf16, timed against SDPA's flash and cuDNN backends
#       (D = 128 prompts take the sm_90a wgmma kernel); with
#       ATTN_COMPILE_BASELINE=PATH (an attn-compile without it, e.g. the
#       main tree's), the same models from that compiler as bench-*-mma,
#       the mma.sync kernel timed in the same process.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"/bin "$out"/lib "$out"/cases "$out"/models
cp "$build/bin/attn-run" "$out/bin/"
cp "$build/lib/libAttnRuntime.so" "$out/lib/"
cp "$build/lib/libAttnRuntime.so" "$out/models/"
cp "$src/test/Integration/lib/compare.py" "$src/tools/gpu-check.sh" \
   "$src/bench/gpu_decode.py" "$src/bench/gpu_prefill.py" "$out/"
gen="python3 $src/test/Integration/lib/gen_case.py"
compile=${ATTN_COMPILE:-$build/bin/attn-compile}
reference="$build/bin/attn-reference"
tol_f16="--atol 5e-3 --rtol 5e-3"
tol_bf16="--atol 2e-2 --rtol 2e-2"

add_case() { # NAME TOLERANCE GEN_CASE_ARGS...
  local name=$1 tol=$2; shift 2
  local c="$out/cases/$name"
  $gen "$@" --mlir "$c.mlir" --inputs "$c.in.npz"
  "$compile" "$c.mlir" --target cuda -o "$c.so"
  "$reference" "$c.mlir" --inputs "$c.in.npz" --outputs "$c.ref.npz"
  echo "$tol" > "$c.tol"
  rm -f "$c.mlir"
}
# The test/GPU prefill cases (one %gen_case / %compare pair each).
for t in "$src"/test/GPU/prefill-tc-*.test; do
  args=$(grep '^RUN: %gen_case' "$t" | sed 's/^RUN: %gen_case //; s/ --mlir .*//')
  tol=$(grep '^RUN: %compare' "$t" | grep -o '%tol_[a-z0-9]*' | sed 's/%//')
  # shellcheck disable=SC2086
  add_case "GPU-$(basename "$t" .test)" "${!tol}" $args
done
add_case big-prefill-causal-f16 "$tol_f16" --batch 1 --q-heads 8 --kv-heads 2 --sq 64 --skv 300 --causal 236 --d 128 --dtype f16 --seed 5

add_model() { # NAME GEN_CASE_ARGS...
  local name=$1; shift
  local m="$out/models/$name"
  $gen "$@" --mlir "$m.mlir" --config "$m.json" --inputs "$m.unused.npz"
  rm -f "$m.unused.npz" "$m.mlir.tmp"
  "$compile" "$m.mlir" --target cuda -o "$m.so"
  rm -f "$m.mlir"
}
# Numerics against SDPA: causal and not, Sq != Skv, G = 1, 4, 32, D 64/128,
# f16 and bf16, softcap and kv lengths.
add_model num-mha-causal-d128-f16 --batch 2 --q-heads 8 --kv-heads 8 --sq 1024 --skv 1024 --causal 0 --d 128 --dtype f16
add_model num-mha-d64-bf16 --batch 2 --q-heads 8 --kv-heads 8 --sq 512 --skv 512 --d 64 --dtype bf16
add_model num-gqa4-causal-past-d128-bf16 --batch 2 --q-heads 16 --kv-heads 4 --sq 300 --skv 1000 --causal 700 --d 128 --dtype bf16
add_model num-gqa4-sq-gt-skv-d64-f16 --batch 1 --q-heads 16 --kv-heads 4 --sq 777 --skv 333 --d 64 --dtype f16
add_model num-mqa32-causal-d64-f16 --batch 2 --q-heads 32 --kv-heads 1 --sq 640 --skv 640 --causal 0 --d 64 --dtype f16
add_model num-mqa32-d128-bf16 --batch 1 --q-heads 32 --kv-heads 1 --sq 200 --skv 1500 --d 128 --dtype bf16
add_model num-gqa4-softcap-kvlens-f16 --batch 3 --q-heads 8 --kv-heads 2 --sq 256 --skv 700 --softcap 30 --kv-lens i32 --d 128 --dtype f16
add_model num-gqa8-d128-f16 --batch 2 --q-heads 16 --kv-heads 2 --sq 1000 --skv 1300 --d 128 --dtype f16
add_model num-mha-causal-d128-bf16 --batch 1 --q-heads 8 --kv-heads 8 --sq 2048 --skv 2048 --causal 0 --d 128 --dtype bf16
add_model num-gqa8-causal-kvlens-bf16 --batch 2 --q-heads 16 --kv-heads 2 --sq 500 --skv 500 --causal 0 --kv-lens i64 --d 64 --dtype bf16

# Timing shapes (written here: gen_case.py would make gigabytes of inputs).
bench_model() { # HKV CAUSAL(0|1) DTYPE
  local hkv=$1 causal=$2 t=$3 b=4 s=4096
  local m="$out/models/bench-b$b-s$s-h32-kv$hkv-$([ "$causal" = 1 ] && echo causal || echo full)-$t"
  local q="tensor<${b}x32x${s}x128x$t>" kv="tensor<${b}x${hkv}x${s}x128x$t>"
  local attr="" cfgc=null
  if [ "$causal" = 1 ]; then attr=" causal(0)"; cfgc=0; fi
  echo "{\"op\": \"attention\", \"batch\": $b, \"q_heads\": 32, \"kv_heads\": $hkv, \"sq\": $s, \"skv\": $s, \"d\": 128, \"dv\": 128, \"dtype\": \"$t\", \"scale\": 0.08838834764831845, \"causal\": $cfgc, \"softcap\": null, \"kv_lens\": null, \"mask\": null}" > "$m.json"
  cat > "$m.mlir" <<EOM
func.func @attention(%query: $q {attn.name = "query"}, %key: $kv {attn.name = "key"}, %value: $kv {attn.name = "value"})
    -> ($q {attn.name = "out"}) {
  %init = tensor.empty() : $q
  %out = attn.attention heads(32, $hkv) scale(0.08838834764831845)$attr
      ins(%query, %key, %value : $q, $kv, $kv) outs(%init : $q) -> $q
  return %out : $q
}
EOM
  "$compile" "$m.mlir" --target cuda -o "$m.so"
  if [ -n "${ATTN_COMPILE_BASELINE:-}" ]; then
    "$ATTN_COMPILE_BASELINE" "$m.mlir" --target cuda -o "$m-mma.so"
    cp "$m.json" "$m-mma.json"
  fi
  rm -f "$m.mlir"
}
for t in f16 bf16; do
  for causal in 0 1; do
    for hkv in 32 8 1; do bench_model $hkv $causal $t; done
  done
done

cat > "$out/run.sh" <<'EOS'
#!/usr/bin/env bash
# The attn-run cases against attn-reference, then numerics and timing
# against PyTorch SDPA.
dir=$(cd "$(dirname "$0")" && pwd)
"$dir/gpu-check.sh" "$dir"; rc=$?
python3 "$dir/gpu_prefill.py" "$@" || rc=1
exit $rc
EOS
chmod +x "$out/run.sh"
echo "bundle in $out: $(ls "$out"/cases/*.so | wc -l) cases, $(ls "$out"/models/*.so | wc -l) models, $(du -sh "$out" | cut -f1)"
