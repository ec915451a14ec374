// C model (branch cpu-decode-bf16dot2): build with clang-22 -O2 -march=znver4; see bench/RESULTS.md.
// Micro-kernel: rows-across score block, 12 keys x 32 query rows (2 zmm), D=128, bf16 keys.
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#define NK 12
#define D 128
static uint16_t K[NK * D] __attribute__((aligned(64)));
static float QT[D][32] __attribute__((aligned(64)));       // f32 Q^T rows (baseline)
static __m512bh QP[D / 2][2];                               // bf16 pairs (d, d+1) per row
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
__attribute__((noinline)) void base(__m512 *out) {
  __m512 acc[NK][2];
  for (int k = 0; k < NK; ++k) acc[k][0] = acc[k][1] = _mm512_setzero_ps();
  const __m512i mask = _mm512_set1_epi32(0xffff0000);
  for (int d = 0; d < D; d += 2) {
    __m512 q0 = _mm512_load_ps(QT[d]), q1 = _mm512_load_ps(QT[d] + 16);
    __m512 q2 = _mm512_load_ps(QT[d + 1]), q3 = _mm512_load_ps(QT[d + 1] + 16);
#pragma GCC unroll 12
    for (int k = 0; k < NK; ++k) {
      __m512i w = _mm512_set1_epi32(*(const int32_t *)&K[k * D + d]);
      __m512 lo = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
      __m512 hi = _mm512_castsi512_ps(_mm512_and_si512(w, mask));
      acc[k][0] = _mm512_fmadd_ps(lo, q0, acc[k][0]);
      acc[k][1] = _mm512_fmadd_ps(lo, q1, acc[k][1]);
      acc[k][0] = _mm512_fmadd_ps(hi, q2, acc[k][0]);
      acc[k][1] = _mm512_fmadd_ps(hi, q3, acc[k][1]);
    }
  }
  for (int k = 0; k < NK; ++k) { out[2 * k] = acc[k][0]; out[2 * k + 1] = acc[k][1]; }
}
__attribute__((noinline)) void dot(__m512 *out) {
  __m512 acc[NK][2];
  for (int k = 0; k < NK; ++k) acc[k][0] = acc[k][1] = _mm512_setzero_ps();
  for (int d = 0; d < D; d += 2) {
    __m512bh q0 = QP[d / 2][0], q1 = QP[d / 2][1];
#pragma GCC unroll 12
    for (int k = 0; k < NK; ++k) {
      __m512bh w = (__m512bh)_mm512_set1_epi32(*(const int32_t *)&K[k * D + d]);
      acc[k][0] = _mm512_dpbf16_ps(acc[k][0], w, q0);
      acc[k][1] = _mm512_dpbf16_ps(acc[k][1], w, q1);
    }
  }
  for (int k = 0; k < NK; ++k) { out[2 * k] = acc[k][0]; out[2 * k + 1] = acc[k][1]; }
}
int main(void) {
  for (int i = 0; i < NK * D; ++i) K[i] = 0x3f80 + (i % 7);
  for (int d = 0; d < D; ++d) for (int r = 0; r < 32; ++r) QT[d][r] = 0.001f * (d + r);
  for (int p = 0; p < D / 2; ++p) for (int j = 0; j < 2; ++j) {
    // Lane r holds the bf16 pair (Q[r][2p], Q[r][2p+1]): rounded to nearest even.
    uint16_t t[32];
    for (int r = 0; r < 16; ++r) for (int h = 0; h < 2; ++h) {
      float f = QT[2 * p + h][16 * j + r]; uint32_t u; __builtin_memcpy(&u, &f, 4);
      t[2 * r + h] = (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16); }
    __builtin_memcpy(&QP[p][j], t, 64); }
  __m512 out[2 * NK], ref[2 * NK]; const long N = 400000; float sink = 0;
  base(ref); dot(out); float err = 0, mag = 0;
  for (int i = 0; i < 2 * NK; ++i) for (int l = 0; l < 16; ++l) { float x = ref[i][l] - out[i][l]; if (x < 0) x = -x; if (x > err) err = x; if (ref[i][l] > mag) mag = ref[i][l]; }
  printf("scores: max |base - dot| %.3g (max score %.3g)\n", err, mag);
  for (int rep = 0; rep < 3; ++rep) {
    double t0 = now(); for (long i = 0; i < N; ++i) { base(out); sink += out[0][0]; }
    double t1 = now(); for (long i = 0; i < N; ++i) { dot(out); sink += out[0][0]; }
    double t2 = now();
    double madds = (double)N * NK * D * 32;
    printf("base %.1f GMAC/s  dpbf16 %.1f GMAC/s  ratio %.2f\n", madds / (t1 - t0) / 1e9, madds / (t2 - t1) / 1e9, (t1 - t0) / (t2 - t1));
  }
  return sink == 12345;
}
