#!/usr/bin/env python3
"""Thread-pool overhead of a decode step: fork/join and barrier cost of the
runtime's parallel regions (libAttnRuntime.so), per region and per step.

A compiled decode step is a chain of parallel regions (one per parallel
loop: every matrix-vector product, the attention, the norms...); each is a
`__kmpc_fork_call` whose microtask ends with the implicit barrier of its
worksharing loop, then the join. With T threads every region pays a wake-up
of the workers, a barrier and a join; with 1 thread the region runs on the
caller (no pool). This script measures that cost directly, without a model:
a small C program loads libAttnRuntime.so, and calls `__kmpc_fork_call`
with a microtask that does only what the generated code does around its
loop (`__kmpc_for_static_init_8` / `_fini` over a split of `--work-ns` of
busy work per region, then `__kmpc_barrier`), REGIONS times per "step"
(REGIONS = 271 is the SmolLM2-135M step: 1 + 30 layers x 9 regions, see
bench/cpu_decoder.py's parallel_regions), with `--gap-us` of serial work on
the caller between steps (the workers spin for 50 us, then yield until 2
ms, then sleep: a gap decides which of these the next step's first fork
finds).

Reported per (threads, gap): the median wall time of a step, the same for
the work alone (no regions: the caller does the regions' work itself), and
the difference per region = the overhead of one parallel region (fork +
barrier + join). The last column repeats the measurement with microtasks
that skip the barrier: what marking the region's only loop `nowait` would
save (the join waits for every thread anyway). The overhead of a decode step is that times the step's
regions. Appends a markdown table to bench/RESULTS.md (--no-append: print
only).

  bench/cpu_decode_pool.py [--threads 1,2] [--regions 271] [--steps 200]
"""

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile

from benchlib import append_results, lscpu

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

POOL_C = r"""
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef void (*Micro)(int32_t *, int32_t *, ...);
static void (*fork_call)(void *, int32_t, Micro, ...);
static void (*static_init)(void *, int32_t, int32_t, int32_t *, int64_t *,
                           int64_t *, int64_t *, int64_t, int64_t);
static void (*static_fini)(void *, int32_t);
static void (*barrier)(void *, int32_t);
static void (*set_threads)(int32_t);

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Busy work of about `units` x 1 ns that the compiler cannot drop. */
static volatile double sink;
static void work(long units) {
  double x = 1.0;
  for (long i = 0; i < units; ++i) x = x * 0.999999 + 1e-9;
  sink = x;
}

static long unitsPerRegion;
static int withBarrier = 1;
/* What a generated parallel region does around its loop: a static split of
   the iteration space [0, 64), its share of the work, the implicit barrier
   of the worksharing loop. */
static void micro(int32_t *gtid, int32_t *btid, void *arg) {
  (void)btid; (void)arg;
  int32_t last = 0;
  int64_t lo = 0, hi = 63, stride = 1;
  static_init(0, *gtid, 34, &last, &lo, &hi, &stride, 1, 1);
  if (hi >= lo) work(unitsPerRegion * (hi - lo + 1) / 64);
  static_fini(0, *gtid);
  if (withBarrier) barrier(0, *gtid);
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: pool LIB THREADS REGIONS STEPS WORK_NS GAP_US NS_PER_UNIT BARRIER\n");
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW);
  if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  fork_call = dlsym(lib, "__kmpc_fork_call");
  static_init = dlsym(lib, "__kmpc_for_static_init_8");
  static_fini = dlsym(lib, "__kmpc_for_static_fini");
  barrier = dlsym(lib, "__kmpc_barrier");
  set_threads = dlsym(lib, "attnSetNumThreads");
  if (!fork_call || !static_init || !static_fini || !barrier || !set_threads) {
    fprintf(stderr, "libAttnRuntime lacks a __kmpc_* entry point\n");
    return 1;
  }
  int threads = atoi(argv[2]), regions = atoi(argv[3]), steps = atoi(argv[4]);
  double workNs = atof(argv[5]), gapUs = atof(argv[6]), nsPerUnit = atof(argv[7]);
  unitsPerRegion = (long)(workNs / nsPerUnit);
  withBarrier = atoi(argv[8]);
  long gapUnits = (long)(gapUs * 1e3 / nsPerUnit);
  set_threads(threads);
  double *pooled = malloc(sizeof(double) * steps);
  double *alone = malloc(sizeof(double) * steps);
  for (int s = -10; s < steps; ++s) {
    work(gapUnits);
    double t0 = now();
    for (int r = 0; r < regions; ++r) fork_call(0, 1, (Micro)micro, (void *)0);
    double t1 = now();
    work(gapUnits);
    double t2 = now();
    for (int r = 0; r < regions; ++r) work(unitsPerRegion / threads);
    double t3 = now();
    if (s >= 0) { pooled[s] = t1 - t0; alone[s] = t3 - t2; }
  }
  qsort(pooled, steps, sizeof(double), cmp);
  qsort(alone, steps, sizeof(double), cmp);
  printf("step_us %.3f\nwork_us %.3f\n", pooled[steps / 2] * 1e6, alone[steps / 2] * 1e6);
  return 0;
}
"""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--regions", type=int, default=271, help="parallel regions per step")
    p.add_argument("--steps", type=int, default=200, help="timed steps (median)")
    p.add_argument("--work-ns", default="0,20000",
                   help="busy work per region (ns, split over the threads), comma-separated")
    p.add_argument("--gaps-us", default="0,100,5000",
                   help="serial work between steps (us), comma-separated")
    p.add_argument("--runtime", help="libAttnRuntime.so (default: build/lib)")
    p.add_argument("--results", default=os.path.join(REPO, "bench", "RESULTS.md"))
    p.add_argument("--no-append", action="store_true", help="print only")
    return p.parse_args()


