#!/usr/bin/env bash
# Builds, on a machine with LLVM (no GPU needed), the bundle with which
# tools/gpu-decoder-check.sh checks whole decoders compiled with
# --target cuda on a GPU machine that has only the CUDA driver, Python and
# numpy:
#
#   bench/gpu_build_decoders.sh BUILD_DIR OUT_DIR [--quick | --rest | --bench]
#
# OUT_DIR gets bin/attn-run, lib/libAttnRuntime.so, compare_npz.py,
# gpu-decoder-check.sh and, in decoders/:
#   NAME.step.so, NAME.in.npz, NAME.ref.npz: one decode step at the shapes of
#       the inputs (8 cached positions; attention after the concat), against
#       ONNX Runtime's outputs on the CPU (test/Import/decoders/*/expected.npz;
#       for the project's tiny decoder, onnxruntime run here);
#   NAME.fused.so, NAME.gen.npz: the fused in-place-cache form (--max-seq 32)
#       and ORT's 16 greedy steps (generate16.npz; for the tiny decoder, the
#       CPU build's attn-run --generate 16, itself checked against ORT by
#       test/tools/attn-run/generate.test).
#   tiny_mha_share2.fused.so: the tiny MHA decoder converted to 2 KV heads
#       with --share-kv-method calibrated (--target cuda), against the CPU
#       build of the same conversion (16 greedy steps, no step model).
# --quick takes four exported decoders (and the tiny ones) instead of all of
# them, --rest the other exported decoders only (two bundles under 30 MB).
# NAMES="a b ..." takes those exported decoders (with --rest: and no tiny
# ones); GENERATE_ALL=1 adds the greedy check for every one of them.
# --bench builds instead the per-token benchmark of bench/gpu_decoder.py:
#   decoders/NAME.bench.so (fused, --max-seq 4160 where the model's
#   positions allow, else 1024) and NAME.onnx, for the tiny decoder and
#   transformers' Llama (hf_llama_ts17), plus gpu_decoder.py; and
#   matvec/mv_KxN_DT.so, one product x [1, K] by an input W [K, N], to time
#   the matvec kernel alone (gpu_decoder.py --matvec).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
out=$2
quick=${3:-}
mkdir -p "$out"/bin "$out"/lib "$out"/decoders
cp "$build/bin/attn-run" "$out/bin/"
cp "$build/lib/libAttnRuntime.so" "$out/lib/"
cp "$src/test/Import/lib/compare_npz.py" "$src/tools/gpu-decoder-check.sh" "$out/"
compile="$build/bin/attn-compile"
d="$out/decoders"

# --input-shape for every array of an npz (binds the symbolic past).
shapes() {
  python3 -c "
import sys, numpy as np
z = np.load(sys.argv[1])
print(' '.join('--input-shape=%s=%s' % (k, 'x'.join(map(str, z[k].shape))) for k in z.files))" "$1"
}

add_step() { # NAME MODEL INPUTS REFERENCE
  local name=$1 model=$2 inputs=$3 ref=$4
  # shellcheck disable=SC2046
  "$compile" "$model" $(shapes "$inputs") --target cuda -o "$d/$name.step.so"
  cp "$inputs" "$d/$name.in.npz"
  cp "$ref" "$d/$name.ref.npz"
}

add_generate() { # NAME MODEL REFERENCE (after add_step: same inputs)
  local name=$1 model=$2 ref=$3
  "$compile" "$model" --max-seq 32 --input-shape input_ids=1x1 \
    --input-shape position_ids=1x1 --target cuda -o "$d/$name.fused.so"
  cp "$ref" "$d/$name.gen.npz"
}

decoders="$src/test/Import/decoders"
export PYTHONPATH="$src/python${PYTHONPATH:+:$PYTHONPATH}"
if [ "$quick" = "--bench" ]; then
  cp "$src/bench/gpu_decoder.py" "$src/bench/gpu_decode.py" "$out/"
  python3 -m attn_mlir_models.tiny_decoder -o "$d/tiny_kv2.onnx" --kv-heads 2 --past 5 \
    --inputs "$d/tiny_kv2.in.npz" > /dev/null
  "$compile" "$d/tiny_kv2.onnx" --max-seq 1024 --input-shape input_ids=1x1 \
    --input-shape position_ids=1x1 --target cuda -o "$d/tiny_kv2.bench.so"
  cp "$decoders/hf_llama_ts17/model.onnx" "$d/hf_llama_ts17.onnx"
  "$compile" "$d/hf_llama_ts17.onnx" --max-seq 4160 --input-shape input_ids=1x1 \
    --input-shape position_ids=1x1 --target cuda -o "$d/hf_llama_ts17.bench.so"
  # The matvec kernel alone: y = x W with W an input (nothing to ship), at
  # SmolLM-135M's projection shapes and at 4096-wide layers, f32 and f16.
  mkdir -p "$out/matvec"
  for shape in 576x576:f32 576x1536:f32 1536x576:f32 576x49152:f32 4096x4096:f32 \
               4096x14336:f32 576x1536:f16 576x49152:f16 4096x4096:f16 4096x14336:f16; do
    kn=${shape%:*}; dt=${shape#*:}; k=${kn%x*}; n=${kn#*x}
    cat > "$out/matvec/mv.mlir" <<MLIR
func.func @mv(%x: tensor<1x${k}x${dt}> {attn.name = "x"}, %w: tensor<${k}x${n}x${dt}> {attn.name = "w"})
    -> (tensor<1x${n}x${dt}> {attn.name = "y"}) {
  %z = arith.constant 0.0 : ${dt}
  %e = tensor.empty() : tensor<1x${n}x${dt}>
  %f = linalg.fill ins(%z : ${dt}) outs(%e : tensor<1x${n}x${dt}>) -> tensor<1x${n}x${dt}>
  %y = linalg.matmul ins(%x, %w : tensor<1x${k}x${dt}>, tensor<${k}x${n}x${dt}>)
                     outs(%f : tensor<1x${n}x${dt}>) -> tensor<1x${n}x${dt}>
  return %y : tensor<1x${n}x${dt}>
}
MLIR
    "$compile" "$out/matvec/mv.mlir" --target cuda -o "$out/matvec/mv_${kn}_${dt}.so"
  done
  rm "$out/matvec/mv.mlir"
  echo "bench bundle in $out: $(du -sh "$out" | cut -f1)"
  exit 0
fi
if [ -n "${NAMES:-}" ]; then
  names=$NAMES
elif [ "$quick" = "--quick" ]; then
  names="gpt2_mha_ts17 hf_llama_ts17 hfm_qwen2_mqa_ts17 llama_gqa_sdpa_dyn23"
else
  names=$(python3 -c "import json, sys; print(' '.join(sorted(json.load(open(sys.argv[1])))))" "$decoders/heads.json")
  if [ "$quick" = "--rest" ]; then
    names=$(for n in $names; do
      case " gpt2_mha_ts17 hf_llama_ts17 hfm_qwen2_mqa_ts17 llama_gqa_sdpa_dyn23 " in
        *" $n "*) ;; *) echo "$n" ;; esac; done)
  fi
