#!/bin/bash
cd /work/wt/sharekv-grouping
export MODEL=/tmp/mha-model/whisper REF=/tmp/mha-model/whisper/reference.npy WORK=/tmp/grp BIN=/tmp/grp-sim/bin
export SHAPES="--input-shape input_ids=8x128 --input-shape position_ids=8x128 --input-shape encoder_hidden_states=8x1500x512"
for kv in 4 2; do
  for m in mean aligned aligned-fit; do
    KV=$kv bench/share_kv_joint_trained.sh sim-$m-$kv --share-kv-method=$m --share-kv-grouping=similarity
  done
  KV=$kv bench/share_kv_joint_trained.sh sim-default-$kv --share-kv-grouping=similarity
done
