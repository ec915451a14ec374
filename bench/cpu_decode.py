#!/usr/bin/env python3
"""CPU decode benchmark: attn.attention with one query row against memcpy and onnxruntime.

For Sq=1, Hq=32, D=128, f32, B=1, KV lengths 4096..--max-kv (powers of two)
and Hkv = 32, 8, 1 it compiles the op with attn-compile, times it with
`attn-run --bench N` (median_us), and reports the achieved KV-read bandwidth
(bytes of K + V / median time). In the same run it measures the copy
bandwidth of this machine (NumPy copies of a 1 GiB buffer: one thread, and
one Python thread per CPU on disjoint chunks; NumPy releases the GIL, so that
is memcpy on all threads; counted STREAM-style as read + write bytes) and
runs the same shapes through onnxruntime's CPU provider (ONNX Attention,
opset 23, which takes the KV heads as they are) as the peer. Prints a
markdown table and appends it to bench/RESULTS.md with date, machine and
command.

  bench/cpu_decode.py [--quick] [--max-kv 131072] [--bin-dir build/bin]
"""

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HQ, D, B = 32, 128, 1
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-kv", type=int, default=131072)
    p.add_argument("--min-kv", type=int, default=4096)
    p.add_argument("--kv-heads", default="32,8,1")
    p.add_argument("--quick", action="store_true", help="KV 4096..16384, fewer runs")
    p.add_argument("--runs", type=int, help="timed runs per shape (default: ~1 s of work, 3..50)")
    p.add_argument("--bin-dir", help="where attn-compile and attn-run are (default: build/bin, else PATH)")
    p.add_argument("--workdir", help="for the .mlir/.so/.npz files (default: a temporary directory)")
    p.add_argument("--no-ort", action="store_true", help="skip onnxruntime")
    p.add_argument("--results", default=os.path.join(REPO, "bench", "RESULTS.md"))
    p.add_argument("--no-append", action="store_true", help="print only")
    args = p.parse_args()
    if args.quick:
        args.max_kv = min(args.max_kv, 16384)
    return args


def tool(args, name):
    for directory in filter(None, [args.bin_dir, os.path.join(REPO, "build", "bin")]):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    path = shutil.which(name)
    if not path:
        sys.exit(f"cpu_decode.py: cannot find {name}; pass --bin-dir")
    return path