fi
for name in $names; do
  m="$decoders/$name"
  add_step "$name" "$m/model.onnx" "$m/inputs.npz" "$m/expected.npz"
  # Greedy decoding for the TorchScript exports (the dynamo ones are the
  # same models; the bundle must stay small).
  case ${GENERATE_ALL:-}:$name in
    1:*|*_ts17|*_dyn23) add_generate "$name" "$m/model.onnx" "$m/generate16.npz" ;;
  esac
  echo "added $name"
done

# The project's tiny decoder (python/attn_mlir_models/tiny_decoder.py), GQA
# 8/2 and MQA, past 5.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "$quick" = "--rest" ]; then
  echo "bundle in $out: $(ls "$d"/*.step.so | wc -l) step models, $(du -sh "$out" | cut -f1)"
  exit 0
fi
for kv in 2 1; do
  name=tiny_kv$kv
  python3 -m attn_mlir_models.tiny_decoder -o "$work/$name.onnx" --kv-heads $kv \
    --past 5 --inputs "$work/$name.in.npz"
  python3 "$src/test/GPU/Inputs/ort_step.py" "$work/$name.onnx" "$work/$name.in.npz" \
    "$work/$name.ref.npz"
  add_step "$name" "$work/$name.onnx" "$work/$name.in.npz" "$work/$name.ref.npz"
  "$build/bin/attn-run" "$work/$name.onnx" --inputs "$work/$name.in.npz" \
    --generate 16 --outputs "$work/$name.gen.npz" > /dev/null
  python3 -c "
import sys, numpy as np
z = np.load(sys.argv[1]); np.savez(sys.argv[1], tokens=z['tokens'], logits=z['logits'])" "$work/$name.gen.npz"
  add_generate "$name" "$work/$name.onnx" "$work/$name.gen.npz"
  echo "added $name"
done
# Calibrated KV sharing for the GPU: the tiny MHA decoder converted to 2
# KV heads, fitted on its inputs; the reference is the CPU build of the same
# conversion (tokens and logits of 16 greedy steps from an empty cache).
share="--dim batch=1 --dim seq=1 --share-kv 2 --share-kv-method calibrated --max-seq 32"
python3 -m attn_mlir_models.tiny_decoder -o "$work/mha.onnx" --kv-heads 8 --past 5 \
  --inputs "$work/mha.in.npz"
# shellcheck disable=SC2086
"$compile" "$work/mha.onnx" $share --calibration "$work/mha.in.npz" -o "$work/mha2.cpu.so" > /dev/null
# shellcheck disable=SC2086
"$compile" "$work/mha.onnx" $share --calibration "$work/mha.in.npz" --target cuda \
  -o "$d/tiny_mha_share2.fused.so" > /dev/null
python3 -c "
import sys, numpy as np
d = dict(np.load(sys.argv[1]))
d.update({k: np.zeros((1, 2, 0, 16), np.float32) for k in d if k.startswith('past')})
d['position_ids'] = np.zeros((1, 1), np.int64)
np.savez(sys.argv[2], **d)" "$work/mha.in.npz" "$d/tiny_mha_share2.in.npz"
"$build/bin/attn-run" "$work/mha2.cpu.so" --inputs "$d/tiny_mha_share2.in.npz" \
  --generate 16 --outputs "$work/mha2.gen.npz" > /dev/null
python3 -c "
import sys, numpy as np
z = np.load(sys.argv[1]); np.savez(sys.argv[2], tokens=z['tokens'], logits=z['logits'])" \
  "$work/mha2.gen.npz" "$d/tiny_mha_share2.gen.npz"
echo "added tiny_mha_share2"
echo "bundle in $out: $(ls "$d"/*.step.so | wc -l) step models, $(ls "$d"/*.fused.so | wc -l) generate models, $(du -sh "$out" | cut -f1)"
