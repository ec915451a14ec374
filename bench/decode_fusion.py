#!/usr/bin/env python3
"""Decode-step time against context length, with and without decode fusion.

One decoder (python/attn_mlir_models/tiny_decoder.py with head_dim 64: d_model
256, 4 heads x 64, 2 layers, MHA, so that at long contexts the KV cache, 2 KiB
per token and layer, outweighs the 3 MiB of weights per layer) is timed, side
by side in one run, for every context length T (cached tokens before the step):

- unfused: `attn-compile --no-fuse-decode --dim past=T`, the classic step:
  concat(past, new) copies the whole cache into present_* (T + 1 positions) on
  every step, then attention reads it;
- fused: one `attn-compile --max-seq M` library (M > the largest T) with the
  caches as inout buffers, run at cache_position = T: it appends one position
  in place and attends over [0, T];
- onnxruntime (CPUExecutionProvider) on the same ONNX file with past = T: the
  reference, which does the concat too.

attn is timed with `attn-run --bench N` (median_us), onnxruntime with the
median of N session.run calls. The three logits are compared in the same run.
Prints a markdown table and appends it to bench/RESULTS.md with date, machine
and command.

  bench/decode_fusion.py [--quick] [--lengths 256,1024,...] [--bin-dir build/bin]
"""

import argparse
import datetime
import os
import re
import shutil
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import append_results, run, tool  # noqa: E402
from cpu_decode import machine  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", default="256,1024,2048,4096,8192,16384",
                   help="context lengths T (comma separated)")
    p.add_argument("--quick", action="store_true", help="T = 256, 1024, 4096; fewer runs")
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--threads", type=int, default=0,
                   help="threads of attn-run and onnxruntime (default 0: all CPUs)")
    p.add_argument("--runs", type=int, help="timed runs per point (default: ~1 s of work, 5..50)")
    p.add_argument("--bin-dir", help="where attn-compile and attn-run are (default build/bin)")
    p.add_argument("--workdir", help="keep the .onnx/.so/.npz files here")
    p.add_argument("--results", default=os.path.join(REPO, "bench", "RESULTS.md"))
    p.add_argument("--no-append", action="store_true", help="print only")
    args = p.parse_args()
    if args.quick:
        args.lengths = "256,1024,4096"
    args.lengths = sorted(int(t) for t in args.lengths.split(","))
    return args


def bench_us(stdout):
    """(median_us, min_us) of `attn-run --bench`."""
    get = lambda key: float(re.search(key + r":\s*([0-9.eE+-]+)", stdout).group(1))  # noqa: E731
    return get("median_us"), get("min_us")


