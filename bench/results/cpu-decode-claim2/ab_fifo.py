#!/usr/bin/env python3
"""Interleaved A/B of decode compilers with the timed part under SCHED_FIFO.

  ab_fifo.py CASE_BASE ROUNDS THREADS BENCH NAME=COMPILER...

CASE_BASE is a case of bench/decode_ab.py (CASE_BASE.mlir, CASE_BASE.in.npz).
Each variant is compiled once; then ROUNDS rounds run every variant once with
`attn-run --bench BENCH --threads THREADS`. attn-run loads its inputs at
normal priority; at its first 'output' line its threads are made SCHED_FIFO
(chrt -f -a -p 10), so the timed steps have both vCPUs to themselves (the
kernel's RT throttle leaves the other jobs 5%). Per variant: CPU us per step
and thread (cpu_us / THREADS) and wall us per step (min_us, median_us),
best and median over the rounds; the load average before and after.
(bench/results/cpu-decode-2t/rtab2.py without its pool trace.)"""
import os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
base, rounds, threads, bench = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
variants = [v.split("=", 1) for v in sys.argv[5:]]
run = os.path.join(ROOT, "build", "bin", "attn-run")
for name, compiler in variants:
    so = f"{base}.{name}.so"
    if not os.path.exists(so):
        subprocess.run([compiler, base + ".mlir", "-o", so], check=True)
res = {name: [] for name, _ in variants}
load0 = os.getloadavg()
for r in range(rounds):
    for name, _ in variants:
        time.sleep(1.0)
        p = subprocess.Popen(["stdbuf", "-oL", run, f"{base}.{name}.so", "--inputs", f"{base}.in.npz",
                              "--bench", bench, "--threads", threads], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        out = ""
        for line in p.stdout:
            out += line
            if line.startswith("output"):
                subprocess.run(["chrt", "-f", "-a", "-p", "10", str(p.pid)], check=True,
                               stdout=subprocess.DEVNULL)
                break
        out += p.stdout.read() + p.stderr.read()
        p.wait()
        cpu = float(re.search(r"cpu_us:\s*(\S+)", out).group(1)) / int(threads)
        wall = float(re.search(r"min_us:\s*(\S+)", out).group(1))
        med = float(re.search(r"median_us:\s*(\S+)", out).group(1))
        res[name].append((cpu, wall, med))
load1 = os.getloadavg()
print(f"{os.path.basename(base)} threads {threads} bench {bench} rounds {rounds} "
      f"load {load0[0]:.1f} -> {load1[0]:.1f}")
first = None
for name, xs in res.items():
    c = sorted(x[0] for x in xs); w = sorted(x[1] for x in xs); m = sorted(x[2] for x in xs)
    first = first or (c[0], w[0], m[len(m) // 2])
    print(f"  {name:6s} CPU/thread best {c[0]:8.0f} med {c[len(c)//2]:8.0f} ({first[0]/c[0]:.3f}x)"
          f" | wall min {w[0]:8.0f} ({first[1]/w[0]:.3f}x) median-of-medians {m[len(m)//2]:8.0f}"
          f" ({first[2]/m[len(m)//2]:.3f}x) | CPU all " + " ".join(f"{x[0]:.0f}" for x in xs), flush=True)
