#!/usr/bin/env bash
# Runs, on a GPU machine, the whole decoders of a bundle built by
# bench/gpu_build_decoders.sh (compiled with --target cuda; needs only
# libcuda.so.1, Python and numpy):
#   NAME step      one decode step through attn-run (inputs to the device
#                  and back) against ONNX Runtime's CPU outputs, 1e-3;
#   NAME generate  attn-run --generate 16 (caches on the device): the same
#                  tokens as ORT's greedy loop, logits to 1e-3.
# Prints PASS/FAIL per check and `N passed, N failed`; exits 1 if any failed.
#
#   tools/gpu-decoder-check.sh [BUNDLE_DIR]   (default: this script's directory)
set -uo pipefail
dir=${1:-$(cd "$(dirname "$0")" && pwd)}
pass=0; fail=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { # LABEL LOG COMMAND...
  local label=$1 log=$2; shift 2
  if "$@" > "$log" 2>&1; then
    pass=$((pass + 1)); echo "PASS $label"
  else
    fail=$((fail + 1)); echo "FAIL $label"; sed 's/^/    /' "$log" | tail -8
  fi
}
step() { # NAME
  "$dir/bin/attn-run" "$dir/decoders/$1.step.so" --inputs "$dir/decoders/$1.in.npz" \
    --outputs "$work/$1.step.npz" &&
  python3 "$dir/compare_npz.py" "$work/$1.step.npz" "$dir/decoders/$1.ref.npz" --atol 1e-3
}
generate() { # NAME
  "$dir/bin/attn-run" "$dir/decoders/$1.fused.so" --inputs "$dir/decoders/$1.in.npz" \
    --generate 16 --outputs "$work/$1.gen.npz" &&
  python3 "$dir/compare_npz.py" "$work/$1.gen.npz" "$dir/decoders/$1.gen.npz" --atol 1e-3
}
shopt -s nullglob
models=("$dir"/decoders/*.step.so "$dir"/decoders/*.fused.so)
if [ ${#models[@]} -eq 0 ]; then
  echo "gpu-decoder-check: no decoders in $dir/decoders (build the bundle with bench/gpu_build_decoders.sh)"
  exit 1
fi
# A model may have a step check, a generate check or both.
names=$(for so in "${models[@]}"; do basename "$so" | sed 's/\.\(step\|fused\)\.so$//'; done | sort -u)
for name in $names; do
  if [ -f "$dir/decoders/$name.step.so" ]; then
    check "$name step" "$work/$name.step.log" step "$name"
  fi
  if [ -f "$dir/decoders/$name.fused.so" ]; then
    check "$name generate" "$work/$name.gen.log" generate "$name"
  fi
done
echo "gpu-decoder-check: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
