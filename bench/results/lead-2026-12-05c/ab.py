# Interleaved A/B of GQA decode tile sizes (lead, 2026-12-05 07:48-08:10 UTC, Zen 4 VM).
# Ran against an experiment build whose CpuTarget read groupedTileKeys from $XP_TILE
# (0: 32-key tiles, 64, 128), not committed; the committed form is
# f16-grouped-tile-keys (128 for f16 key caches with G >= 4 on Zen 4).
# usage: ab.py VARIANTS THREADS ROUNDS [CASE ...]   e.g. ab.py 0,128 1,2 8 1_8_f16
# Prints per case the best and median ms and the paired median ratio of medians against
# the first variant (range over rounds).
import sys, os, subprocess, random, re, statistics
sys.path.insert(0, "/work/main/bench")
import cpu_decode as cd
class A: baseline_compile=None; bin_dir="/work/main/build/bin"
W="/tmp/f16/ab"; os.makedirs(W, exist_ok=True)
cases=[(1,8,131072,"f16"),(1,8,131072,"f32"),(1,8,131072,"bf16"),(8,8,16384,"f16"),(8,8,16384,"f32"),(8,8,16384,"bf16"),(1,4,131072*2,"f16"),(1,16,65536,"f16")]
variants=sys.argv[1].split(",")  # e.g. 0,64,128
threads=[int(t) for t in sys.argv[2].split(",")]
rounds=int(sys.argv[3])
sel=[c for c in cases if not sys.argv[4:] or f"{c[0]}_{c[1]}_{c[3]}" in sys.argv[4:]]
bases={}
for c in sel:
    b,h,s,dt=c
    base=os.path.join(W,f"decode_b{b}_h{h}_s{s}_{dt}")
    if not os.path.exists(base+".in.npz"):
        cd.make_case(A,W,b,h,s,dt)
    for v in variants:
        so=f"{base}.t{v}.so"
        if not os.path.exists(so):
            env=dict(os.environ); env["XP_TILE"]=v
            subprocess.run(["/work/main/build/bin/attn-compile",base+".mlir","-o",so],check=True,env=env)
    bases[c]=base
res={}
for r in range(rounds):
    for c in sel:
        for t in threads:
            vs=variants[:]; random.shuffle(vs)
            for v in vs:
                out=subprocess.run(["chrt","-f","10","/work/main/build/bin/attn-run",f"{bases[c]}.t{v}.so","--inputs",bases[c]+".in.npz","--bench","6","--threads",str(t)],capture_output=True,text=True,check=True).stdout
                mn=float(re.search(r"min_us:\s*([0-9.]+)",out).group(1)); md=float(re.search(r"median_us:\s*([0-9.]+)",out).group(1))
                res.setdefault((c,t,v),[]).append((mn,md))
for c in sel:
    for t in threads:
        base=res[(c,t,variants[0])]
        line=f"B{c[0]} Hkv{c[1]} {c[3]} T{t}: "
        for v in variants:
            x=res[(c,t,v)]
            ratios=[b[1]/y[1] for b,y in zip(base,x)]
            line+=f" t{v}: min {min(a for a,_ in x)/1000:.2f} med {statistics.median(m for _,m in x)/1000:.2f} ms (x{statistics.median(ratios):.3f} [{min(ratios):.2f}-{max(ratios):.2f}])"
        print(line, flush=True)
