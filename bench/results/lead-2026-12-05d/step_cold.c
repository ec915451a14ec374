// A decode-step library run in a bare loop (no attn-run; lead, 2026-12-05): inputs
// zero except the positions (BASE + step), caches random; prints the median step
// time. With a one-layer decode library (DECODE.so, cold_decode.c's d.mlir) it runs
// that library once after each step on its own caches and prints its median time:
// what the step's attention region meets (its code, constants and data cold after
// the step's weight stream). Switches (environment):
//   SECOND    time a second run right after the first (code and data warm)
//   CODEWARM  before the timed run, one run on other caches at position 1 (the
//             code, constants and stack warm, the caches' data cold)
//   PFCODE    before the timed run, prefetcht1 every line of DECODE.so's executable
//             mapping (PFWAIT: then wait 2 us); DECODE.so must be given by the path
//             that /proc/self/maps shows (absolute)
//   PFDATA    before the timed run, prefetcht1 over the used rows of its caches
//             (PFDATA_EXCL: the burst not timed)
//   cc -O2 step_cold.c -I include -L build/lib -lAttnRuntime -Wl,-rpath,$PWD/build/lib -o step_cold
//   chrt -f 10 ./step_cold STEP.so STEPS [BASE [DECODE.so]]
#define _GNU_SOURCE
#include "attn-c/Runtime.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
  AttnModel *m = attnModelLoad(argv[1]);
  if (!m) return fprintf(stderr, "%s\n", attnGetLastError()), 1;
  attnSetNumThreads(1);
  int steps = atoi(argv[2]);
  int nIn = attnModelGetNumInputs(m), nIo = attnModelGetNumInouts(m), nOut = attnModelGetNumOutputs(m);
  void *in[16], *io[128], *out[8];
  int posIdx[16], nPos = 0;
  AttnTensorInfo info;
  for (int i = 0; i < nIn; i++) {
    attnModelGetInputInfo(m, i, &info);
    in[i] = calloc(1, info.num_bytes + 64);
    if (strstr(info.name, "position")) posIdx[nPos++] = i;
  }
  for (int i = 0; i < nIo; i++) {
    attnModelGetInoutInfo(m, i, &info);
    float *p = aligned_alloc(64, (info.num_bytes + 63) / 64 * 64);
    float cs = getenv("CACHESCALE") ? atof(getenv("CACHESCALE")) : 1;
    for (size_t j = 0; j < info.num_bytes / 4; j++) p[j] = cs * ((float)rand() / RAND_MAX - 0.5f);
    io[i] = p;
  }
  for (int i = 0; i < nOut; i++) attnModelGetOutputInfo(m, i, &info), out[i] = calloc(1, info.num_bytes + 64);
  double *t = malloc(sizeof(double) * steps);
  // optional: a one-layer decode library (argv[4]) run after each step, on its own caches
  AttnModel *d = argc > 4 ? attnModelLoad(argv[4]) : NULL;
  void *din[8], *dio[8], *dio2[8], *dout[4];
  int dpos = -1;
  for (int i = 0; d && i < attnModelGetNumInputs(d); i++) {
    attnModelGetInputInfo(d, i, &info);
    float *p = aligned_alloc(64, (info.num_bytes + 63) / 64 * 64);
    for (size_t j = 0; j < info.num_bytes / 4; j++) p[j] = (float)rand() / RAND_MAX - 0.5f;
    din[i] = p;
    if (!strcmp(info.name, "position")) dpos = i;
  }
  for (int i = 0; d && i < attnModelGetNumInouts(d); i++) {
    attnModelGetInoutInfo(d, i, &info);
    float *p = aligned_alloc(64, (info.num_bytes + 63) / 64 * 64);
    for (size_t j = 0; j < info.num_bytes / 4; j++) p[j] = (float)rand() / RAND_MAX - 0.5f;
    dio[i] = p;
    dio2[i] = calloc(1, info.num_bytes + 64);
  }
  if (d) attnModelGetOutputInfo(d, 0, &info), dout[0] = calloc(1, info.num_bytes + 64);
  double *td = malloc(sizeof(double) * steps);
  for (int s = 0; s < steps; s++) {
    for (int k = 0; k < nPos; k++) *(long long *)in[posIdx[k]] = (argc > 3 ? atoi(argv[3]) : 512) + s;
    double t0 = now();
    if (attnModelRunInPlace(m, (const void *const *)in, io, out, NULL)) return fprintf(stderr, "%s\n", attnGetLastError()), 1;
    t[s] = now() - t0;
    if (d) {
      *(long long *)din[dpos] = (argc > 3 ? atoi(argv[3]) : 512) + s % 200;
      if (getenv("CODEWARM")) {
        // the same library on other, tiny caches: code, constants, stack warm
        long long keep = *(long long *)din[dpos];
        *(long long *)din[dpos] = 1;
        attnModelRunInPlace(d, (const void *const *)din, dio2, dout, NULL);
        *(long long *)din[dpos] = keep;
      }
      if (getenv("PFCODE")) {
        // prefetch (into L2) every line of DECODE.so's executable mapping
        static char *lo, *hi;
        if (!lo) {
          FILE *f = fopen("/proc/self/maps", "r");
          char line[512];
          while (fgets(line, sizeof line, f))
            if (strstr(line, argv[4]) && strstr(line, "r-xp")) {
              unsigned long a, b;
              sscanf(line, "%lx-%lx", &a, &b);
              lo = (char *)a, hi = (char *)b;
            }
          fclose(f);
          fprintf(stderr, "code %p-%p (%ld KB)\n", lo, hi, (long)(hi - lo) / 1024);
        }
        for (char *c = lo; c < hi; c += 64) __builtin_prefetch(c, 0, 2);
        if (getenv("PFWAIT")) { double w = now(); while (now() - w < 2e-6) ; }
      }
      double tp = now();
      if (getenv("PFDATA")) {
        // the caches' used rows into L2 first (a burst), timed with the run
        for (int i = 0; i < attnModelGetNumInouts(d); i++) {
          attnModelGetInoutInfo(d, i, &info);
          size_t rows = info.shape[2], used = (size_t)*(long long *)din[dpos] + 1, rowBytes = info.num_bytes / info.shape[1] / rows;
          for (int64_t hh = 0; hh < info.shape[1]; hh++)
            for (size_t b = 0; b < used * rowBytes; b += 64)
              __builtin_prefetch((char *)dio[i] + hh * rows * rowBytes + b, 0, 2);
        }
      }
      double t1 = getenv("PFDATA_EXCL") ? now() : tp;
      attnModelRunInPlace(d, (const void *const *)din, dio, dout, NULL);
      td[s] = now() - t1;
      if (getenv("SECOND")) {
        double t2 = now();
        attnModelRunInPlace(d, (const void *const *)din, dio, dout, NULL);
        td[s] = now() - t2;
      }
    }
  }
  qsort(t, steps, sizeof(double), cmp);
  printf("median step %.2f ms\n", t[steps / 2] * 1e3);
  if (d) { qsort(td, steps, sizeof(double), cmp); printf("decode after each step: median %.1f us\n", td[steps / 2] * 1e6); }
  return 0;
}
