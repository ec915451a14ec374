#!/usr/bin/env python3
"""CPU decode against the machine's roofline, measured in the same run.

Roofline: a small C program (compiled here with the host compiler,
-O2 -march=native) measures the read bandwidth over a 1 GiB buffer (sum of
all floats; the best of a plain read and reads with a software prefetch per
cache line 2, 8 or 32 KiB ahead, as the kernels issue them) and the FMA peak (24 independent accumulators of 16-lane FMAs with
AVX-512, 12 of 8 lanes otherwise; the loop is nothing but FMAs on
registers) on 1 and 2 threads, at the start and (by default) again right
before each case. For a decode step the roofline time is
max(bytes of K+V / read bandwidth, 4*B*Hq*S*D FLOPs / FMA peak).

Decode: one attn.decode step (one new row appended at position S-1, then
attention over S keys; the function returns only the output, so the caches
are updated in place: returning them as well would copy both caches per call) with f32 queries, Hq=32, D=128, Hkv = 32, 8, 1,
B = 1 and 8, caches f32/f16/bf16, compiled with attn-compile (its default
target: the host's CPU and features) and timed with `attn-run --bench N
--threads T` for T = 1 and 2. S is chosen so that the f32 K+V is about
--kv-bytes (default 1 GiB, so the cache comes from DRAM), at least
--min-kv keys, with f32 K+V at most --max-bytes.

Two clocks: wall (attn-run's best and median of 3 + N runs against the
roofline's best wall figures) and CPU (attn-run's cpu_us: the process's CPU
time, every thread, over the timed runs, per run, over the threads, against
the roofline's per-thread CPU-time figures (per run the mean over its threads, like cpu_us) times the threads). The CPU clock stays meaningful while other jobs share the cores;
the wall clock does not. Both are printed with the fraction of the roofline.

Prints a markdown table and appends it to bench/RESULTS.md with date,
machine, command and the load average.

  bench/cpu_decode.py [--quick] [--runs 5] [--bin-dir build/bin]
"""

import argparse
import datetime
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import benchlib

HQ, D = 32, 128
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BYTES = {"f32": 4, "f16": 2, "bf16": 2}

