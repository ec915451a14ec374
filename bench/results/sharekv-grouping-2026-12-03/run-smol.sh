#!/bin/bash
cd /work/wt/sharekv-grouping
export WORK=/tmp/grp BIN=/tmp/grp-sim2/bin
KV=1 bench/share_kv_joint_trained.sh smol-mean-nb --share-kv-method=mean
KV=1 bench/share_kv_joint_trained.sh smol-mean-sim --share-kv-method=mean --share-kv-grouping=similarity
