#!/bin/bash
# Compiles a prefill export (default: SmolLM2-135M) with attn-compile --share-kv=$KV and
# the given method flags, runs it on the held-out tokens and scores it
# against the unconverted model's logits (bench/share_kv_trained.py's
# metrics: KL, top-1, perplexity), with /usr/bin/time -v of the compile.
# usage: bench/share_kv_joint_trained.sh NAME [attn-compile flags...]
# env: MODEL (export dir, default /tmp/mla-convert-trained/model), CALIB
# (calibration file, default $MODEL/calibration.npz), REF
# (reference logits), WORK (output dir), BIN (attn-compile's dir), KV (the
# --share-kv value, default 1), SHAPES (the --input-shape flags, default
# input_ids and position_ids 8x128).
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NAME=$1; shift
MODEL=${MODEL:-/tmp/mla-convert-trained/model}
CALIB=${CALIB:-$MODEL/calibration.npz}
REF=${REF:-/tmp/mla-convert-trained/reference.npy}
WORK=${WORK:-/tmp/sharekv-joint-trained}
BIN=${BIN:-$ROOT/build/bin}
KV=${KV:-1}
SHAPES=${SHAPES:-"--input-shape input_ids=8x128 --input-shape position_ids=8x128"}
mkdir -p "$WORK"
LOG=$WORK/$NAME.log
{
  echo "# $NAME $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# attn-compile model.onnx $SHAPES --share-kv=$KV --calibration $CALIB $*"
} > "$LOG"
# shellcheck disable=SC2086  # SHAPES is a list of flags
/usr/bin/time -v "$BIN/attn-compile" "$MODEL/model.onnx" $SHAPES --share-kv="$KV" \
  --calibration "$CALIB" \
  "$@" -o "$WORK/$NAME.so" --report "$WORK/$NAME.json" >> "$LOG" 2>&1
echo "# load after compile: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$LOG"
"$BIN/attn-run" "$WORK/$NAME.so" --inputs "$MODEL/heldout.npz" --outputs "$WORK/$NAME.out.npz" >> "$LOG" 2>&1
python3 - "$ROOT" "$REF" "$WORK/$NAME.out.npz" "$MODEL/heldout_targets.npy" >> "$LOG" <<'PY'
import sys
import numpy as np
root, ref, got, targets = sys.argv[1:]
sys.path.insert(0, root + "/bench"); sys.path.insert(0, root + "/tools/export")
import share_kv_trained as T
m = T.metrics(np.load(ref), np.load(got)["logits"], np.load(targets))
print("metrics", m)
PY
rm -f "$WORK/$NAME.so" "$WORK/$NAME.so.params"
tail -1 "$LOG"
