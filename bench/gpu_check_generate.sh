#!/usr/bin/env bash
# Runs, on a GPU machine, the decoding cases of a bundle built by
# bench/gpu_build_cases.sh (generate/NAME.{so,prompts.txt,ref.npz}): each
# exported decoder compiled with --target cuda decodes its prompt with
# attn-run --generate --prompts (12 steps, caches on the device) and must
# give the CPU build's tokens exactly and its logits within 1e-3. Prints one
# line per case and a summary; exits 1 if any failed.
#
#   gpu_check_generate.sh [BUNDLE_DIR]   (default: this script's directory)
set -uo pipefail
dir=${1:-$(cd "$(dirname "$0")" && pwd)}
pass=0; fail=0
work=$(mktemp -d)
for so in "$dir"/generate/*.so; do
  [ -e "$so" ] || continue
  g=${so%.so}; name=$(basename "$g")
  if "$dir/bin/attn-run" "$so" --prompts "$g.prompts.txt" --generate 12 \
       --outputs "$work/$name.npz" > "$work/$name.log" 2>&1 &&
     python3 "$dir/compare.py" "$work/$name.npz" "$g.ref.npz" --atol 0 --rtol 0 \
       --keys tokens >> "$work/$name.log" 2>&1 &&
     python3 "$dir/compare.py" "$work/$name.npz" "$g.ref.npz" --atol 1e-3 --rtol 0 \
       --keys logits >> "$work/$name.log" 2>&1; then
    pass=$((pass + 1)); echo "PASS $name ($(grep -o 'median_us: .*' "$work/$name.log"))"
  else
    fail=$((fail + 1)); echo "FAIL $name"; sed 's/^/    /' "$work/$name.log" | tail -8
  fi
done
echo "gpu-check-generate: $pass passed, $fail failed"
rm -rf "$work"
[ "$fail" -eq 0 ]
