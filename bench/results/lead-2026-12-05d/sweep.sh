#!/bin/bash
# Every exported decoder of test/Import/decoders through --share-kv (to half its KV heads, and to 1), with the
# default method calibrated on the export's inputs and with mean; then attn-run --generate 4 of each library from
# the inputs' past, cut to the converted KV heads by mkin.py. share_kv_sweep.log is its output (lead, 2026-12-05).
#   [ONLY=REGEX] bench/results/lead-2026-12-05d/sweep.sh [WORK_DIR]   (BUILD=build by default)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
D=$root/test/Import/decoders
B=${BUILD:-$root/build}/bin
work=${1:-$(mktemp -d)}
mkdir -p "$work" && cd "$work" || exit 1
# ONLY=REGEX keeps the exports whose names match (grep -E).
for d in $(ls -d "$D"/*/ | grep -E "${ONLY:-.}"); do
  n=$(basename "$d")
  read hq hkv < <(python3 -c "import json;h=json.load(open('$D/heads.json'))['$n'];print(h[0],h[1])")
  for target in $(printf '%s\n' $((hkv / 2)) 1 | sort -un); do
    [ "$target" -ge 1 ] && [ "$target" -lt "$hkv" ] || continue
    for m in default mean; do
      extra="--calibration $d/inputs.npz"; [ $m = mean ] && extra="--share-kv-method=mean"
      if timeout 600 "$B/attn-compile" "$d/model.onnx" --share-kv=$target $extra -o $n.$target.$m.so > $n.$target.$m.log 2>&1 &&
         python3 "$here/mkin.py" "$d/inputs.npz" $n.$target.in.npz $target &&
         timeout 120 "$B/attn-run" $n.$target.$m.so --inputs $n.$target.in.npz --generate 4 --outputs $n.$target.$m.out.npz >> $n.$target.$m.log 2>&1; then
        echo "ok   $n $hq/$hkv -> $target $m"
      else
        echo "FAIL $n $hq/$hkv -> $target $m: $(tail -2 $n.$target.$m.log | tr '\n' ' ')"
      fi
    done
  done
done
