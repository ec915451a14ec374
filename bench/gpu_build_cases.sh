#!/usr/bin/env bash
# Builds, on a machine with LLVM (no GPU needed), the bundle that
# tools/gpu-check.sh and bench/gpu_decode.py run on a GPU machine that has
# only the CUDA driver, Python, numpy (and torch for gpu_decode.py):
#
#   [MAX_CASE_BYTES=N] [ONLY=REGEX] bench/gpu_build_cases.sh BUILD_DIR OUT_DIR [--quick|--cases]
#
# --cases: the checked cases only (2.6 MB cut, no models for gpu_decode.py).
# ONLY: build only the cases and error cases whose names match the
#   extended regular expression (e.g. ONLY='tree|ring' for a small bundle).
#
# OUT_DIR gets bin/attn-run, lib/libAttnRuntime.so, the scripts, and
#   cases/NAME.{so,in.npz,ref.npz,tol}: every test/Integration case (and a
#       few large ones) compiled with --target cuda, its inputs and the
#       double-precision reference of attn-reference;
#   cases/ORT-NAME.*: ONNX Runtime's GroupQueryAttention cases (the CPU
#       run's outputs, checked against onnxruntime, as the reference);
#   generate/NAME.{so,prompts.txt,ref.npz}: exported decoders on paged and
#       f16/bf16 caches, greedy decoding against the CPU build
#       (gpu_check_generate.sh);
#   errors/NAME.{so,in.npz,expected}: decode steps at positions outside
#       the cache or with bad block-table entries, and the error message
#       of the same step compiled for the CPU (gpu_check_position_errors.py);
#   models/NAME.{so,json}: the shapes gpu_decode.py checks against PyTorch
#       SDPA and times (gen_case.py's configs; inputs come from torch).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
out=$2
quick=${3:-}
# The device machine takes at most 64 MiB of files, and a helper 30: the
# cases whose inputs and reference are larger than MAX_CASE_BYTES stay here
# (default 4.5 MB, --quick 2.6 MB; gpu_decode.py covers large shapes with
# inputs made on the GPU).
max_case_bytes=${MAX_CASE_BYTES:-4500000}
[ "$quick" = --quick ] || [ "$quick" = --cases ] &&
  max_case_bytes=${MAX_CASE_BYTES:-2600000}
mkdir -p "$out"/bin "$out"/lib "$out"/cases "$out"/models
cp "$build/bin/attn-run" "$out/bin/"
cp "$build/lib/libAttnRuntime.so" "$out/lib/"
# gpu_decode.py loads the models and the runtime next to them (one copy).
cp "$build/lib/libAttnRuntime.so" "$out/models/"
cp "$src/test/Integration/lib/compare.py" "$src/tools/gpu-check.sh" \
   "$src/bench/gpu_decode.py" "$out/"
gen="python3 $src/test/Integration/lib/gen_case.py"
lib="$src/test/Integration/lib"
compile="$build/bin/attn-compile"
reference="$build/bin/attn-reference"

# Tolerances of test/Integration/lit.local.cfg.
tol_f32="--atol 1e-5 --rtol 1e-3"
tol_f16="--atol 5e-3 --rtol 5e-3"
tol_bf16="--atol 2e-2 --rtol 2e-2"

only=${ONLY:-}
selected() { [ -z "$only" ] || grep -qE "$only" <<<"$1"; }

add_case() { # NAME TOLERANCE [--generator gen_quant_case] [--craft KIND] GEN_CASE_ARGS...
  local name=$1 tol=$2; shift 2
  selected "$name" || return 0
  local c="$out/cases/$name" generator=gen_case craft=""
  [ "${1:-}" = --generator ] && { generator=$2; shift 2; }
  [ "${1:-}" = --craft ] && { craft=$2; shift 2; }
  python3 "$lib/$generator.py" "$@" --mlir "$c.mlir" --inputs "$c.in.npz"
  # The edge values of the 8-bit encoders (test/Integration/Serving/
  # quant-*-append-edges.test) written into the new keys/values.
  [ -n "$craft" ] && python3 "$lib/quant_edges.py" craft "$craft" "$c.in.npz"
  # Every form compiles for cuda (paged and 8-bit caches included): a
  # compile error stops the bundle.
  "$compile" "$c.mlir" --target cuda -o "$c.so"
  "$reference" "$c.mlir" --inputs "$c.in.npz" --outputs "$c.ref.npz"
  echo "$tol" > "$c.tol"
  if [ "$(cat "$c.in.npz" "$c.ref.npz" | wc -c)" -gt "$max_case_bytes" ]; then
    echo "skipped $name: inputs too large to carry"
    rm -f "$c".*
  fi
}

