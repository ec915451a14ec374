#!/usr/bin/env python3
# ab.py CASE ROUNDS THREADS BENCH name=ENV1,ENV2 ... ; name "base" uses the frozen main compiler
import sys, os, subprocess, re
case, rounds, threads, bench = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
variants = sys.argv[5:]
C = "/work/wt/cpu-decode-amd/build/bin/attn-compile"; B = "/tmp/cpuamd/basebin/bin/attn-compile"
R = "/work/wt/cpu-decode-amd/build/bin/attn-run"
d = "/tmp/cpuamd/cases"
sos = []
for v in variants:
    name, _, envs = v.partition("=")
    env = dict(os.environ)
    for kv in filter(None, envs.split(",")):
        k, _, val = kv.partition(":")
        env[k] = val
    so = f"{d}/{case}.{name}.so"
    if not (name == "base" and os.path.exists(so)):
        subprocess.run([B if name == "base" else ("/tmp/cpuamd/knobbin/bin/attn-compile" if name.startswith("k") else C), f"{d}/{case}.mlir", "-o", so], env=env, check=True)
    sos.append((name, so))
res = {n: [] for n, _ in sos}
for r in range(rounds):
    for n, so in sos:
        out = subprocess.run([R, so, "--inputs", f"{d}/{case}.in.npz", "--bench", bench, "--threads", threads], capture_output=True, text=True, check=True).stdout
        cpu = float(re.search(r"cpu_us:\s*(\S+)", out).group(1))
        res[n].append(cpu)
load = open("/proc/loadavg").read().split()[:3]
print(case, "threads", threads, "load", load)
for n, v in res.items():
    print(f"  {n:10s} min {min(v):9.0f}  med {sorted(v)[len(v)//2]:9.0f}  all " + " ".join(f"{x:.0f}" for x in v))
