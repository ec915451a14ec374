#!/usr/bin/env python3
# bench/results/cpu-decode-2t: the A/B of RESULTS "CPU decode on 2 threads". TRACE_LIB: a libAttnRuntime built with pool-trace.patch (2-thread runs only; it indexes its event table by region and breaks serial runs).
"""A/B with the timed part under SCHED_FIFO: attn-run loads its inputs at normal priority; when it
prints its first 'output' line (after the first run) all its threads are made SCHED_FIFO (chrt -a -p),
so the RT throttle (950 ms/s) is not reached. Rounds x variants, sleep between runs."""
import os, re, subprocess, sys, time
run, base, rounds, bench, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
variants = sys.argv[6:]
env = dict(os.environ, ATTN_POOL_TRACE="1", LD_LIBRARY_PATH=os.environ.get("TRACE_LIB", "/tmp/2t-trace/lib-trace")) if threads != "1" else dict(os.environ)
res = {v: [] for v in variants}
steps = int(bench) + min(int(bench), 3) + 1
for r in range(rounds):
    for v in variants:
        time.sleep(1.2)
        p = subprocess.Popen(["stdbuf", "-oL", run, f"{base}.{v}.so", "--inputs", f"{base}.in.npz",
                              "--bench", bench, "--threads", threads], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        out = ""
        for line in p.stdout:
            out += line
            if line.startswith("output"):
                subprocess.run(["chrt", "-f", "-a", "-p", "10", str(p.pid)], check=True,
                               stdout=subprocess.DEVNULL)
                break
        rest = p.stdout.read(); err = p.stderr.read(); p.wait()
        out += rest + err
        cpu = float(re.search(r"cpu_us:\s*(\S+)", out).group(1)) / int(threads)
        wall = float(re.search(r"min_us:\s*(\S+)", out).group(1))
        med = float(re.search(r"median_us:\s*(\S+)", out).group(1))
        bw = sum(float(x) for x in re.findall(r"barrier wall (\S+)", out)) / steps
        res[v].append((cpu, wall, bw, med))
print(f"{os.path.basename(base)} threads {threads} (timed runs SCHED_FIFO) load {os.getloadavg()[0]:.1f}")
first = None
for v, xs in res.items():
    c = sorted(x[0] for x in xs); w = sorted(x[1] for x in xs); b = sorted(x[2] for x in xs)
    first = first or c[0]
    print(f"  {v:8s} cpu/thread best {c[0]:8.0f} med {c[len(c)//2]:8.0f} ({first/c[0]:.3f}x) | wall best {w[0]:8.0f} | barrier wait/step (both threads) med {b[len(b)//2]:6.0f} us | cpu all " + " ".join(f"{x[0]:.0f}" for x in xs), flush=True)