# Every case of a test (the n-th %gen_case or %gen_quant_case with the n-th
# %compare; tests with several cases give NAME, NAME-2, ...); a case met
# twice (test/GPU repeats some Integration cases) is built once. Tests that
# expect an error (no %compare) are left to the position-error cases below.
declare -A seen=()
for t in "$src"/test/Integration/Attention/*.test "$src"/test/Integration/Decode/*.test \
         "$src"/test/Integration/Serving/*.test "$src"/test/GPU/*.test; do
  grep -qE '^RUN: %gen_(quant_)?case' "$t" || continue # the decoder tests
  mapfile -t gens < <(grep -E '^RUN: %gen_(quant_)?case' "$t" | sed 's/^RUN: %//')
  mapfile -t cmps < <(grep '^RUN: %compare' "$t")
  [ "${#gens[@]}" -eq "${#cmps[@]}" ] || continue
  base=$(basename "$(dirname "$t")")-$(basename "$t" .test)
  for i in "${!gens[@]}"; do
    generator=${gens[$i]%% *}
    args=$(sed 's/^[a-z_]* //; s/ --mlir .*//' <<<"${gens[$i]}")
    inputs=$(grep -o -- '--inputs [^ ]*' <<<"${gens[$i]}" | sed 's/--inputs //')
    # The edge-value inputs of an 8-bit append test (%quant_edges craft).
    craft=$(grep -oE "^RUN: %quant_edges craft [a-z0-9]+ ${inputs//./\\.}( |\$)" "$t" |
            awk '{print $4}' || true)
    [ -n "${seen[$generator $args]:-}" ] && continue
    seen[$generator $args]=1
    name=$base; [ "$i" -gt 0 ] && name=$base-$((i + 1))
    # A %tol_* substitution, or the test's own --atol/--rtol.
    tol=$(echo "${cmps[$i]}" | grep -o '%tol_[a-z0-9]*' | sed 's/%//' || true)
    if [ -n "$tol" ]; then tol=${!tol}; else
      tol=$(echo "${cmps[$i]}" | grep -oE -- '--(atol|rtol) [^ ]+' | tr '\n' ' ')
    fi
    extra=$(echo "${cmps[$i]}" | grep -o -- '--equal-nan' || true)
    opts=(--generator "$generator")
    [ -n "$craft" ] && opts+=(--craft "$craft")
    # shellcheck disable=SC2086
    add_case "$name" "$tol $extra" "${opts[@]}" $args
  done
done