ROOFLINE_C = r"""
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { const float *p; size_t n, dist; long iters; double sum, cpu; } Job;

static double seconds(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#ifdef __AVX512F__
typedef __m512 V;
#define LANES 16
#define LOAD _mm512_load_ps
#define ADD _mm512_add_ps
#define FMA _mm512_fmadd_ps
#define SET _mm512_set1_ps
#else
typedef __m256 V;
#define LANES 8
#define LOAD _mm256_load_ps
#define ADD _mm256_add_ps
#define FMA _mm256_fmadd_ps
#define SET _mm256_set1_ps
#endif

static void *readJob(void *arg) {
  Job *j = arg;
  double c0 = seconds(CLOCK_THREAD_CPUTIME_ID);
  V a0 = SET(0), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < j->n; i += 4 * LANES) {
    if (j->dist) /* one software prefetch per cache line, dist floats ahead */
      for (int l = 0; l < 4 * LANES; l += 16)
        _mm_prefetch((const char *)(j->p + i + j->dist + l), _MM_HINT_T1);
    a0 = ADD(a0, LOAD(j->p + i));
    a1 = ADD(a1, LOAD(j->p + i + LANES));
    a2 = ADD(a2, LOAD(j->p + i + 2 * LANES));
    a3 = ADD(a3, LOAD(j->p + i + 3 * LANES));
  }
  float t[LANES];
  memcpy(t, &a0, sizeof t);
  j->sum = t[0];
  a0 = ADD(ADD(a0, a1), ADD(a2, a3));
  memcpy(t, &a0, sizeof t);
  for (int i = 0; i < LANES; ++i) j->sum += t[i];
  j->cpu = seconds(CLOCK_THREAD_CPUTIME_ID) - c0;
  return 0;
}

/* The FMA peak: independent accumulators, each one FMA per iteration,
   named variables (not an array: at -O2 an array of accumulators stayed in
   memory, so every FMA was a load + FMA + store and the "peak" was a third
   of the machine's), enough of them to cover the FMA latency on every FMA
   port (4 cycles x 2 ports = 8 in flight; 24 of the 32 zmm registers, 12 of
   the 16 ymm ones). x < 1 and y > 0 make every chain converge (to y/(1-x)),
   so no value overflows however long it runs. */
#ifdef __AVX512F__
#define FOR_ACC(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) \
  M(12) M(13) M(14) M(15) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23)
#define NACC 24
#else
#define FOR_ACC(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)
#define NACC 12
#endif
#define ACC_INIT(i) V a##i = SET((float)(i));
#define ACC_STEP(i) a##i = FMA(a##i, x, y);
#define ACC_SUM(i) s = ADD(s, a##i);

static void *fmaJob(void *arg) {
  Job *j = arg;
  double c0 = seconds(CLOCK_THREAD_CPUTIME_ID);
  V x = SET(0.999999f), y = SET(1e-6f), s = SET(0);
  FOR_ACC(ACC_INIT)
  for (long it = 0; it < j->iters; ++it) {
    FOR_ACC(ACC_STEP)
  }
  FOR_ACC(ACC_SUM)
  float t[LANES];
  memcpy(t, &s, sizeof t);
  j->sum = 0;
  for (int i = 0; i < LANES; ++i) j->sum += t[i];
  j->cpu = seconds(CLOCK_THREAD_CPUTIME_ID) - c0;
  return 0;
}

/* Best wall seconds of `reps` runs of f on `threads` threads, and the
   best per-thread CPU seconds: per run the mean of the threads' CPU times,
   as attn-run's cpu_us is the process's CPU time over the threads (the
   smallest single thread's time, used before 2026-12-03, counted a thread
   that ran part of its read alone against a kernel's mean over threads). */
static void run(void *(*f)(void *), Job *jobs, int threads, int reps,
                double *wall, double *cpu) {
  *wall = *cpu = 1e30;
  for (int r = 0; r < reps; ++r) {
    pthread_t t[64];
    double s = seconds(CLOCK_MONOTONIC);
    for (int i = 0; i < threads; ++i) pthread_create(&t[i], 0, f, &jobs[i]);
    for (int i = 0; i < threads; ++i) pthread_join(t[i], 0);
    double w = seconds(CLOCK_MONOTONIC) - s;
    if (w < *wall) *wall = w;
    double mean = 0;
    for (int i = 0; i < threads; ++i) mean += jobs[i].cpu / threads;
    if (mean < *cpu) *cpu = mean;
  }
}

int main(int argc, char **argv) {
  size_t bytes = (size_t)atof(argv[1]);
  int threads = atoi(argv[2]), reps = atoi(argv[3]);
  size_t n = bytes / 4;
  float *buf = aligned_alloc(64, bytes);
  for (size_t i = 0; i < n; ++i) buf[i] = 1.0f;
  Job jobs[64];
  size_t per = n / threads / (4 * LANES) * (4 * LANES);
  for (int i = 0; i < threads; ++i) { jobs[i].p = buf + i * per; jobs[i].n = per; jobs[i].dist = 0; }
  /* The read bandwidth is the best of a plain sequential read (the hardware
     prefetcher alone) and reads with a software prefetch per cache line
     2, 8 or 32 KiB ahead, as the decode kernels issue them: on some hosts
     the hardware prefetcher alone reaches only ~3/4 of what a core can
     read. */
  double wall = 1e30, cpu = 1e30;
  size_t dists[] = {0, 2048, 8192, 32768}, best = 0;
  for (int d = 0; d < 4; ++d) {
    double w, c;
    for (int i = 0; i < threads; ++i) jobs[i].dist = dists[d] / sizeof(float);
    run(readJob, jobs, threads, reps, &w, &c);
    if (w < wall) { wall = w; best = dists[d]; }
    if (c < cpu) cpu = c;
  }
  printf("read_wall_gbs %.3f\nread_cpu_gbs_per_thread %.3f\nread_prefetch_bytes %zu\n",
         per * threads * 4.0 / wall / 1e9, per * 4.0 / cpu / 1e9, best);
  long iters = 50000000;
  for (int i = 0; i < threads; ++i) jobs[i].iters = iters;
  run(fmaJob, jobs, threads, reps, &wall, &cpu);
  double flops = 2.0 * LANES * NACC * (double)iters;
  printf("fma_wall_gflops %.3f\nfma_cpu_gflops_per_thread %.3f\nlanes %d\naccumulators %d\n"
         "check %g\n", flops * threads / wall / 1e9, flops / cpu / 1e9, LANES, NACC,
         jobs[0].sum);
  free(buf);
  return 0;
}
"""

