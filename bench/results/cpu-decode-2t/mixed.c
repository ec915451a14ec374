// bench/results/cpu-decode-2t: the "mixed roofline" of RESULTS "CPU decode on 2 threads".
// cc -O2 -march=native -pthread mixed.c -o mixed; ./mixed BYTES THREADS REPS FMAS_PER_LINE [PREFETCH_BYTES [SWAP]]
// Mixed roofline: each thread streams its part of a buffer (one 64-byte zmm load per line,
// software prefetch DIST bytes ahead) and issues F FMAs per line on 24 register accumulators.
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
typedef struct { const float *p; size_t n; long dist; int f; double cpu, wall; float sum; } Job;
static double sec(clockid_t id) { struct timespec t; clock_gettime(id, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
#define FOR_ACC(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) \
  M(12) M(13) M(14) M(15) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23)
#define INIT(i) __m512 a##i = _mm512_set1_ps((float)i);
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, x, y);
#define SUM(i) s = _mm512_add_ps(s, a##i);
static void *job(void *arg) {
  Job *j = arg;
  double c0 = sec(CLOCK_THREAD_CPUTIME_ID), w0 = sec(CLOCK_MONOTONIC);
  __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-6f), s = _mm512_setzero_ps(), r = s, r2 = s;
  FOR_ACC(INIT)
  // F FMAs per line as blocks of 24 (f = 24, 48, 72 ...) or 8 (f multiple of 8)
  int blocks24 = j->f / 24, rest8 = (j->f % 24) / 8;
  for (size_t i = 0; i < j->n; i += 32) { // two lines per iteration
    _mm_prefetch((const char *)(j->p + i) + j->dist, _MM_HINT_T0);
    _mm_prefetch((const char *)(j->p + i) + j->dist + 64, _MM_HINT_T0);
    r = _mm512_add_ps(r, _mm512_load_ps(j->p + i));
    r2 = _mm512_add_ps(r2, _mm512_load_ps(j->p + i + 16));
    for (int b = 0; b < 2 * blocks24; ++b) { FOR_ACC(STEP) }
    for (int b = 0; b < 2 * rest8; ++b) { STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7) }
  }
  FOR_ACC(SUM)
  s = _mm512_add_ps(s, _mm512_add_ps(r, r2));
  j->sum = _mm512_reduce_add_ps(s);
  j->cpu = sec(CLOCK_THREAD_CPUTIME_ID) - c0; j->wall = sec(CLOCK_MONOTONIC) - w0;
  return 0;
}
int main(int argc, char **argv) {
  size_t bytes = (size_t)atof(argv[1]); int threads = atoi(argv[2]), reps = atoi(argv[3]), f = atoi(argv[4]);
  long dist = argc > 5 ? atol(argv[5]) : 2048; int swap = argc > 6 ? atoi(argv[6]) : 0;
  size_t n = bytes / 4; float *buf = aligned_alloc(64, bytes);
  for (size_t i = 0; i < n; ++i) buf[i] = 1.0f;
  Job jobs[64]; size_t per = n / threads / 32 * 32;
  double bestCpu = 1e30, bestWall = 1e30;
  for (int r = 0; r < reps; ++r) {
    pthread_t t[64]; double w0 = sec(CLOCK_MONOTONIC);
    for (int i = 0; i < threads; ++i) { jobs[i] = (Job){buf + (swap ? threads - 1 - i : i) * per, per, dist, f}; pthread_create(&t[i], 0, job, &jobs[i]); }
    for (int i = 0; i < threads; ++i) pthread_join(t[i], 0);
    double w = sec(CLOCK_MONOTONIC) - w0, c = 0;
    for (int i = 0; i < threads; ++i) c += jobs[i].cpu / threads;
    if (c < bestCpu) bestCpu = c; if (w < bestWall) bestWall = w;
    if (getenv("PER_THREAD")) { for (int i = 0; i < threads; ++i) printf(" t%d %.1f", i, jobs[i].wall * 1e3); printf("\n"); }
  }
  double flops = 32.0 * f * (per / 16.0) * threads; // f FMAs (32 flops) per 16-float line
  printf("threads %d fma/line %d dist %ld: cpu/thread %.1f ms -> %.1f GFLOP/s/thread, %.2f GB/s/thread (CPU clock); wall %.1f ms\n",
         threads, f, dist, bestCpu * 1e3, flops / threads / bestCpu / 1e9, per * 4.0 / bestCpu / 1e9, bestWall * 1e3);
  return 0;
}