def ns_per_unit(exe, runtime):
    """Calibrates the busy loop: 1 thread, one region of 10^7 units."""
    out = subprocess.run([exe, runtime, "1", "1", "5", "10000000", "0", "1", "1"], check=True,
                         capture_output=True, text=True).stdout
    return float(re.search(r"work_us (\S+)", out).group(1)) * 1e3 / 1e7


def main():
    args = parse_args()
    runtime = args.runtime or os.path.join(REPO, "build", "lib", "libAttnRuntime.so")
    if not os.path.exists(runtime):
        sys.exit(f"cpu_decode_pool.py: no {runtime}; build AttnRuntime or pass --runtime")
    workdir = tempfile.mkdtemp(prefix="attn-pool-")
    src, exe = os.path.join(workdir, "pool.c"), os.path.join(workdir, "pool")
    with open(src, "w") as f:
        f.write(POOL_C)
    subprocess.run([os.environ.get("CC", "cc"), "-O1", src, "-o", exe, "-ldl"], check=True)
    unit = ns_per_unit(exe, runtime)
    loads = [os.getloadavg()[0]]
    lines = ["| threads | work per region us | gap between steps us | step us (regions) | "
             "step us (work alone) | overhead per region us | overhead per step ms | "
             "overhead per region us, no barrier |",
             "|" + " ---: |" * 8]
    for t in [int(x) for x in args.threads.split(",")]:
        for work in [float(x) for x in args.work_ns.split(",")]:
            for gap in [float(x) for x in args.gaps_us.split(",")]:
                def run(barrier):
                    out = subprocess.run([exe, runtime, str(t), str(args.regions),
                                          str(args.steps), str(work), str(gap), str(unit),
                                          str(barrier)], check=True, capture_output=True,
                                         text=True).stdout
                    return (float(re.search(r"step_us (\S+)", out).group(1)),
                            float(re.search(r"work_us (\S+)", out).group(1)))
                step, alone = run(1)
                per = (step - alone) / args.regions
                step_nb, alone_nb = run(0)
                per_nb = (step_nb - alone_nb) / args.regions
                lines.append(f"| {t} | {work / 1e3:.0f} | {gap:.0f} | {step:.0f} | {alone:.0f} | "
                             f"{per:.2f} | {per * args.regions / 1e3:.3f} | {per_nb:.2f} |")
                print(lines[-1], flush=True)
                loads.append(os.getloadavg()[0])
    info = lscpu()
    report = (
        "## Thread-pool overhead per decode step (libAttnRuntime fork/barrier/join)\n\n"
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}\n"
        f"- machine: {info.get('Model name', '?')}, {info.get('CPU(s)', '?')} CPUs; load "
        f"average {min(loads):.1f}..{max(loads):.1f} during the run\n"
        f"- command: `bench/cpu_decode_pool.py {' '.join(sys.argv[1:])}`\n"
        f"- a step = {args.regions} parallel regions (`__kmpc_fork_call`, static split, "
        "implicit barrier, join), median of "
        f"{args.steps} steps; work alone = the same busy work on the caller without regions; "
        "overhead per region = (step - work alone) / regions\n\n"
        + "\n".join(lines) + "\n")
    print("\n" + report)
    append_results(report, args)


if __name__ == "__main__":
    main()
