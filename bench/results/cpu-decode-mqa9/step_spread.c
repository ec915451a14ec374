// Step-to-step spread of the MQA score micro-kernel's C model (branch
// cpu-decode-intel's mqa_score_kernel.c v0: 2 x 12 accumulators, Q^T and a
// 36-key tile in L1) against a register-only FMA loop, in chunks about as
// long as one decode step at S 4096 (~0.5 ms): prints the best, median and
// worst chunk in G FMA/s (512-bit). If the C model's median chunk is as far
// below its best as the kernel's median step is below its best step, the
// spread is the machine's, not the kernel's. The model again with the
// kernel's spread-prefetch slot arithmetic per step (L2 prefetches of a
// 16 MiB buffer). Branch cpu-decode-mqa9.
//   clang -O2 -march=sapphirerapids step_spread.c -o s && chrt -f 10 ./s
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}
#define D 128
#define TK 36
float qt[D][32] __attribute__((aligned(64)));
float kt[TK][D] __attribute__((aligned(64)));
float sc[TK][32] __attribute__((aligned(64)));
__attribute__((noinline)) static void tileScores(void) {
  for (int k0 = 0; k0 < TK; k0 += 12) {
    __m512 a[12][2];
    for (int k = 0; k < 12; k++)
      a[k][0] = a[k][1] = _mm512_setzero_ps();
    for (int d = 0; d < D; d++) {
      __m512 q0 = _mm512_load_ps(&qt[d][0]), q1 = _mm512_load_ps(&qt[d][16]);
#pragma unroll
      for (int k = 0; k < 12; k++) {
        __m512 b = _mm512_set1_ps(kt[k0 + k][d]);
        a[k][0] = _mm512_fmadd_ps(b, q0, a[k][0]);
        a[k][1] = _mm512_fmadd_ps(b, q1, a[k][1]);
      }
    }
    for (int k = 0; k < 12; k++) {
      _mm512_store_ps(&sc[k0 + k][0], a[k][0]);
      _mm512_store_ps(&sc[k0 + k][16], a[k][1]);
    }
  }
}
// tileScores plus the kernel's spread-prefetch slot per head-dimension step
// (f32 keys: 288 lines of the next tile over 384 slots: a divide by a
// constant, a compare, a branch, a clamp and a prefetcht1), as emitted.
float big[1 << 22];
long spanFirst = 0, spanLast = (1 << 22) - 1;
__attribute__((noinline)) static void tileScoresPrefetch(void) {
  long slots = 3 * 128, lines = 288;
  for (int k0 = 0; k0 < TK; k0 += 12) {
    __m512 a[12][2];
    for (int k = 0; k < 12; k++)
      a[k][0] = a[k][1] = _mm512_setzero_ps();
    long slot0 = (k0 / 12) * 128;
    for (int d = 0; d < D; d++) {
      long x = (slot0 + d) * lines;
      if (x % slots < lines) {
        long at = spanFirst + (x / slots) * 16;
        if (at > spanLast)
          at = spanLast;
        _mm_prefetch((const char *)&big[at], _MM_HINT_T1);
      }
      __m512 q0 = _mm512_load_ps(&qt[d][0]), q1 = _mm512_load_ps(&qt[d][16]);
#pragma unroll
      for (int k = 0; k < 12; k++) {
        __m512 b = _mm512_set1_ps(kt[k0 + k][d]);
        a[k][0] = _mm512_fmadd_ps(b, q0, a[k][0]);
        a[k][1] = _mm512_fmadd_ps(b, q1, a[k][1]);
      }
    }
    for (int k = 0; k < 12; k++) {
      _mm512_store_ps(&sc[k0 + k][0], a[k][0]);
      _mm512_store_ps(&sc[k0 + k][16], a[k][1]);
    }
    spanFirst = (spanFirst + 4608) & ((1 << 21) - 1);
  }
}
__attribute__((noinline)) static void registerFmas(long n) {
  __m512 a[24];
  for (int i = 0; i < 24; i++)
    a[i] = _mm512_set1_ps(i);
  __m512 x = _mm512_set1_ps(1.0001f), y = _mm512_set1_ps(0.9999f);
  for (long i = 0; i < n; i++)
#pragma unroll
    for (int j = 0; j < 24; j++)
      a[j] = _mm512_fmadd_ps(a[j], x, y);
  float s = 0;
  for (int i = 0; i < 24; i++)
    s += a[i][0];
  if (s == 1234.5f)
    printf("x");
}
static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static void report(const char *name, double *rate, int n) {
  qsort(rate, n, sizeof(double), cmp);
  printf("%-22s best %.2f median %.2f worst %.2f G FMA/s (%d chunks)\n", name,
         rate[n - 1], rate[n / 2], rate[0], n);
}
int main(void) {
  for (int d = 0; d < D; d++)
    for (int r = 0; r < 32; r++)
      qt[d][r] = 0.01f * (d + r);
  for (int k = 0; k < TK; k++)
    for (int d = 0; d < D; d++)
      kt[k][d] = 0.001f * (k - d);
  enum { kChunks = 400, kCalls = 200 };
  static double model[kChunks], peak[kChunks], withPrefetch[kChunks];
  double fmas = (double)TK * D * 2 * kCalls;
  for (int c = 0; c < kChunks; c++) {
    double t = now();
    for (int j = 0; j < kCalls; j++) {
      tileScores();
      __asm__ volatile("" ::: "memory");
    }
    model[c] = fmas / (now() - t) / 1e9;
    t = now();
    for (int j = 0; j < kCalls; j++) {
      tileScoresPrefetch();
      __asm__ volatile("" ::: "memory");
    }
    withPrefetch[c] = fmas / (now() - t) / 1e9;
    t = now();
    registerFmas((long)(fmas / 24));
    peak[c] = fmas / (now() - t) / 1e9;
  }
  report("register-only FMAs", peak, kChunks);
  report("C model (L1 tiles)", model, kChunks);
  report("C model + prefetch slot", withPrefetch, kChunks);
  if (sc[1][1] == 1234.5f)
    printf("x");
  return 0;
}