# Out-of-range positions and bad block-table entries (test/Integration/
# Serving/position-out-of-range, paged-out-of-range): the run fails with the
# message of the same step compiled for the CPU, run here (NAME.expected);
# gpu_check_position_errors.py compares them.
mkdir -p "$out/errors"
cp "$src/bench/gpu_check_position_errors.py" "$out/"
add_error_case() { # NAME GENERATOR GEN_CASE_ARGS...
  selected "$1" || return 0
  local c="$out/errors/$1" generator=$2; shift 2
  python3 "$lib/$generator.py" "$@" --mlir "$c.mlir" --inputs "$c.in.npz"
  "$compile" "$c.mlir" --target cuda -o "$c.so"
  "$compile" "$c.mlir" -o "$c.cpu.so"
  if "$build/bin/attn-run" "$c.cpu.so" --inputs "$c.in.npz" \
       --outputs "$c.cpu.out.npz" 2> "$c.cpu.log"; then
    echo "error case $1: the CPU run succeeded" >&2
    return 1
  fi
  grep -o 'KV-cache .*' "$c.cpu.log" > "$c.expected"
  rm -f "$c.mlir" "$c.cpu.so" "$c.cpu.out.npz" "$c.cpu.log"
}
add_error_case rows-past-capacity gen_case --op decode --batch 3 --q-heads 4 --kv-heads 2 --smax 32 --sn 2 --sq 2 --positions 3,31,0 --causal --seed 304
add_error_case row-negative gen_case --op decode --batch 2 --q-heads 4 --kv-heads 2 --smax 32 --positions 4,-1 --seed 305
add_error_case scalar-at-capacity gen_case --op decode --q-heads 4 --kv-heads 2 --smax 32 --position 32 --seed 306
add_error_case tc-rows-past-capacity gen_case --op decode --batch 2 --q-heads 8 --kv-heads 2 --smax 256 --positions 10,256 --causal --d 128 --dtype f16 --seed 307
add_error_case paged-past-capacity gen_case --op decode --batch 3 --q-heads 4 --kv-heads 2 --smax 32 --page-size 8 --sn 2 --sq 2 --positions 3,31,0 --causal --seed 406
add_error_case paged-entry-past-pool gen_case --op decode --batch 3 --q-heads 4 --kv-heads 2 --smax 32 --page-size 8 --sn 1 --positions 3,20,0 --bad-table-entry 1,2,15 --seed 407
add_error_case paged-entry-negative-i64 gen_case --op decode --batch 2 --q-heads 4 --kv-heads 2 --smax 32 --page-size 8 --sn 1 --positions 0,9 --bad-table-entry 0,0,-1 --table-dtype i64 --seed 408
add_error_case tc-paged-entry-past-pool gen_case --op decode --batch 4 --q-heads 8 --kv-heads 2 --smax 256 --page-size 16 --positions 100,200,3,255 --bad-table-entry 3,10,100000 --causal --d 128 --dtype f16 --seed 409
add_error_case int8-row-past-capacity gen_quant_case --cache-type int8 --op decode --batch 3 --q-heads 8 --kv-heads 2 --smax 64 --positions 5,64,63 --causal --seed 410
add_error_case fp8-scalar-negative gen_quant_case --cache-type fp8 --op decode --batch 2 --q-heads 4 --kv-heads 2 --smax 64 --position -3 --seed 411
# Rings have no capacity: only a negative position is an error (a row far
# past the ring's W slots is not), with a tree on tensor cores too.
add_error_case ring-row-negative gen_case --op decode --batch 2 --q-heads 4 --kv-heads 2 --smax 8 --positions 100000,-3 --causal --window 7,0 --ring --seed 714
add_error_case tc-ring-tree-row-negative gen_case --op decode --batch 3 --q-heads 8 --kv-heads 1 --smax 68 --sn 4 --sq 4 --positions 70000,5,-1 --causal --window 63,0 --ring --tree batch --d 64 --dtype f16 --seed 715

