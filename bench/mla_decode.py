#!/usr/bin/env python3
"""CPU decode step of a multi-head latent attention (DeepSeek-V3-style)
decoder: attn-compile's absorbed form against onnxruntime running the
exported graph (which up-projects the whole latent cache every step).

The model is tools/export/export_mla_decoder.py's graph at bench sizes
(BENCH below: 16 heads, kv_lora_rank 128, rope 32, nope 64, v 64, hidden
512, 2 layers), batch 1, one new token, past length T in --contexts. For
each T it compiles the step twice: `attn-compile --dim past=T --no-fuse-decode`
(absorbed: attention heads(16, 1) over [latent, rope]; the step copies
concat(past, new) of the latent caches) and `attn-compile --max-seq T+1`
(fused: a latent attn.decode appending into the latent and rotary caches
in place, fed the past as the front of a T+1 cache and cache_position T),
checks the outputs against onnxruntime (max abs logit error), and times
all three (median of --runs steps, the same thread count). Prints a markdown
table with the per-token growth of each (least-squares slope, us per 1000
cached tokens) and appends it to bench/RESULTS.md with date, machine, load
and command.

  bench/mla_decode.py [--contexts 512,1024,...,16384] [--threads 2]
                      [--runs 20] [--bin-dir build/bin] [--no-append]
"""

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools", "export"))
import export_mla_decoder as mla  # noqa: E402
from benchlib import append_results  # noqa: E402

BENCH = dict(vocab=1024, hidden=512, heads=16, q_lora_rank=192,
             kv_lora_rank=128, qk_nope_head_dim=64, qk_rope_head_dim=32,
             v_head_dim=64, intermediate=1024, layers=2, rope_theta=10000.0,
             eps=1e-6)


def tool(bin_dir, name):
    for d in filter(None, [bin_dir, os.path.join(REPO, "build", "bin")]):
        path = os.path.join(d, name)
        if os.access(path, os.X_OK):
            return path
    path = shutil.which(name)
    if not path:
        sys.exit(f"mla_decode.py: cannot find {name} (build it or pass --bin-dir)")
    return path


def machine():
    name = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} CPUs"


