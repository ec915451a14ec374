#!/bin/bash
# Ran from /tmp/sweep (lead, 2026-12-05 11:27-11:31 UTC); share_kv_sweep.log is its output, duplicates removed.
# every exported decoder of test/Import/decoders through --share-kv (halved KV heads, and 1), default method with
# its inputs as calibration, and mean without; then attn-run --generate 4 of each library from its inputs' past
# (the past arrays cut to the converted KV heads by mkin.py)
D=/work/main/test/Import/decoders
B=/work/main/build/bin
for d in $D/*/; do
  n=$(basename $d)
  read hq hkv < <(python3 -c "import json;h=json.load(open('$D/heads.json'))['$n'];print(h[0],h[1])")
  for target in $((hkv/2)) 1; do
    [ $target -ge 1 ] && [ $target -lt $hkv ] || continue
    for m in default mean; do
      extra="--calibration $d/inputs.npz"; [ $m = mean ] && extra="--share-kv-method=mean"
      if timeout 600 $B/attn-compile $d/model.onnx --share-kv=$target $extra -o $n.$target.$m.so > $n.$target.$m.log 2>&1 &&
         python3 mkin.py $d/inputs.npz $n.$target.in.npz $target && timeout 120 $B/attn-run $n.$target.$m.so --inputs $n.$target.in.npz --generate 4 --outputs $n.$target.$m.out.npz >> $n.$target.$m.log 2>&1; then
        echo "ok   $n $hq/$hkv -> $target $m"
      else
        echo "FAIL $n $hq/$hkv -> $target $m: $(tail -2 $n.$target.$m.log | tr '\n' ' ')"
      fi
    done
  done
done
