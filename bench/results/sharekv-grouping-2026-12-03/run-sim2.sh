#!/bin/bash
cd /work/wt/sharekv-grouping
export MODEL=/tmp/mha-model/whisper REF=/tmp/mha-model/whisper/reference.npy WORK=/tmp/grp BIN=/tmp/grp-sim2/bin
export SHAPES="--input-shape input_ids=8x128 --input-shape position_ids=8x128 --input-shape encoder_hidden_states=8x1500x512"
for kv in 4 2; do
  KV=$kv bench/share_kv_joint_trained.sh simp-mean-$kv --share-kv-method=mean --share-kv-grouping=similarity
done