# Large shapes: split-K decode, the 9/3 and 71/1 groups, long prefill.
add_case big-decode-gqa-f16 "$tol_f16" --op decode --batch 1 --q-heads 32 --kv-heads 8 --smax 1024 --sn 1 --sq 1 --position 1000 --d 128 --dtype f16 --causal --seed 1
add_case big-decode-mqa71-bf16 "$tol_bf16" --op decode --batch 2 --q-heads 71 --kv-heads 1 --smax 2048 --sn 1 --sq 1 --position 1500 --d 64 --dtype bf16 --causal --seed 2
add_case big-decode-9-3-f16-mask "$tol_f16" --op decode --batch 1 --q-heads 9 --kv-heads 3 --smax 1024 --sn 1 --sq 1 --position 700 --d 64 --dtype f16 --mask bool --mask-shape 1x1x1x1024 --seed 3
add_case big-attn-mqa-f16 "$tol_f16" --batch 1 --q-heads 32 --kv-heads 1 --sq 1 --skv 4096 --d 128 --dtype f16 --seed 4
add_case big-prefill-causal-f16 "$tol_f16" --batch 1 --q-heads 8 --kv-heads 2 --sq 64 --skv 300 --causal 236 --d 128 --dtype f16 --seed 5
add_case big-attn-softcap-kvlens-bf16 "$tol_bf16" --batch 3 --q-heads 16 --kv-heads 4 --sq 2 --skv 700 --d 128 --dtype bf16 --softcap 30 --kv-lens i32 --seed 6
# The tensor-core partial kernel (groups of 4 or more, f16/bf16, D % 32 == 0,
# Dv 64 or 128) and its fallbacks (D = 80, G = 3); test/GPU/*-tc-* has more.
add_case big-tc-poison-tail-g4-bf16 "$tol_bf16 --equal-nan" --op decode --batch 1 --q-heads 8 --kv-heads 2 --smax 600 --sn 1 --sq 1 --position 555 --causal --poison-tail --d 128 --dtype bf16 --seed 13
add_case big-tc-masked-rows-g8-f16 "$tol_f16" --batch 1 --q-heads 8 --kv-heads 1 --sq 2 --skv 300 --mask bool --masked-rows 1 --d 64 --dtype f16 --seed 14
add_case big-tc-d96-dv64-g4-bf16 "$tol_bf16" --batch 1 --q-heads 8 --kv-heads 2 --sq 1 --skv 1000 --d 96 --dv 64 --dtype bf16 --seed 15
add_case big-tc-additive-g32-f16 "$tol_f16" --batch 1 --q-heads 32 --kv-heads 1 --sq 1 --skv 2000 --mask additive --mask-dtype f16 --mask-shape 1x32x1x2000 --d 128 --dtype f16 --seed 16
add_case big-g9-d80-f16 "$tol_f16" --batch 1 --q-heads 9 --kv-heads 1 --sq 1 --skv 600 --d 80 --dtype f16 --seed 17
# Tree masks and ring caches (test/GPU/serving-tree-decode, serving-ring-
# cache have more): a GQA 4/1 bf16 tree of 8 draft tokens per row with key
# splits over 1024 positions; a ring of 2052 slots (window(2047, 0), Sq = 4)
# on tensor cores with its rows tens of thousands of positions in, and a
# ring under a G = 3 group on CUDA cores (f16, D = 80).
add_case big-tc-tree-g4-bf16 "$tol_bf16 --equal-nan" --op decode --batch 2 --q-heads 4 --kv-heads 1 --smax 1024 --sn 8 --sq 8 --positions 1016,400 --causal --tree batch --poison-tail --d 128 --dtype bf16 --seed 18
add_case big-tc-ring-tree-g8-f16 "$tol_f16 --equal-nan" --op decode --batch 2 --q-heads 8 --kv-heads 1 --smax 2052 --sn 4 --sq 4 --positions 40000,2049 --causal --window 2047,0 --ring --tree shared --poison-tail --d 64 --dtype f16 --seed 19
add_case big-ring-g3-d80-f16 "$tol_f16 --equal-nan" --op decode --batch 2 --q-heads 9 --kv-heads 3 --smax 600 --sn 1 --sq 1 --positions 12345,599 --causal --window 599,0 --ring --poison-tail --d 80 --dtype f16 --seed 20

# ONNX Runtime's GroupQueryAttention cases (test/Import/lib/
# contrib_attention_cases.py: prompts, ragged decode with per-row
# positions, windows, rotary, softcap, f16) compiled for cuda; the
# reference is the CPU run's output, which that script has just checked
# against onnxruntime (cases it fails are left out). Needs onnxruntime.
ort_cases=${ORT_CASES_DIR:-$out/cases}
if [ -n "$only" ] && ! selected ORT-; then
  echo "ONLY='$only': the GroupQueryAttention cases are left out"
