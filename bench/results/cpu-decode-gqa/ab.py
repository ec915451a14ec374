#!/usr/bin/env python3
# ab.py CASE ROUNDS THREADS BENCH name=ENV:VAL,ENV:VAL ...   ("main" = main's compiler)
# Interleaved rounds of attn-run --bench BENCH; prints process CPU us per step per thread.
import sys, os, subprocess, re
case, rounds, threads, bench = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
C = "/work/wt/cpu-decode-gqa/build/bin/attn-compile"
M = "/work/main/build/bin/attn-compile"
R = "/work/wt/cpu-decode-gqa/build/bin/attn-run"
d = "/tmp/gqa/cases"
sos = []
for v in sys.argv[5:]:
    name, _, envs = v.partition("=")
    env = dict(os.environ)
    for kv in filter(None, envs.split(",")):
        k, _, val = kv.partition(":")
        env[k] = val
    so = f"{d}/{case}.{name}.so"
    subprocess.run([M if name.startswith("main") else C, f"{d}/{case}.mlir", "-o", so], env=env, check=True)
    sos.append((name, so))
res = {n: [] for n, _ in sos}
loads = [os.getloadavg()[0]]
for r in range(rounds):
    for n, so in sos:
        out = subprocess.run([R, so, "--inputs", f"{d}/{case}.in.npz", "--bench", bench, "--threads", threads],
                             capture_output=True, text=True, check=True).stdout
        res[n].append(float(re.search(r"cpu_us:\s*(\S+)", out).group(1)) / int(threads))
    loads.append(os.getloadavg()[0])
print(f"{case} T{threads} load {min(loads):.2f}..{max(loads):.2f}")
ref = None
for n, v in res.items():
    mn, med = min(v), sorted(v)[len(v) // 2]
    ref = ref or mn
    print(f"  {n:14s} min {mn:9.0f} med {med:9.0f} ({ref/mn:5.3f}x of first)  all " + " ".join(f"{x:.0f}" for x in v), flush=True)
