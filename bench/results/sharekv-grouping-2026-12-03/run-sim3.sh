#!/bin/bash
cd /work/wt/sharekv-grouping
export MODEL=/tmp/mha-model/whisper REF=/tmp/mha-model/whisper/reference.npy WORK=/tmp/grp BIN=/tmp/grp-sim3/bin
export SHAPES="--input-shape input_ids=8x128 --input-shape position_ids=8x128 --input-shape encoder_hidden_states=8x1500x512"
KV=4 bench/share_kv_joint_trained.sh s3-aligned-4 --share-kv-method=aligned --share-kv-grouping=similarity
KV=4 bench/share_kv_joint_trained.sh s3-mean-4 --share-kv-method=mean --share-kv-grouping=similarity