elif python3 -c "import onnxruntime" 2>/dev/null; then
  ort=$(mktemp -d)
  mkdir -p "$ort_cases"
  for name in $(python3 "$src/test/Import/lib/contrib_attention_cases.py" --work "$ort" \
                  --attn-run "$build/bin/attn-run" --only gqa | sed -n 's/^PASS \([a-z0-9_]*\):.*/\1/p'); do
    c="$ort_cases/ORT-$name"
    selected "ORT-$name" || continue
    "$compile" "$ort/$name.onnx" --target cuda -o "$c.so"
    cp "$ort/$name.in.npz" "$c.in.npz"
    cp "$ort/$name.out.npz" "$c.ref.npz"
    case $name in *f16*) echo "$tol_f16" > "$c.tol" ;; *) echo "$tol_f32" > "$c.tol" ;; esac
  done
  rm -rf "$ort"
else
  echo "no onnxruntime: the GroupQueryAttention cases are left out"
fi

# Exported decoders (test/Import/decoders) compiled with --target cuda on
# paged pools and narrowed caches: --per-row-positions with
# --paged-kv-cache (f32, f16 and bf16 pools) or --kv-cache-type=f16 alone.
# attn-run --generate --prompts decodes a prompt from empty caches (it
# fills the block table); the reference is the same build for the CPU here
# (generate/NAME.{so,prompts.txt,ref.npz}; gpu_check_generate.sh compares
# the tokens exactly and the logits within 1e-3).
mkdir -p "$out/generate"
cp "$src/bench/gpu_check_generate.sh" "$out/"
add_generate_case() { # NAME MODEL COMPILE_OPTIONS...
  selected "$1" || return 0
  local g="$out/generate/$1" model=$2; shift 2
  printf '5 17 99 4 8 1\n' > "$g.prompts.txt"
  "$compile" "$model" --per-row-positions "$@" --target cuda -o "$g.so"
  "$compile" "$model" --per-row-positions "$@" -o "$g.cpu.so"
  "$build/bin/attn-run" "$g.cpu.so" --prompts "$g.prompts.txt" --generate 12 \
    --outputs "$g.ref.npz" > /dev/null
  rm -f "$g.cpu.so" "$g.cpu.so.params"
}
llama="$src/test/Import/decoders/hf_llama_ts17/model.onnx"
gqa_step=(--max-seq 32 --input-shape input_ids=1x1)
add_generate_case llama-paged4-f32 "$llama" "${gqa_step[@]}" --paged-kv-cache=4
add_generate_case llama-paged4-f16 "$llama" "${gqa_step[@]}" --paged-kv-cache=4 --kv-cache-type=f16
add_generate_case llama-paged8-bf16 "$llama" "${gqa_step[@]}" --paged-kv-cache=8 --kv-cache-type=bf16
add_generate_case llama-rows-f16 "$llama" "${gqa_step[@]}" --kv-cache-type=f16

if [ "$quick" = --cases ]; then
  echo "bundle in $out: $(ls "$out"/cases/*.so | wc -l) cases, $(ls "$out"/errors/*.so | wc -l) position-error cases"
  exit 0
fi