def slope_per_1000(ts, us):
    a = np.polyfit(np.asarray(ts, float), np.asarray(us, float), 1)
    return a[0] * 1000.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--contexts", default="512,1024,2048,4096,8192,16384")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--bin-dir")
    ap.add_argument("--workdir")
    ap.add_argument("--results", default=os.path.join(REPO, "bench", "RESULTS.md"))
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    import onnxruntime as ort

    compile_bin = tool(args.bin_dir, "attn-compile")
    run_bin = tool(args.bin_dir, "attn-run")
    work = args.workdir or tempfile.mkdtemp(prefix="mla_decode_")
    os.makedirs(work, exist_ok=True)
    model = mla.build(BENCH)
    path = os.path.join(work, "model.onnx")
    onnx.save(model, path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    load_before = os.getloadavg()

    rows = []
    for t in [int(x) for x in args.contexts.split(",")]:
        feeds = mla.step_inputs(BENCH, past=t)
        ins = os.path.join(work, f"in{t}.npz")
        np.savez(ins, **feeds)
        so = os.path.join(work, f"step{t}.so")
        report = os.path.join(work, f"report{t}.json")
        subprocess.run([compile_bin, path, "--no-fuse-decode", "--dim",
                        f"past={t}", "--report", report, "-o", so], check=True)
        outs = os.path.join(work, f"out{t}.npz")

        def timed(lib, inputs, outputs):
            p = subprocess.run([run_bin, lib, "--inputs", inputs, "--outputs",
                                outputs, "--threads", str(args.threads),
                                "--bench", str(args.runs)], check=True,
                               capture_output=True, text=True)
            return float([line for line in p.stdout.splitlines()
                          if line.startswith("median_us:")][-1].split()[1])

        ours = timed(so, ins, outs)
        want = sess.run(["logits"], feeds)[0]
        err = float(np.abs(np.load(outs)["logits"] - want).max())
        # Fused: the past is the front of a T + 1 cache, appended at T.
        fused_so = os.path.join(work, f"fused{t}.so")
        subprocess.run([compile_bin, path, "--max-seq", str(t + 1), "-o",
                        fused_so], check=True)
        fused_feeds = dict(feeds)
        for name, value in feeds.items():
            if name.startswith("past_"):
                pad = [(0, 0)] * value.ndim
                pad[-2] = (0, 1)
                fused_feeds[name] = np.pad(value, pad)
        fused_feeds["cache_position"] = np.array(t, dtype=np.int64)
        fused_ins = os.path.join(work, f"fused-in{t}.npz")
        np.savez(fused_ins, **fused_feeds)
        fused_outs = os.path.join(work, f"fused-out{t}.npz")
        fused = timed(fused_so, fused_ins, fused_outs)
        err = max(err, float(np.abs(np.load(fused_outs)["logits"] - want).max()))
        times = []
        for _ in range(max(3, args.runs // 2)):
            start = time.perf_counter()
            sess.run(None, feeds)
            times.append((time.perf_counter() - start) * 1e6)
        theirs = float(np.median(times))
        rows.append((t, ours, fused, theirs, err))
        print(f"T={t}: compiled {ours:.0f} us, fused {fused:.0f} us, "
              f"onnxruntime {theirs:.0f} us, max abs logit err {err:.2g}",
              flush=True)

    ts = [r[0] for r in rows]
    ours_slope = slope_per_1000(ts, [r[1] for r in rows])
    fused_slope = slope_per_1000(ts, [r[2] for r in rows])
    ort_slope = slope_per_1000(ts, [r[3] for r in rows])
    c = BENCH
    latent_bytes = c["layers"] * (c["kv_lora_rank"] + c["qk_rope_head_dim"]) * 4
    lines = [
        f"## MLA decode step, CPU ({datetime.date.today().isoformat()})",
        "",
        f"- Machine: {machine()}; load average before {load_before[0]:.1f}, "
        f"after {os.getloadavg()[0]:.1f} (shared machine: other builds were "
        "running).",
        f"- Command: `python3 bench/mla_decode.py --contexts {args.contexts} "
        f"--threads {args.threads} --runs {args.runs}`",
        f"- Model: export_mla_decoder.py graph, {c['layers']} layers, "
        f"{c['heads']} heads, kv_lora_rank {c['kv_lora_rank']}, rope "
        f"{c['qk_rope_head_dim']}, nope {c['qk_nope_head_dim']}, v "
        f"{c['v_head_dim']}, hidden {c['hidden']}, f32, batch 1, one token; "
        f"latent cache {latent_bytes} B/token. Compiled: absorbed "
        "(heads(16, 1) over [latent, rope]), not decode-fused (the step "
        "copies concat(past, new)); fused: `--max-seq T+1`, a latent "
        "attn.decode appending into both caches in place. onnxruntime "
        f"{ort.__version__}: the exported graph (re-projects the cache every "
        f"step). {args.threads} threads each; median of {args.runs} "
        "(compiled) / "
        f"{max(3, args.runs // 2)} (onnxruntime) steps.",
        "",
        "| past T | compiled (us) | fused (us) | onnxruntime (us) | "
        "fused speed-up | max abs logit err |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t, ours, fused, theirs, err in rows:
        lines.append(f"| {t} | {ours:.0f} | {fused:.0f} | {theirs:.0f} | "
                     f"{theirs / fused:.1f}x | {err:.1g} |")
    lines += ["",
              f"Per-token growth (least-squares slope): compiled "
              f"{ours_slope:.1f}, fused {fused_slope:.1f}, onnxruntime "
              f"{ort_slope:.1f} us per 1000 cached tokens.", ""]
    text = "\n".join(lines)
    print(text)
    append_results(text, args)


if __name__ == "__main__":
    main()
