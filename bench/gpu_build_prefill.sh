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
#       (D = 128 prompts take the sm_90a wgmma kernel); and at Hkv 8 an
#       additive and a boolean [S, S] mask, and a causal sliding window of
#       1024 keys, against the SDPA backends that take an attn_mask (the
#       window as a boolean band); head dimension 256 at Hkv 8, causal f16
#       and full bf16. With ATTN_COMPILE_BASELINE=PATH (an attn-compile
#       without the wgmma kernel, e.g. the main tree's), the same models from
#       that compiler as bench-*-mma, the mma.sync kernel timed in the same
#       process.
#
#   [ONLY=REGEX] bench/gpu_build_prefill.sh BUILD_DIR OUT_DIR: only the
#   cases and models whose names (GPU-prefill-tc-..., num-..., bench-...)
#   match the extended regular expression, e.g. ONLY='mask|window'.
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

wanted() { [ -z "${ONLY:-}" ] || grep -Eq -- "$ONLY" <<< "$1"; }

add_case() { # NAME TOLERANCE GEN_CASE_ARGS...
  local name=$1 tol=$2; shift 2
  wanted "$name" || return 0
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
  wanted "$name" || return 0
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
# Masks (the broadcast shapes the verifier takes; fully masked rows) and
# sliding windows on the same kernel.
add_model num-mask-bool-gqa4-causal-d128-f16 --batch 2 --q-heads 16 --kv-heads 4 --sq 512 --skv 512 --causal 0 --mask bool --mask-shape 2x1x512x512 --masked-rows 4 --d 128 --dtype f16
add_model num-mask-additive-mqa32-d64-bf16 --batch 1 --q-heads 32 --kv-heads 1 --sq 300 --skv 700 --mask additive --mask-shape 300x700 --mask-dtype bf16 --masked-rows 2 --d 64 --dtype bf16
add_model num-mask-additive-f32-softcap-d128-f16 --batch 2 --q-heads 8 --kv-heads 8 --sq 256 --skv 333 --softcap 30 --mask additive --mask-shape 8x1x333 --mask-dtype f32 --d 128 --dtype f16
add_model num-mask-staged-f32-causal-d64-f16 --batch 2 --q-heads 8 --kv-heads 4 --sq 256 --skv 512 --causal 256 --mask additive --mask-shape 2x8x256x512 --mask-dtype f32 --masked-rows 2 --d 64 --dtype f16
add_model num-mask-full-gqa2-d64-f16 --batch 2 --q-heads 4 --kv-heads 2 --sq 128 --skv 200 --mask additive --mask-dtype f16 --masked-rows 3 --d 64 --dtype f16
add_model num-window-causal-gqa8-d128-bf16 --batch 2 --q-heads 16 --kv-heads 2 --sq 1024 --skv 1024 --causal 0 --window 255,0 --d 128 --dtype bf16
add_model num-window-two-sided-kvlens-d64-f16 --batch 2 --q-heads 8 --kv-heads 8 --sq 700 --skv 900 --window 100,50 --kv-lens i32 --d 64 --dtype f16
# Head dimension 256 (tiles of 32 keys).
add_model num-d256-gqa4-causal-f16 --batch 2 --q-heads 8 --kv-heads 2 --sq 500 --skv 500 --causal 0 --d 256 --dtype f16
add_model num-d256-mqa-past-mask-window-bf16 --batch 1 --q-heads 8 --kv-heads 1 --sq 300 --skv 700 --causal 400 --window 200,0 --mask additive --mask-shape 1x8x300x700 --mask-dtype bf16 --masked-rows 2 --softcap 50 --d 256 --dtype bf16
add_model num-d256-dv128-kvlens-f16 --batch 2 --q-heads 4 --kv-heads 4 --sq 200 --skv 333 --kv-lens i32 --d 256 --dv 128 --dtype f16
add_model num-window-mask-past-gqa4-d64-f16 --batch 2 --q-heads 8 --kv-heads 2 --sq 300 --skv 1000 --causal 700 --window 511,0 --mask bool --mask-shape 300x1000 --d 64 --dtype f16

# Timing shapes (written here: gen_case.py would make gigabytes of inputs).
bench_model() { # HKV CAUSAL(0|1) DTYPE [maskadd|maskbool|window|d256]
  local hkv=$1 causal=$2 t=$3 extra=${4:-} b=4 s=4096 d=128 scale=0.08838834764831845
  local m="$out/models/bench-b$b-s$s-h32-kv$hkv-$([ "$causal" = 1 ] && echo causal || echo full)${extra:+-$extra}-$t"
  wanted "$(basename "$m")" || return 0
  if [ "$extra" = d256 ]; then d=256; scale=0.0625; fi
  local q="tensor<${b}x32x${s}x${d}x$t>" kv="tensor<${b}x${hkv}x${s}x${d}x$t>"
  local attr="" cfgc=null kind=null window=null marg="" mop=""
  if [ "$causal" = 1 ]; then attr=" causal(0)"; cfgc=0; fi
  case $extra in
    maskadd|maskbool)
      local mt=$t; kind='"additive"'
      if [ "$extra" = maskbool ]; then mt=i1; kind='"bool"'; fi
      marg=", %mask: tensor<${s}x${s}x$mt> {attn.name = \"mask\"}"
      mop=" mask(%mask : tensor<${s}x${s}x$mt>)" ;;
    window) attr="$attr window(1023, 0)"; window="[1023, 0]" ;;
  esac
  echo "{\"op\": \"attention\", \"batch\": $b, \"q_heads\": 32, \"kv_heads\": $hkv, \"sq\": $s, \"skv\": $s, \"d\": $d, \"dv\": $d, \"dtype\": \"$t\", \"scale\": $scale, \"causal\": $cfgc, \"softcap\": null, \"kv_lens\": null, \"mask\": null, \"mask_kind\": $kind, \"window\": $window}" > "$m.json"
  cat > "$m.mlir" <<EOM
func.func @attention(%query: $q {attn.name = "query"}, %key: $kv {attn.name = "key"}, %value: $kv {attn.name = "value"}$marg)
    -> ($q {attn.name = "out"}) {
  %init = tensor.empty() : $q
  %out = attn.attention heads(32, $hkv) scale($scale)$attr
      ins(%query, %key, %value : $q, $kv, $kv)$mop outs(%init : $q) -> $q
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
  bench_model 8 1 $t window
done
bench_model 8 0 f16 maskadd
bench_model 8 0 bf16 maskbool
bench_model 8 1 f16 d256
bench_model 8 0 bf16 d256

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
echo "bundle in $out: $(find "$out/cases" -name '*.so' | wc -l) cases, $(find "$out/models" -name '*.so' ! -name 'libAttn*' | wc -l) models, $(du -sh "$out" | cut -f1)"
