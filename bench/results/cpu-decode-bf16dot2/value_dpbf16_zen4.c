// C model (branch cpu-decode-bf16dot2): build with clang-22 -O2 -march=znver4; see bench/RESULTS.md.
// Value phase model, rows across: Acc^T[dv][32 rows] += V[k][dv] * P[k][rows], tile of 32 keys,
// Dv 128, bf16 V. base: broadcast one 32-bit word (dv, dv+1) of a V row, widen by shift/mask,
// 4 f32 FMAs; dot: interleave key pairs of the tile into a stack tile (vpermt2w), round P to bf16
// pairs (vcvtne2ps2bf16), then vdpbf16ps on broadcast (V[k][dv], V[k+1][dv]) words.
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#define TK 32
#define DV 128
#define NB 12 /* dv elements per register block: 12 x 2 accumulators */
static uint16_t V[TK * DV] __attribute__((aligned(64)));
static float P[TK][32] __attribute__((aligned(64)));
static uint32_t VI[TK / 2][DV] __attribute__((aligned(64))); // interleaved pairs
static float ACC[DV][32] __attribute__((aligned(64)));
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
__attribute__((noinline)) void base(void) {
  const __m512i mask = _mm512_set1_epi32(0xffff0000);
  for (int b = 0; b + NB <= DV + 4; b += NB) {
    int nb = b + NB <= DV ? NB : DV - b; if (nb <= 0) break;
    __m512 acc[NB][2];
    for (int j = 0; j < NB; ++j) { acc[j][0] = _mm512_load_ps(ACC[b + (j < nb ? j : 0)]); acc[j][1] = _mm512_load_ps(ACC[b + (j < nb ? j : 0)] + 16); }
    for (int k = 0; k < TK; ++k) {
      __m512 p0 = _mm512_load_ps(P[k]), p1 = _mm512_load_ps(P[k] + 16);
#pragma GCC unroll 6
      for (int j = 0; j < NB; j += 2) {
        __m512i w = _mm512_set1_epi32(*(const int32_t *)&V[k * DV + b + j]);
        __m512 lo = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
        __m512 hi = _mm512_castsi512_ps(_mm512_and_si512(w, mask));
        acc[j][0] = _mm512_fmadd_ps(lo, p0, acc[j][0]); acc[j][1] = _mm512_fmadd_ps(lo, p1, acc[j][1]);
        acc[j+1][0] = _mm512_fmadd_ps(hi, p0, acc[j+1][0]); acc[j+1][1] = _mm512_fmadd_ps(hi, p1, acc[j+1][1]);
      }
    }
    for (int j = 0; j < nb; ++j) { _mm512_store_ps(ACC[b + j], acc[j][0]); _mm512_store_ps(ACC[b + j] + 16, acc[j][1]); }
  }
}
__attribute__((noinline)) void dot(void) {
  // Interleave: VI[kp][dv] = V[2kp][dv] | V[2kp+1][dv] << 16, 32 words per two vpermt2w.
  const __m512i ilo = _mm512_set_epi16(47,15,46,14,45,13,44,12,43,11,42,10,41,9,40,8,39,7,38,6,37,5,36,4,35,3,34,2,33,1,32,0);
  const __m512i ihi = _mm512_add_epi16(ilo, _mm512_set1_epi16(16));
  for (int kp = 0; kp < TK / 2; ++kp)
    for (int d = 0; d < DV; d += 32) {
      __m512i a = _mm512_loadu_si512(&V[(2 * kp) * DV + d]), c = _mm512_loadu_si512(&V[(2 * kp + 1) * DV + d]);
      _mm512_store_si512(&VI[kp][d], _mm512_permutex2var_epi16(a, ilo, c));
      _mm512_store_si512(&VI[kp][d + 16], _mm512_permutex2var_epi16(a, ihi, c));
    }
  __m512bh PP[TK / 2][2];
  for (int kp = 0; kp < TK / 2; ++kp) for (int h = 0; h < 2; ++h)
    PP[kp][h] = (__m512bh)_mm512_permutex2var_epi16(
        _mm512_castsi256_si512((__m256i)_mm512_cvtneps_pbh(_mm512_load_ps(P[2 * kp] + 16 * h))), ilo,
        _mm512_castsi256_si512((__m256i)_mm512_cvtneps_pbh(_mm512_load_ps(P[2 * kp + 1] + 16 * h))));
  for (int b = 0; b < DV; b += NB) {
    int nb = b + NB <= DV ? NB : DV - b;
    __m512 acc[NB][2];
    for (int j = 0; j < NB; ++j) { acc[j][0] = _mm512_load_ps(ACC[b + (j < nb ? j : 0)]); acc[j][1] = _mm512_load_ps(ACC[b + (j < nb ? j : 0)] + 16); }
    for (int kp = 0; kp < TK / 2; ++kp) {
      __m512bh p0 = PP[kp][0], p1 = PP[kp][1];
#pragma GCC unroll 12
      for (int j = 0; j < NB; ++j) {
        __m512bh w = (__m512bh)_mm512_set1_epi32(VI[kp][b + (j < nb ? j : 0)]);
        acc[j][0] = _mm512_dpbf16_ps(acc[j][0], w, p0); acc[j][1] = _mm512_dpbf16_ps(acc[j][1], w, p1);
      }
    }
    for (int j = 0; j < nb; ++j) { _mm512_store_ps(ACC[b + j], acc[j][0]); _mm512_store_ps(ACC[b + j] + 16, acc[j][1]); }
  }
}
int main(void) {
  for (int i = 0; i < TK * DV; ++i) V[i] = 0x3f80 + (i % 5);
  for (int k = 0; k < TK; ++k) for (int r = 0; r < 32; ++r) P[k][r] = 0.01f * (k + r);
  const long N = 100000; float sink = 0;
  static float R[DV][32]; base(); for (int i = 0; i < DV; ++i) for (int r = 0; r < 32; ++r) R[i][r] = ACC[i][r];
  for (int i = 0; i < DV; ++i) for (int r = 0; r < 32; ++r) ACC[i][r] = 0; dot(); float err = 0, mag = 0;
  for (int i = 0; i < DV; ++i) for (int r = 0; r < 32; ++r) { float x = R[i][r] - ACC[i][r]; if (x < 0) x = -x; if (x > err) err = x; if (R[i][r] > mag) mag = R[i][r]; }
  printf("values: max |base - dot| %.3g (max %.3g)\n", err, mag);
  for (int rep = 0; rep < 3; ++rep) {
    double t0 = now(); for (long i = 0; i < N; ++i) { base(); sink += ACC[0][0]; }
    double t1 = now(); for (long i = 0; i < N; ++i) { dot(); sink += ACC[0][0]; }
    double t2 = now(); double madds = (double)N * TK * DV * 32;
    printf("values: base %.1f GMAC/s  dpbf16(+interleave) %.1f GMAC/s  ratio %.2f\n", madds / (t1 - t0) / 1e9, madds / (t2 - t1) / 1e9, (t1 - t0) / (t2 - t1));
  }
  return sink == 12345;
}