def main():
    args = parse_args()
    from attn_mlir_models.tiny_decoder import DecoderConfig, build_tiny_decoder, step_inputs
    import onnx
    import onnxruntime as ort

    load = os.getloadavg()[0]
    compile_, attn_run = tool(args, "attn-compile"), tool(args, "attn-run")
    max_t = args.lengths[-1]
    capacity = max_t + 1
    cfg = DecoderConfig(d_model=args.d_model, n_layer=args.layers, n_head=args.heads,
                        n_kv_head=args.heads, n_positions=capacity + 1)
    hd, L, H = cfg.head_dim, cfg.n_layer, cfg.n_kv_head
    workdir = args.workdir or tempfile.mkdtemp(prefix="attn-decode-fusion-")
    os.makedirs(workdir, exist_ok=True)
    w = lambda name: os.path.join(workdir, name)  # noqa: E731
    onnx.save(build_tiny_decoder(cfg), w("decoder.onnx"))
    weight_bytes = os.path.getsize(w("decoder.onnx"))
    threads = ["--threads", str(args.threads)] if args.threads else []
    opts = ort.SessionOptions()
    if args.threads:
        opts.intra_op_num_threads = args.threads
    session = ort.InferenceSession(w("decoder.onnx"), opts, providers=["CPUExecutionProvider"])
    shape = ["--input-shape", "input_ids=1x1", "--input-shape", "position_ids=1x1"]

    start = time.time()
    run([compile_, w("decoder.onnx"), "-o", w("fused.so"), "--max-seq", str(capacity),
         "--report", w("fused.json")] + shape)
    fused_compile_s = time.time() - start
    print(f"decoder: d_model {cfg.d_model}, {H} heads x {hd}, {L} layers, MHA; fused library "
          f"with a {capacity}-position cache compiled in {fused_compile_s:.1f} s", flush=True)

    rows = []
    for t in args.lengths:
        feeds = step_inputs(cfg, t, seed=t)
        kv_bytes = 2 * L * H * t * hd * 4  # the K and V caches read by one step
        # ~2 s of work per point at ~2 GB/s (0.3 s with --quick), 5..60 runs.
        budget = 0.3 if args.quick else 2.0
        runs = args.runs or int(np.clip(budget * 2e9 / (3 * kv_bytes + 4 * weight_bytes), 5, 60))

        # Unfused: a library per T.
        np.savez(w("step.npz"), **feeds)
        run([compile_, w("decoder.onnx"), "-o", w("unfused.so"), "--no-fuse-decode",
             "--dim", f"past={t}"] + shape)
        run([attn_run, w("unfused.so"), "--inputs", w("step.npz"), "--outputs",
             w("unfused.out.npz")] + threads)
        unfused_us, unfused_min = bench_us(run([attn_run, w("unfused.so"), "--inputs", w("step.npz"),
                                    "--bench", str(runs)] + threads))
        unfused_logits = np.load(w("unfused.out.npz"))["logits"]

        # Fused: the one library, caches holding T positions, cache_position T.
        fused = {"input_ids": feeds["input_ids"], "position_ids": feeds["position_ids"],
                 "cache_position": np.array(t, np.int64)}
        for name in feeds:
            if name.startswith("past_"):
                cache = np.zeros((1, H, capacity, hd), np.float32)
                cache[:, :, :t] = feeds[name]
                fused[name] = cache
        np.savez(w("fused.npz"), **fused)
        del fused
        run([attn_run, w("fused.so"), "--inputs", w("fused.npz"), "--outputs",
             w("fused.out.npz")] + threads)
        fused_us, fused_min = bench_us(run([attn_run, w("fused.so"), "--inputs", w("fused.npz"),
                                  "--bench", str(runs)] + threads))
        fused_logits = np.load(w("fused.out.npz"))["logits"]
        os.remove(w("fused.npz"))

        # onnxruntime: the same ONNX file at past = T.
        for _ in range(2):
            ort_logits = session.run(["logits"], feeds)[0]
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            session.run(["logits"], feeds)
            times.append(time.perf_counter() - t0)
        ort_us, ort_min = float(np.median(times)) * 1e6, float(np.min(times)) * 1e6

        copied = 2 * L * H * (t + 1) * hd * 4  # present_* written by the concat
        appended = 2 * L * H * hd * 4
        row = dict(t=t, kv_mib=kv_bytes / 2**20, runs=runs, unfused=unfused_us, fused=fused_us,
                   ort=ort_us, unfused_min=unfused_min, fused_min=fused_min, ort_min=ort_min,
                   copied=copied, appended=appended,
                   diff_unfused=float(np.abs(unfused_logits - ort_logits).max()),
                   diff_fused=float(np.abs(fused_logits - ort_logits).max()))
        rows.append(row)
        print(table([row]).splitlines()[-1], flush=True)
    if not args.workdir:
        shutil.rmtree(workdir)

    command = "bench/decode_fusion.py " + " ".join(sys.argv[1:])
    first, last = rows[0], rows[-1]
    span = (last["t"] - first["t"]) / 1000
    slopes = {k: (last[k] - first[k]) / span
              for k in ("unfused", "fused", "ort", "unfused_min", "fused_min", "ort_min")}
    report = (
        f"## Decode fusion: step time against context length, d_model {cfg.d_model}, "
        f"{H} heads x {hd}, {L} layers, MHA, f32, B=1\n\n"
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}\n"
        f"- machine: {machine()}; load average {load:.1f} at start (other jobs share the "
        f"CPUs when it is above 0)\n"
        f"- command: `{command.strip()}`\n"
        f"- model: `python/attn_mlir_models/tiny_decoder.py` (d_model {cfg.d_model}, "
        f"{cfg.n_layer} layers, {H} heads, vocab {cfg.vocab}, {cfg.n_positions} positions; "
        f"ONNX file {weight_bytes / 2**20:.0f} MiB)\n"
        f"- unfused: `attn-compile --no-fuse-decode --dim past=T`, one library per T; fused: one "
        f"`attn-compile --max-seq {capacity}` library run at `cache_position` = T; both timed "
        f"with `attn-run --bench N` (median_us, "
        f"{'threads ' + str(args.threads) if args.threads else 'all threads'}), "
        f"onnxruntime {ort.__version__} CPUExecutionProvider on the same ONNX file at past = T "
        f"(median of the same N runs, "
        f"{'threads ' + str(args.threads) if args.threads else 'default threads'})\n"
        f"- copied/step: bytes of present_* that concat(past, new) writes (the whole cache "
        f"again); fused appends {appended} bytes in place; KV MiB: the K and V caches one "
        f"step reads\n"
        f"- growth from T={first['t']} to T={last['t']}, us per 1000 more cached tokens "
        f"(median; min in brackets): unfused {slopes['unfused']:.0f} ({slopes['unfused_min']:.0f}), "
        f"fused {slopes['fused']:.0f} ({slopes['fused_min']:.0f}), onnxruntime "
        f"{slopes['ort']:.0f} ({slopes['ort_min']:.0f})\n"
        f"- us columns: median of N runs, min in brackets (the min is the better estimate "
        f"while other jobs share the CPUs)\n\n" + table(rows) + "\n")
    print("\n" + report)
    append_results(report, args)


def table(rows):
    lines = ["| T | KV MiB | runs | unfused us | fused us | onnxruntime us | unfused / fused | "
             "ORT / fused | copied/step (unfused) | appended/step (fused) | max diff unfused | "
             "max diff fused |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(
            f"| {r['t']} | {r['kv_mib']:.1f} | {r['runs']} | {r['unfused']:.0f} ({r['unfused_min']:.0f}) "
            f"| {r['fused']:.0f} ({r['fused_min']:.0f}) | {r['ort']:.0f} ({r['ort_min']:.0f}) "
            f"| {r['unfused'] / r['fused']:.2f}x | {r['ort'] / r['fused']:.2f}x "
            f"| {r['copied'] / 2**20:.1f} MiB | {r['appended'] / 1024:.0f} KiB "
            f"| {r['diff_unfused']:.1e} | {r['diff_fused']:.1e} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
