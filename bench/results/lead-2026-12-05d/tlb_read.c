// 786 KB (one layer's K and V at context 512) read warm, right after clflushopt, and
// after a 256 MB stream, on 4 KiB pages or (HUGE=1) in a 2 MB page; then after a burst of prefetcht1 over it
// (timed) and after the same burst and a 40 us wait (lead, 2026-12-05).
//   cc -O2 -march=x86-64-v4 -mclflushopt tlb_read.c -o tlb_read && chrt -f 10 ./tlb_read
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/mman.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static float sink;
static double readAll(float *p, size_t n) {
  double t = now();
  __m512 a = _mm512_setzero_ps();
  for (size_t i = 0; i < n; i += 16) a = _mm512_add_ps(a, _mm512_load_ps(p + i));
  sink += _mm512_reduce_add_ps(a);
  return (now() - t) * 1e6;
}
int main(void) {
  size_t n = 786432 / 4, big = 64u << 20;
  float *p = aligned_alloc(2u << 20, 2u << 20), *q = aligned_alloc(64, big * 4);
  madvise(p, 2u << 20, getenv("HUGE") ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  for (size_t i = 0; i < n; i++) p[i] = 1;
  for (size_t i = 0; i < big; i++) q[i] = 1;
  for (int r = 0; r < 3; r++) {
    double warm = readAll(p, n);
    for (size_t i = 0; i < n; i += 16) _mm_clflushopt(p + i);
    _mm_mfence();
    double flushed = readAll(p, n);
    readAll(q, big);  // 256 MB streamed
    double streamed = readAll(p, n);
    readAll(q, big);
    double tp = now();
    for (size_t i = 0; i < n; i += 16) _mm_prefetch((const char *)(p + i), _MM_HINT_T1);
    double burst = (now() - tp) * 1e6;
    double afterPf = readAll(p, n);
    readAll(q, big);
    tp = now();
    for (size_t i = 0; i < n; i += 16) _mm_prefetch((const char *)(p + i), _MM_HINT_T1);
    double burst2 = (now() - tp) * 1e6;
    { double w = now(); while (now() - w < 40e-6) ; }
    double afterPfWait = readAll(p, n);
    printf("  prefetch burst %.1f us then read %.1f us; burst %.1f us, 40 us wait, read %.1f us\n", burst, afterPf, burst2, afterPfWait);
    printf("786 KB read: warm %.1f us, after clflushopt %.1f us, after a 256 MB stream %.1f us\n", warm, flushed, streamed);
  }
  return sink == 12345;
}