MLIR = """func.func @decode(%query: {q} {{attn.name = "query"}}, %key: {new} {{attn.name = "key"}},
    %value: {new} {{attn.name = "value"}}, %position: tensor<i64> {{attn.name = "position"}},
    %key_cache: {cache} {{attn.name = "key_cache"}}, %value_cache: {cache} {{attn.name = "value_cache"}})
    -> ({q} {{attn.name = "out"}}) {{
  %init = tensor.empty() : {q}
  %pos_i64 = tensor.extract %position[] : tensor<i64>
  %pos = arith.index_cast %pos_i64 : i64 to index
  %out, %nk, %nv = attn.decode heads({hq}, {hkv}) scale({scale:.17e})
      ins(%query, %key, %value : {q}, {new}, {new}) position(%pos)
      outs(%init, %key_cache, %value_cache : {q}, {cache}, {cache})
      -> {q}, {cache}, {cache}
  return %out : {q}
}}
"""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kv-heads", default="32,8,1")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--dtypes", default="f32,f16,bf16", help="cache element types")
    p.add_argument("--kv-bytes", type=float, default=2**30, help="target f32 K+V bytes")
    p.add_argument("--max-bytes", type=float, default=2**31, help="largest f32 K+V bytes")
    p.add_argument("--min-kv", type=int, default=16384)
    p.add_argument("--runs", type=int, default=5, help="timed runs per case")
    p.add_argument("--roofline-per-case", action=argparse.BooleanOptionalAction, default=True,
                   help="measure the roofline again (best of 3) right before each case")
    p.add_argument("--quick", action="store_true",
                   help="256 MiB target, 4096 keys minimum, 3 runs")
    p.add_argument("--bin-dir", help="where attn-compile and attn-run are (default: build/bin)")
    p.add_argument("--baseline-compile", metavar="ATTN_COMPILE",
                   help="A/B: also compile every case with this attn-compile (e.g. another "
                   "build's) and time both .so files with the same attn-run, interleaved "
                   "(new, old, new, old, ...; --ab-rounds rounds), so that both see the "
                   "same load; the table gets the baseline's best and CPU us")
    p.add_argument("--ab-rounds", type=int, default=2)
    p.add_argument("--fifo", type=int, metavar="PRIORITY",
                   help="run the roofline program and every attn-run under `chrt -f PRIORITY` "
                   "(SCHED_FIFO): on a machine that other jobs load, a timed run is then not "
                   "preempted on its core, so it loses only the memory bandwidth they take")
    p.add_argument("--workdir", help="for the .mlir/.so/.npz files (default: a temporary directory)")
    p.add_argument("--results", default=os.path.join(REPO, "bench", "RESULTS.md"))
    p.add_argument("--no-append", action="store_true", help="print only")
    args = p.parse_args()
    if args.quick:
        args.kv_bytes, args.max_bytes, args.min_kv, args.runs = 2**28, 2**29, 4096, 3
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
    info = benchlib.lscpu()
    return (f"{info.get('Model name', '?')}, {info.get('CPU(s)', '?')} CPUs "
            f"({info.get('Core(s) per socket', '?')} cores x "
            f"{info.get('Thread(s) per core', '?')} threads), "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM")


def fifo(args, command):
    """`command` under SCHED_FIFO when --fifo is given."""
    return ["chrt", "-f", str(args.fifo)] + command if args and args.fifo else command


def roofline(workdir, threads_list, reps=5, args=None):
    """{threads: figures} from the C program, 1 GiB buffer, best of `reps`."""
    src = os.path.join(workdir, "roofline.c")
    exe = os.path.join(workdir, "roofline")
    if not os.path.exists(exe):
        with open(src, "w") as f:
            f.write(ROOFLINE_C)
        cc = os.environ.get("CC", "cc")
        subprocess.run([cc, "-O2", "-march=native", "-pthread", src, "-o", exe], check=True)
    result = {}
    for t in threads_list:
        out = subprocess.run(fifo(args, [exe, str(2**30), str(t), str(reps)]), check=True,
                             capture_output=True, text=True).stdout
        result[t] = {k: float(v) for k, v in re.findall(r"^(\w+) (\S+)$", out, re.M)}
    return result


def cache_array(rng, shape, dtype):
    x = rng.standard_normal(shape, np.float32)
    if dtype == "f32":
        return x
    if dtype == "f16":
        return x.astype(np.float16)
    bits = x.view(np.uint32).astype(np.uint64)  # bf16 bits, round to nearest even
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def tensor(shape, element):
    return "tensor<" + "".join(f"{d}x" for d in shape) + element + ">"


def make_case(args, workdir, b, hkv, s, dtype):
    """Writes BASE.mlir and BASE.in.npz, compiles BASE.so (and, for an A/B,
    BASE.baseline.so with --baseline-compile); returns BASE."""
    rng = np.random.default_rng(b * 1000003 + hkv * 101 + s)
    base = os.path.join(workdir, f"decode_b{b}_h{hkv}_s{s}_{dtype}")
    with open(base + ".mlir", "w") as f:
        f.write(MLIR.format(q=tensor((b, HQ, 1, D), "f32"), new=tensor((b, hkv, 1, D), "f32"),
                            cache=tensor((b, hkv, s, D), dtype), hq=HQ, hkv=hkv,
                            scale=1 / np.sqrt(D)))
    inputs = {"query": rng.standard_normal((b, HQ, 1, D), np.float32),
              "key": rng.standard_normal((b, hkv, 1, D), np.float32),
              "value": rng.standard_normal((b, hkv, 1, D), np.float32),
              "position": np.array(s - 1, np.int64)}
    inputs["key_cache"] = cache_array(rng, (b, hkv, s, D), dtype)
    inputs["value_cache"] = cache_array(rng, (b, hkv, s, D), dtype)
    np.savez(base + ".in.npz", **inputs)
    subprocess.run([tool(args, "attn-compile"), base + ".mlir", "-o", base + ".so"], check=True)
    if args.baseline_compile:
        subprocess.run([args.baseline_compile, base + ".mlir", "-o", base + ".baseline.so"],
                       check=True)
    return base


def attn_run(args, base, runs, threads, so=".so"):
    """(min_us, median_us, CPU us per run or None, CPU seconds of the whole
    invocation) of one attn-run --bench invocation."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(fifo(args, [tool(args, "attn-run"), base + so, "--inputs",
                                     base + ".in.npz", "--bench", str(runs), "--threads",
                                     str(threads)]),
                         check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    grab = lambda key: float(re.search(key + r":\s*([0-9.eE+-]+)", out).group(1))
    cpu_us = grab("cpu_us") if "cpu_us:" in out else None
    return grab("min_us"), grab("median_us"), cpu_us, cpu


# attn-run prints `cpu_us`, the process's CPU time (all threads) over the
# timed runs only, per run. An attn-run without it (an older build, e.g.
# for an A/B) is measured by differencing two invocations: `--bench M` runs
# the model 1 + min(M, 3) + M times after loading the inputs, so two
# invocations with M >= 3 differ by exactly the difference of their M. That
# fallback is noisy: at B=8 the two invocations load and page in 1-2 GiB of
# inputs each, whose CPU time varies by more than the few steps they
# differ by, and the difference, clamped at 0, read 0 at B=8 with 2 threads.
BASE_RUNS = 3


def measure(args, base, threads, so=".so"):
    """Wall best/median (us) of --runs runs, and CPU us per step per thread."""
    best, median, cpu_us, cpu_n = attn_run(args, base, BASE_RUNS + args.runs, threads, so)
    if cpu_us is not None:
        return best, median, cpu_us / threads
    cpu_base = min(attn_run(args, base, BASE_RUNS, threads, so)[3] for _ in range(2))
    cpu_step = max(cpu_n - cpu_base, 0.0) / args.runs / threads
    return best, median, cpu_step * 1e6


def table(rows):
    ab = any("old_best" in r for r in rows)
    head = ("| B | Hkv | G | S | cache | threads | K+V MiB | GFLOP | roofline us (bound) | "
            "best us | median us | % roofline (wall) | CPU us | CPU roofline us | "
            "% roofline (CPU) |" + (" baseline best us | baseline CPU us | "
                                    "% roofline (baseline CPU) |" if ab else ""))
    rule = "|" + " ---: |" * (18 if ab else 15)
    lines = [head, rule]
    pct = lambda roof, us: f"{100 * roof / max(us, 1e-9):.0f}%"
    for r in rows:
        lines.append(
            f"| {r['b']} | {r['hkv']} | {HQ // r['hkv']} | {r['s']} | {r['dtype']} | "
            f"{r['threads']} | {r['mib']:.0f} | {r['gflop']:.2f} | {r['roof_us']:.0f} "
            f"({r['bound']}) | {r['best']:.0f} | {r['median']:.0f} | "
            f"{pct(r['roof_us'], r['best'])} | {r['cpu_us']:.0f} | "
            f"{r['cpu_roof_us']:.0f} | {pct(r['cpu_roof_us'], r['cpu_us'])} |"
            + (f" {r['old_best']:.0f} | {r['old_cpu_us']:.0f} | "
               f"{pct(r['cpu_roof_us'], r['old_cpu_us'])} |" if ab else ""))
    return "\n".join(lines)


def main():
    args = parse_args()
    loads = [os.getloadavg()[0]]
    threads_list = [int(t) for t in args.threads.split(",")]
    workdir = args.workdir or tempfile.mkdtemp(prefix="attn-cpu-decode-")
    os.makedirs(workdir, exist_ok=True)
    roof = roofline(workdir, threads_list, args=args)
    for t, f in roof.items():
        print(f"roofline, {t} thread(s): read {f['read_wall_gbs']:.2f} GB/s wall, "
              f"{f['read_cpu_gbs_per_thread']:.2f} GB/s per thread on the CPU clock "
              f"(prefetch {f['read_prefetch_bytes']:.0f} B ahead); FMA "
              f"{f['fma_wall_gflops']:.1f} GFLOP/s wall, {f['fma_cpu_gflops_per_thread']:.1f} "
              f"per thread on the CPU clock ({int(f['lanes'])} lanes, "
              f"{int(f['accumulators'])} accumulators)", flush=True)
    rows = []
    for b in [int(x) for x in args.batches.split(",")]:
        for hkv in [int(x) for x in args.kv_heads.split(",")]:
            per_key = b * hkv * 2 * D * 4
            s = max(args.min_kv, int(args.kv_bytes // per_key))
            while s > 1024 and s * per_key > args.max_bytes:
                s //= 2
            for dtype in args.dtypes.split(","):
                base = make_case(args, workdir, b, hkv, s, dtype)
                kv_bytes = b * hkv * s * D * 2 * BYTES[dtype]
                flops = 4.0 * b * HQ * s * D
                for t in threads_list:
                    # The roofline again right before the case, so that both
                    # see the same share of a machine that others may load.
                    f = roofline(workdir, [t], reps=3, args=args)[t] if args.roofline_per_case else roof[t]
                    mem_us = kv_bytes / (f["read_wall_gbs"] * 1e3)
                    fma_us = flops / (f["fma_wall_gflops"] * 1e3)
                    cpu_mem = kv_bytes / (f["read_cpu_gbs_per_thread"] * t * 1e3)
                    cpu_fma = flops / (f["fma_cpu_gflops_per_thread"] * t * 1e3)
                    row = dict(b=b, hkv=hkv, s=s, dtype=dtype, threads=t,
                               mib=kv_bytes / 2**20, gflop=flops / 1e9,
                               roof_us=max(mem_us, fma_us),
                               bound="memory" if mem_us >= fma_us else "FMA",
                               cpu_roof_us=max(cpu_mem, cpu_fma))
                    # Best over the rounds of each; an A/B alternates them.
                    for _ in range(args.ab_rounds if args.baseline_compile else 1):
                        best, median, cpu_us = measure(args, base, t)
                        if best < row.get("best", 1e30):
                            row.update(best=best, median=median)
                        row["cpu_us"] = min(cpu_us, row.get("cpu_us", 1e30))
                        if args.baseline_compile:
                            old_best, _, old_cpu = measure(args, base, t, ".baseline.so")
                            row["old_best"] = min(old_best, row.get("old_best", 1e30))
                            row["old_cpu_us"] = min(old_cpu, row.get("old_cpu_us", 1e30))
                    rows.append(row)
                    print(table(rows[-1:]).splitlines()[-1], flush=True)
                    loads.append(os.getloadavg()[0])
                for ext in (".in.npz", ".so", ".baseline.so", ".mlir"):
                    if os.path.exists(base + ext):
                        os.remove(base + ext)
    if not args.workdir:
        shutil.rmtree(workdir)

    command = "bench/cpu_decode.py " + " ".join(sys.argv[1:])
    roof_lines = "".join(
        f"- roofline, {t} thread(s): read {f['read_wall_gbs']:.2f} GB/s, FMA "
        f"{f['fma_wall_gflops']:.1f} GFLOP/s (wall, best of 5); per thread on the CPU clock "
        f"{f['read_cpu_gbs_per_thread']:.2f} GB/s, {f['fma_cpu_gflops_per_thread']:.1f} "
        f"GFLOP/s ({int(f['lanes'])}-lane FMA, {int(f['accumulators'])} accumulators)\n"
        for t, f in roof.items())
    report = (
        f"## CPU decode against the roofline: Sq=1, Hq={HQ}, D={D}, f32 queries\n\n"
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}\n"
        f"- machine: {machine()}; load average {min(loads):.1f}..{max(loads):.1f} during "
        f"the run (other jobs shared the CPUs when it is above 0)"
        + (f"; roofline and attn-run under SCHED_FIFO {args.fifo}" if args.fifo else "")
        + "\n"
        f"- command: `{command.strip()}`\n"
        f"- decode: one attn.decode step (append at S-1, attend S keys), "
        f"`attn-run --bench {BASE_RUNS + args.runs} --threads T`: best and median wall time; "
        f"CPU us = the process's CPU time per timed step (attn-run's cpu_us, all threads) "
        f"over the threads\n"
        + roof_lines +
        f"- roofline us = max(K+V bytes / read bandwidth, 4*B*Hq*S*D / FMA peak) for the "
        f"same threads"
        + (", measured again (best of 3) right before each case" if args.roofline_per_case
           else ", from the figures above")
        + "; % = roofline / measured (wall: against best)\n\n"
        + table(rows) + "\n")
    print("\n" + report)
    benchlib.append_results(report, args)


if __name__ == "__main__":
    main()