add_model() { # NAME GEN_CASE_ARGS...
  local name=$1; shift
  local m="$out/models/$name"
  $gen "$@" --mlir "$m.mlir" --config "$m.json" --inputs "$m.unused.npz"
  rm -f "$m.unused.npz"
  "$compile" "$m.mlir" --target cuda -o "$m.so"
}
# Numerics against SDPA (f16 and bf16, MHA/GQA/MQA, decode, masks, causal, kv lens).
add_model num-mha-sq1-f16 --batch 2 --q-heads 16 --kv-heads 16 --sq 1 --skv 1000 --d 128 --dtype f16
add_model num-gqa-sq1-bf16 --batch 4 --q-heads 32 --kv-heads 8 --sq 1 --skv 4096 --d 128 --dtype bf16
add_model num-mqa-sq1-f16 --batch 3 --q-heads 71 --kv-heads 1 --sq 1 --skv 513 --d 64 --dtype f16
add_model num-prefill-causal-f16 --batch 2 --q-heads 8 --kv-heads 2 --sq 128 --skv 128 --causal 0 --d 128 --dtype f16
add_model num-past-causal-bf16 --batch 1 --q-heads 12 --kv-heads 4 --sq 16 --skv 300 --causal 284 --d 64 --dtype bf16
add_model num-mask-bool-f16 --batch 2 --q-heads 8 --kv-heads 8 --sq 4 --skv 777 --mask bool --mask-shape 2x1x1x777 --d 128 --dtype f16
add_model num-mask-add-bf16 --batch 2 --q-heads 8 --kv-heads 2 --sq 3 --skv 500 --mask additive --mask-dtype bf16 --d 128 --dtype bf16
add_model num-kvlens-f16 --batch 4 --q-heads 16 --kv-heads 4 --sq 1 --skv 3000 --kv-lens i64 --d 128 --dtype f16
add_model num-decode-gqa-f16 --op decode --batch 4 --q-heads 32 --kv-heads 8 --smax 4096 --sn 1 --sq 1 --position 2500 --causal --d 128 --dtype f16
add_model num-decode-mqa-bf16 --op decode --batch 2 --q-heads 32 --kv-heads 1 --smax 8192 --sn 1 --sq 1 --position 8000 --causal --d 128 --dtype bf16
# The tensor-core kernel: G = 8 with a mask and an odd length, G = 16 at
# D = 64, G = 32 over many splits.
add_model num-tc-g8-mask-bool-f16 --batch 2 --q-heads 32 --kv-heads 4 --sq 1 --skv 1023 --mask bool --d 128 --dtype f16
add_model num-tc-g16-d64-f16 --batch 8 --q-heads 16 --kv-heads 1 --sq 1 --skv 4097 --d 64 --dtype f16
add_model num-tc-g32-b1-bf16 --batch 1 --q-heads 32 --kv-heads 1 --sq 1 --skv 32768 --d 128 --dtype bf16
add_model num-tc-g4-kvlens-bf16 --batch 3 --q-heads 8 --kv-heads 2 --sq 1 --skv 5000 --kv-lens i32 --d 128 --dtype bf16
# Timing: decode over the whole KV (attention, Sq=1), Hq=32, D=128: B=8 at
# KV 1024..32768 with Hkv 32/8/1 in f16 and bf16, and B=1 / B=64 (f16).
# --quick: B=8 f16 at KV 4096 and 32768 with Hkv 8 and 1 only.
bench_model() { # B HKV KV DTYPE (written here: gen_case.py would make
  # gigabytes of inputs that gpu_decode.py does not use)
  local m="$out/models/bench-b$1-h32-kv$2-s$3-$4" t=$4
  local q="tensor<$1x32x1x128x$t>" kv="tensor<$1x$2x$3x128x$t>"
  echo "{\"op\": \"attention\", \"batch\": $1, \"q_heads\": 32, \"kv_heads\": $2, \"sq\": 1, \"skv\": $3, \"d\": 128, \"dv\": 128, \"dtype\": \"$t\", \"scale\": 0.08838834764831845}" > "$m.json"
  cat > "$m.mlir" <<EOF
func.func @attention(%query: $q {attn.name = "query"}, %key: $kv {attn.name = "key"}, %value: $kv {attn.name = "value"})
    -> ($q {attn.name = "out"}) {
  %init = tensor.empty() : $q
  %out = attn.attention heads(32, $2) scale(0.08838834764831845)
      ins(%query, %key, %value : $q, $kv, $kv) outs(%init : $q) -> $q
  return %out : $q
}
EOF
  "$compile" "$m.mlir" --target cuda -o "$m.so"
}
if [ "$quick" = --quick ]; then
  for kv in 4096 32768; do for hkv in 8 1; do bench_model 8 $hkv $kv f16; done; done
else
  for dt in f16 bf16; do
    for kv in 1024 2048 4096 8192 16384 32768; do
      for hkv in 32 8 1; do bench_model 8 $hkv $kv $dt; done
    done
  done
  for hkv in 32 8 1; do
    bench_model 1 $hkv 4096 f16; bench_model 1 $hkv 32768 f16
    bench_model 64 $hkv 4096 f16
  done
  # B=64 MHA at 32K is a 34 GB cache (68 GB more with repeat_kv): left out.
  bench_model 64 8 32768 f16; bench_model 64 1 32768 f16
fi
echo "bundle in $out: $(ls "$out"/cases/*.so | wc -l) cases, $(ls "$out"/models/*.so | wc -l) models"