def machine():
    info = dict(re.findall(r"^([^:\n]+):\s*(.*)$", subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout, re.M))
    return (f"{info.get('Model name', '?')}, {info.get('CPU(s)', '?')} CPUs "
            f"({info.get('Socket(s)', '?')} socket x {info.get('Core(s) per socket', '?')} cores x "
            f"{info.get('Thread(s) per core', '?')} threads), "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM")


def copy_bandwidth(threads, nbytes=1 << 30, reps=5):
    """Best GB/s (read + write bytes) of copying nbytes with `threads` threads."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.zeros_like(src)
    chunks = np.array_split(np.arange(src.size), threads)
    bounds = [(c[0], c[-1] + 1) for c in chunks]

    def copy(lo, hi):
        np.copyto(dst[lo:hi], src[lo:hi])

    best = float("inf")
    for _ in range(reps):
        workers = [threading.Thread(target=copy, args=b) for b in bounds]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = min(best, time.perf_counter() - start)
    return 2 * nbytes / best / 1e9


MLIR = """func.func @decode(%q: tensor<{b}x{hq}x1x{d}xf32> {{attn.name = "q"}},
    %k: tensor<{b}x{hkv}x{s}x{d}xf32> {{attn.name = "k"}},
    %v: tensor<{b}x{hkv}x{s}x{d}xf32> {{attn.name = "v"}})
    -> (tensor<{b}x{hq}x1x{d}xf32> {{attn.name = "out"}}) {{
  %init = tensor.empty() : tensor<{b}x{hq}x1x{d}xf32>
  %out = attn.attention heads({hq}, {hkv}) scale({scale:.17e})
      ins(%q, %k, %v : tensor<{b}x{hq}x1x{d}xf32>, tensor<{b}x{hkv}x{s}x{d}xf32>,
                       tensor<{b}x{hkv}x{s}x{d}xf32>)
      outs(%init : tensor<{b}x{hq}x1x{d}xf32>) -> tensor<{b}x{hq}x1x{d}xf32>
  return %out : tensor<{b}x{hq}x1x{d}xf32>
}}
"""


def ort_session(hkv, s):
    import onnxruntime as ort
    from onnx import TensorProto, helper
    info = lambda name, shape: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
    node = helper.make_node("Attention", ["q", "k", "v"], ["out"], scale=1 / np.sqrt(D))
    graph = helper.make_graph([node], "decode",
                              [info("q", [B, HQ, 1, D]), info("k", [B, hkv, s, D]),
                               info("v", [B, hkv, s, D])], [info("out", [B, HQ, 1, D])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def time_ort(session, feeds, runs):
    for _ in range(min(runs, 3)):
        out = session.run(None, feeds)[0]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6, out


def bench_shape(args, workdir, hkv, s, runs, peak):
    """One table row: attn-run and (optionally) onnxruntime on the same inputs."""
    rng = np.random.default_rng(hkv * 1000003 + s)
    feeds = {"q": rng.standard_normal((B, HQ, 1, D), np.float32),
             "k": rng.standard_normal((B, hkv, s, D), np.float32),
             "v": rng.standard_normal((B, hkv, s, D), np.float32)}
    kv_bytes = feeds["k"].nbytes + feeds["v"].nbytes
    base = os.path.join(workdir, f"decode_h{hkv}_s{s}")
    with open(base + ".mlir", "w") as f:
        f.write(MLIR.format(b=B, hq=HQ, hkv=hkv, s=s, d=D, scale=1 / np.sqrt(D)))
    np.savez(base + ".in.npz", **feeds)
    subprocess.run([tool(args, "attn-compile"), base + ".mlir", "-o", base + ".so"], check=True)
    run = subprocess.run([tool(args, "attn-run"), base + ".so", "--inputs", base + ".in.npz",
                          "--outputs", base + ".out.npz", "--bench", str(runs)],
                         check=True, capture_output=True, text=True)
    os.remove(base + ".in.npz")
    attn_us = float(re.search(r"median_us:\s*([0-9.eE+-]+)", run.stdout).group(1))
    row = {"hkv": hkv, "s": s, "mib": kv_bytes / 2**20, "runs": runs, "attn_us": attn_us,
           "attn_gbs": kv_bytes / attn_us / 1e3}
    row["pct"] = 100 * row["attn_gbs"] / peak
    if not args.no_ort:
        ort_us, ort_out = time_ort(ort_session(hkv, s), feeds, runs)
        ours = np.load(base + ".out.npz")["out"]
        row.update(ort_us=ort_us, ort_gbs=kv_bytes / ort_us / 1e3,
                   diff=float(np.abs(ours - ort_out).max()))
    os.remove(base + ".out.npz")
    return row


def table(rows, with_ort):
    head = "| Hkv | KV len | K+V MiB | runs | attn us | attn GB/s | % of memcpy |"
    rule = "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    if with_ort:
        head += " ORT us | ORT GB/s | attn speedup | max abs diff |"
        rule += " ---: | ---: | ---: | ---: |"
    lines = [head, rule]
    for r in rows:
        line = (f"| {r['hkv']} | {r['s']} | {r['mib']:.0f} | {r['runs']} | {r['attn_us']:.0f} | "
                f"{r['attn_gbs']:.2f} | {r['pct']:.0f}% |")
        if with_ort:
            line += (f" {r['ort_us']:.0f} | {r['ort_gbs']:.2f} | {r['ort_us'] / r['attn_us']:.2f}x"
                     f" | {r['diff']:.1e} |")
        lines.append(line)
    return "\n".join(lines)


def main():
    args = parse_args()
    load = os.getloadavg()[0]
    cpus = os.cpu_count()
    copy1, copy_all = copy_bandwidth(1), copy_bandwidth(cpus)
    peak = copy_all
    print(f"memcpy (NumPy copy of 1 GiB, read+write bytes): {copy1:.2f} GB/s on 1 thread, "
          f"{copy_all:.2f} GB/s on {cpus} threads", flush=True)
    lengths = [1 << e for e in range(args.min_kv.bit_length() - 1, args.max_kv.bit_length())
               if args.min_kv <= 1 << e <= args.max_kv]
    workdir = args.workdir or tempfile.mkdtemp(prefix="attn-cpu-decode-")
    os.makedirs(workdir, exist_ok=True)
    rows = []
    for hkv in [int(h) for h in args.kv_heads.split(",")]:
        for s in lengths:
            kv_bytes = 2 * B * hkv * s * D * 4
            # About 1 s of work at copy speed (0.3 s with --quick), 3..50 runs.
            budget = 0.3 if args.quick else 1.0
            runs = args.runs or int(np.clip(budget * peak * 1e9 / kv_bytes, 3, 50))
            rows.append(bench_shape(args, workdir, hkv, s, runs, peak))
            print(table(rows[-1:], not args.no_ort).splitlines()[-1], flush=True)
    if not args.workdir:
        shutil.rmtree(workdir)

    command = "bench/cpu_decode.py " + " ".join(sys.argv[1:])
    report = (f"## CPU decode: Sq=1, Hq={HQ}, D={D}, f32, B={B}\n\n"
              f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}\n"
              f"- machine: {machine()}; load average {load:.1f} at start "
              f"(other jobs share the CPUs when it is above 0)\n"
              f"- command: `{command.strip()}`\n"
              f"- attn: `attn-run --bench N` median, {cpus} threads (runtime default); "
              f"GB/s = bytes of K+V / median time\n"
              f"- memcpy: NumPy copy of 1 GiB, best of 5, read+write bytes: "
              f"{copy1:.2f} GB/s (1 thread), {copy_all:.2f} GB/s ({cpus} threads; "
              f"'% of memcpy' uses this)\n"
              + ("" if args.no_ort else
                 "- peer: onnxruntime "
                 + __import__("onnxruntime").__version__
                 + " CPUExecutionProvider, ONNX Attention opset 23 (GQA/MQA native), "
                   "default threads, median of the same N runs\n")
              + "\n" + table(rows, not args.no_ort) + "\n")
    print("\n" + report)
    if not args.no_append:
        with open(args.results, "a") as f:
            f.write("\n" + report)


if __name__ == "__main__":
    main()
