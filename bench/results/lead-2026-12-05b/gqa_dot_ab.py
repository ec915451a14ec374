# GQA-4 decode on bf16 caches (B 1 S 131072, B 8 S 16384; Hq 32, D 128),
# three compiles of the same case timed in random order per round under
# SCHED_FIFO (attn-run --bench 6, best of each run; medians over rounds):
# off = --bf16-dot-products=off, qk = Q.K as vdpbf16ps alone (a temporary
# switch ATTN_NO_PV_DOT of the session's build, since removed), qkpv = the
# kept form. Usage: python3 gqa_dot_ab.py ROUNDS (paths as in the session).
import sys, os, random, subprocess, types, collections, re, numpy as np
sys.path.insert(0, "/work/main/bench"); import cpu_decode as cd
work = "/tmp/s6/gqa"; os.makedirs(work, exist_ok=True)
args = types.SimpleNamespace(bin_dir=None, baseline_compile=None, fifo=10)
cases = [(1, 8, 131072), (8, 8, 16384)]
AC = "/work/main/build/bin/attn-compile"
variants = {"off": (["--bf16-dot-products=off"], {}), "qk": ([], {"ATTN_NO_PV_DOT": "1"}), "qkpv": ([], {})}
bases = []
for b, h, s in cases:
    base = os.path.join(work, f"decode_b{b}_h{h}_s{s}_bf16"); bases.append(base)
    if os.path.exists(base + ".qkpv.so"): continue
    base = cd.make_case(args, work, b, h, s, "bf16")
    for v, (flags, env) in variants.items():
        subprocess.run([AC, base + ".mlir", "-o", f"{base}.{v}.so"] + flags, check=True, env={**os.environ, **env})
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
for base in bases:
  for threads in (1, 2):
    res = collections.defaultdict(list)
    for r in range(rounds):
        order = list(variants); random.shuffle(order)
        for v in order:
            out = subprocess.run(["chrt", "-f", "10", "/work/main/build/bin/attn-run", f"{base}.{v}.so", "--inputs", base + ".in.npz", "--bench", "6", "--threads", str(threads)], capture_output=True, text=True, check=True).stdout
            res[v].append(float(re.search(r"min_us:\s*([0-9.]+)", out).group(1)))
    print(os.path.basename(base), "threads", threads, " ".join(f"{v}={np.median(res[v])/1e3:.2f}ms" for v in variants),
          "qk/off %.3f qkpv/off %.3f qkpv/qk %.3f" % (np.median(np.array(res['off'])/np.array(res['qk'])), np.median(np.array(res['off'])/np.array(res['qkpv'])), np.median(np.array(res['qk'])/np.array(res['qkpv']))), flush=True)
