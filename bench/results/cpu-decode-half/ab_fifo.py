#!/usr/bin/env python3
# bench/results/cpu-decode-half: interleaved A/B of compiler variants on one decode case,
# the timed runs under SCHED_FIFO (as bench/results/cpu-decode-2t/rtab2.py, without the pool trace).
"""ab_fifo.py RUN CASE_BASE ROUNDS BENCH THREADS NAME='COMPILE ARGS'...

Each NAME='attn-compile [flags]' compiles CASE_BASE.mlir into CASE_BASE.NAME.so (skipped when it
exists), then ROUNDS rounds run every variant once (attn-run --bench BENCH --threads THREADS);
after attn-run's first output all its threads are made SCHED_FIFO 10. Prints per variant the
best and median CPU us per step and thread, the best wall us, and the load average."""
import os, re, shlex, subprocess, sys, time
run, base, rounds, bench, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
variants = dict(v.split("=", 1) for v in sys.argv[6:])
for name, cmd in variants.items():
    so = f"{base}.{name}.so"
    if not os.path.exists(so):
        subprocess.run(shlex.split(cmd) + [base + ".mlir", "-o", so], check=True)
res = {v: [] for v in variants}
load0 = os.getloadavg()[0]
for r in range(rounds):
    for v in variants:
        time.sleep(0.5)
        p = subprocess.Popen(["stdbuf", "-oL", run, f"{base}.{v}.so", "--inputs", f"{base}.in.npz",
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
        res[v].append((cpu, wall))
print(f"{os.path.basename(base)} threads {threads} rounds {rounds} x bench {bench} (SCHED_FIFO) "
      f"load {load0:.1f}-{os.getloadavg()[0]:.1f}")
first = None
for v, xs in res.items():
    c = sorted(x[0] for x in xs); w = sorted(x[1] for x in xs)
    first = first or c[len(c) // 2]
    print(f"  {v:10s} cpu/thread best {c[0]:8.0f} med {c[len(c)//2]:8.0f} (median {first/c[len(c)//2]:.3f}x of first's)"
          f" | wall best {w[0]:8.0f} | cpu " + " ".join(f"{x[0]:.0f}" for x in xs), flush=True)
