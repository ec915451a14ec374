// GQA-4 score block on an f16 key cache (4 keys x 4 query rows, D 128, the fold of
// fold4.c in lead-2026-12-05c) with the keys widened two ways (lead, 2026-12-05):
// - cvt: vcvtph2ps, one per 16 keys' elements (what the kernel emits);
// - int: one 64-byte load of 32 f16 as 16 words, even halves (w << 16) and odd halves
//   (w) shifted right arithmetically by 3 and masked with 0x8fffe000: the bits of
//   k * 2^-112 as f32 (exact for every finite f16, subnormals included; inf and NaN
//   come out finite), the queries split even/odd to match and the folded scores
//   scaled by 2^112. The question: do integer ops on Zen 4 take the widening off the
//   pipes the FMAs and the fold's shuffles share?
//   gcc -O3 -march=x86-64-v4 int_widen.c -o int_widen && chrt -f 10 ./int_widen
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}
#define KEYS 128
#define D 128
__attribute__((aligned(64))) uint16_t kh[KEYS * D];
__attribute__((aligned(64))) float q[4 * D];
__attribute__((aligned(64))) float scores[KEYS * 4];
#define SH(a, b, i) _mm512_shuffle_ps(a, b, i)
static inline __m512 lvl1(__m512 a, __m512 b) { return _mm512_add_ps(SH(a, b, 0x88), SH(a, b, 0xdd)); }
static inline __m512 lvl3(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xdd));
}
static inline __m512 fold16(__m512 *s) {
  __m512 a[8], b[4], c[2];
  for (int i = 0; i < 8; i++) a[i] = lvl1(s[2 * i], s[2 * i + 1]);
  for (int i = 0; i < 4; i++) b[i] = lvl1(a[2 * i], a[2 * i + 1]);
  for (int i = 0; i < 2; i++) c[i] = lvl3(b[2 * i], b[2 * i + 1]);
  return lvl3(c[0], c[1]);
}
static inline __m512 widenEven(__m512i w) {
  __m512i x = _mm512_srai_epi32(_mm512_slli_epi32(w, 16), 3);
  return _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32(0x8fffe000)));
}
static inline __m512 widenOdd(__m512i w) {
  __m512i x = _mm512_srai_epi32(w, 3);
  return _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32(0x8fffe000)));
}
#define FMA4(k, j, q0, q1, q2, q3)                          \
  acc[j * 4 + 0] = _mm512_fmadd_ps(k, q0, acc[j * 4 + 0]);  \
  acc[j * 4 + 1] = _mm512_fmadd_ps(k, q1, acc[j * 4 + 1]);  \
  acc[j * 4 + 2] = _mm512_fmadd_ps(k, q2, acc[j * 4 + 2]);  \
  acc[j * 4 + 3] = _mm512_fmadd_ps(k, q3, acc[j * 4 + 3]);
__attribute__((noinline)) void runCvt(int reps) {
  for (int r = 0; r < reps; r++)
    for (int k = 0; k < KEYS; k += 4) {
      __m512 acc[16];
      for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
      _Pragma("GCC unroll 8") for (int c = 0; c < D; c += 16) {
        __m512 q0 = _mm512_load_ps(q + c), q1 = _mm512_load_ps(q + D + c),
               q2 = _mm512_load_ps(q + 2 * D + c), q3 = _mm512_load_ps(q + 3 * D + c);
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
          __m512 kv = _mm512_cvtph_ps(_mm256_load_si256((__m256i *)(kh + (k + j) * D + c)));
          FMA4(kv, j, q0, q1, q2, q3)
        }
      }
      _mm512_store_ps(scores + k * 4, fold16(acc));
    }
}
// q here holds each 32-element block's even elements, then its odd ones.
__attribute__((noinline)) void runInt(int reps) {
  for (int r = 0; r < reps; r++)
    for (int k = 0; k < KEYS; k += 4) {
      __m512 acc[16];
      for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
      _Pragma("GCC unroll 4") for (int c = 0; c < D; c += 32) {
        __m512 e0 = _mm512_load_ps(q + c), e1 = _mm512_load_ps(q + D + c),
               e2 = _mm512_load_ps(q + 2 * D + c), e3 = _mm512_load_ps(q + 3 * D + c);
        __m512 o0 = _mm512_load_ps(q + c + 16), o1 = _mm512_load_ps(q + D + c + 16),
               o2 = _mm512_load_ps(q + 2 * D + c + 16), o3 = _mm512_load_ps(q + 3 * D + c + 16);
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
          __m512i w = _mm512_load_si512((__m512i *)(kh + (k + j) * D + c));
          __m512 ke = widenEven(w), ko = widenOdd(w);
          FMA4(ke, j, e0, e1, e2, e3)
          FMA4(ko, j, o0, o1, o2, o3)
        }
      }
      _mm512_store_ps(scores + k * 4, _mm512_mul_ps(fold16(acc), _mm512_set1_ps(0x1p112f)));
    }
}
int main(void) {
  // Every finite f16 h: widenEven's bits times 2^112 equal vcvtph2ps(h).
  int bad = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    if ((h & 0x7c00) == 0x7c00) continue;
    float want = _mm512_cvtss_f32(_mm512_cvtph_ps(_mm256_set1_epi16((short)h)));
    float got = _mm512_cvtss_f32(widenEven(_mm512_set1_epi32((int)h))) * 0x1p112f;
    bad += want != got && !(want == 0 && got == 0);
  }
  printf("finite f16 values widened wrongly: %d\n", bad);
  for (int i = 0; i < KEYS * D; i++) kh[i] = 0x3c00;
  for (int i = 0; i < 4 * D; i++) q[i] = 1e-9f;
  int reps = 100000;
  double fma = (double)reps * KEYS * D / 16 * 4;
  for (int t = 0; t < 3; t++) {
    double t0 = now();
    runCvt(reps);
    double t1 = now();
    runInt(reps);
    double t2 = now();
    printf("G FMA/s (peak ~3.67): vcvtph2ps %.2f  integer widening %.2f  (%g)\n",
           fma / (t1 - t0) / 1e9, fma / (t2 - t1) / 1e9, scores[5]);
  }
  return 0;
}
