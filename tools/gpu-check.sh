#!/usr/bin/env bash
# Runs, on a GPU machine, the cases of a bundle built by
# bench/gpu_build_cases.sh: each model compiled with --target cuda runs
# through attn-run (inputs moved to the device and back) and is compared
# with its double-precision reference. Needs only libcuda.so.1, Python and
# numpy. Prints one line per case and a summary; exits 1 if any failed.
#
#   tools/gpu-check.sh [BUNDLE_DIR]   (default: this script's directory)
set -uo pipefail
dir=${1:-$(cd "$(dirname "$0")" && pwd)}
pass=0; fail=0; failed=()
work=$(mktemp -d)
for so in "$dir"/cases/*.so; do
  c=${so%.so}; name=$(basename "$c")
  if "$dir/bin/attn-run" "$so" --inputs "$c.in.npz" --outputs "$work/$name.out.npz" \
       > "$work/$name.log" 2>&1 &&
     python3 "$dir/compare.py" "$work/$name.out.npz" "$c.ref.npz" $(cat "$c.tol") \
       >> "$work/$name.log" 2>&1; then
    pass=$((pass + 1)); echo "PASS $name"
  else
    fail=$((fail + 1)); failed+=("$name"); echo "FAIL $name"; sed 's/^/    /' "$work/$name.log" | tail -8
  fi
done
echo "gpu-check: $pass passed, $fail failed"
rm -rf "$work"
[ "$fail" -eq 0 ]
