// exp throughput probe (cpu-decode-mqa10): the exp forms of exp_sweep.c (copied here), register-only
// build: gcc -O2 -march=sapphirerapids exp_throughput.c -o exp_throughput
// ulp error of the decode kernels' exp (VectorExp.cpp) and of scalef forms
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#define S(v) _mm512_set1_ps(v)
static __m512 front(__m512 x, __m512 *n) {
  x = _mm512_max_ps(x, S(-87.0f));
  __m512 z = _mm512_fmadd_ps(x, S(1.44269504088896341f), S(12582912.0f));
  *n = _mm512_sub_ps(z, S(12582912.0f));
  __m512 f = _mm512_fmadd_ps(*n, S(-0.693359375f), x);
  return _mm512_fmadd_ps(*n, S(2.12194440e-4f), f);
}
static __m512 cur(__m512 x) {
  __m512 xc = _mm512_max_ps(x, S(-87.0f));
  __m512 z = _mm512_fmadd_ps(xc, S(1.44269504088896341f), S(12582912.0f));
  __m512 n; __m512 f = front(x, &n);
  float c[] = {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f, 1.0f, 1.0f};
  __m512 p = S(1.9875691500e-4f);
  for (int i = 0; i < 7; ++i) p = _mm512_fmadd_ps(p, f, S(c[i]));
  __m512i s = _mm512_add_epi32(_mm512_castps_si512(p), _mm512_slli_epi32(_mm512_castps_si512(z), 23));
  return _mm512_castsi512_ps(s);
}
static __m512 sc(__m512 x, const float *c, int deg) {
  __m512 n; __m512 f = front(x, &n);
  __m512 p = S(c[deg - 1]);
  for (int i = deg - 2; i >= 0; --i) p = _mm512_fmadd_ps(p, f, S(c[i]));
  p = _mm512_fmadd_ps(p, f, S(1.0f));
  return _mm512_scalef_ps(p, n);
}
static const float c5[] = {0.9999995231628418f, 0.49999141693115234f, 0.16668114066123962f, 0.041898731142282486f, 0.00826153066009283f};
static const float c6[] = {1.0f, 0.4999999403953552f, 0.1666642129421234f, 0.04166772589087486f, 0.008374763652682304f, 0.001385929062962532f};
// exp throughput: 8 independent vectors per iteration, interleaved variants
#include <x86intrin.h>
#define N 4000000
#define RUN(fn) ({ __m512 v[8]; for (int i = 0; i < 8; ++i) v[i] = _mm512_set1_ps(-0.1f * (i + 1)); \
  unsigned long t0 = __rdtsc(); for (long it = 0; it < N; ++it) for (int i = 0; i < 8; ++i) { v[i] = fn; v[i] = _mm512_sub_ps(v[i], S(1.5f)); } \
  unsigned long t = __rdtsc() - t0; float o[16]; __m512 a = v[0]; for (int i = 1; i < 8; ++i) a = _mm512_add_ps(a, v[i]); _mm512_storeu_ps(o, a); sink += o[0]; (double)t / (8.0 * N); })
volatile float sink;
int main(void) {
  for (int r = 0; r < 3; ++r) {
    double a = RUN(cur(v[i])), b = RUN(sc(v[i], c6, 6)), c = RUN(sc(v[i], c5, 5));
    printf("TSC cycles per exp vector: current %.2f  deg6+scalef %.2f  deg5+scalef %.2f\n", a, b, c);
  }
}
