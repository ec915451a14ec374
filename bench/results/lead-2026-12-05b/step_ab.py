# Interleaved A/B of SmolLM2-135M decode-step libraries: each round runs
# every variant (V.so in the work directory) once in random order under
# SCHED_FIFO, `attn-run --generate 48` from a 512-token cache; the figure is
# the median step of a run; speed-ups are paired per round against the
# first variant. Usage: python3 step_ab.py base,v1,v2,... ROUNDS THREADS.
import subprocess, random, numpy as np, sys, collections
variants = sys.argv[1].split(","); rounds = int(sys.argv[2]); threads = sys.argv[3] if len(sys.argv) > 3 else "1"
res = collections.defaultdict(list)
for r in range(rounds):
    order = variants[:]; random.shuffle(order)
    for v in order:
        subprocess.run(["chrt", "-f", "10", "/work/main/build/bin/attn-run", f"/tmp/s6/v/{v}.so", "--inputs", "/tmp/q14/dec/past_512.npz",
                        "--generate", "48", "--threads", threads, "--outputs", f"/tmp/s6/v/g_{v}.npz"], check=True, capture_output=True)
        d = np.load(f"/tmp/s6/v/g_{v}.npz"); res[v].append(float(np.median(d["step_us"][1:])) / 1e3)
    print(r, " ".join(f"{v}={res[v][-1]:.2f}" for v in variants), flush=True)
base = variants[0]
for v in variants:
    ratios = [b / x for b, x in zip(res[base], res[v])]
    print(v, "median ms %.2f" % np.median(res[v]), "speedup vs %s: median %.3f (min %.3f max %.3f)" % (base, np.median(ratios), min(ratios), max(ratios)))
