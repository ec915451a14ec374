#!/bin/bash
# bench/results/cpu-decode-half: issue-12 rows against the roofline, both under SCHED_FIFO 10 and
# interleaved (roofline, kernel, roofline, kernel, ...), CPU clock as bench/cpu_decode.py counts it.
# rowcheck.sh ROOF ATTN_RUN ROUNDS THREADS CASE_BASE SUFFIX...   (CASE_BASE.SUFFIX.so per variant)
roof=$1 run=$2 rounds=$3 threads=$4 base=$5; shift 5
bytes=$(python3 -c "import numpy as np; z=np.load('$base.in.npz'); print(z['key_cache'].nbytes + z['value_cache'].nbytes)")
for r in $(seq $rounds); do
  gbs=$(chrt -f 10 $roof 536870912 $threads 2 | awk '/read_cpu_gbs_per_thread/{print $2}')
  line="round $r roofline $gbs GB/s/thread ($(python3 -c "print(round($bytes/($gbs*1e3*$threads)))") us)"
  for v in "$@"; do
    cpu=$(chrt -f 10 $run $base.$v.so --inputs $base.in.npz --bench 4 --threads $threads | awk '/cpu_us/{print $2}')
    line+=" | $v $(python3 -c "c=$cpu/$threads; print(f'{c:.0f} us {100*$bytes/($gbs*1e3*$threads)/c:.0f}%')")"
  done
  echo "$line"
done
echo "$(basename $base) threads $threads load $(cut -d' ' -f1-3 /proc/loadavg)"
