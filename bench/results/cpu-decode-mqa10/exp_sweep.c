// ulp error of the decode kernels' exp (VectorExp.cpp) and of scalef forms
// build: gcc -O2 -march=sapphirerapids exp_sweep.c -o exp_sweep -lm
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
static double ulps(float got, double ref) {
  if (ref == 0) return got == 0 ? 0 : 1e9;
  int e; frexp(ref, &e); double ulp = ldexp(1.0, e - 24);
  if (ref < 0x1p-126) ulp = 0x1p-149; // subnormal
  return fabs(got - ref) / ulp;
}
int main(void) {
  double worst[3] = {0}, wx[3] = {0}; double sumerr[3] = {0}; long cnt = 0;
  // all floats in [lo, 0] with a stride of 7 in their bit patterns, lo = -87.5 and the softmax range [-20, 0]
  uint32_t lo; float l = -87.5f; memcpy(&lo, &l, 4);
  for (uint32_t u = 0x80000000u; u <= lo; u += 7 * 16) {
    float xs[16], r[3][16];
    for (int i = 0; i < 16; ++i) { uint32_t v = u + 7 * i; memcpy(&xs[i], &v, 4); }
    __m512 x = _mm512_loadu_ps(xs);
    _mm512_storeu_ps(r[0], cur(x)); _mm512_storeu_ps(r[1], sc(x, c5, 5)); _mm512_storeu_ps(r[2], sc(x, c6, 6));
    for (int i = 0; i < 16; ++i) {
      double ref = exp((double)xs[i]);
      if (xs[i] < -87.0f) ref = exp(-87.0); // all three clamp at -87
      for (int k = 0; k < 3; ++k) { double e = ulps(r[k][i], ref); sumerr[k] += e; if (e > worst[k]) { worst[k] = e; wx[k] = xs[i]; } }
      ++cnt;
    }
  }
  const char *name[] = {"current (deg 7, exponent add)", "deg 5 + vscalefps", "deg 6 + vscalefps"};
  for (int k = 0; k < 3; ++k) printf("%-32s max %.3f ulp at x = %.9g, mean %.4f ulp (%ld inputs in [-87.5, 0])\n", name[k], worst[k], wx[k], sumerr[k] / cnt, cnt);
  float z = 0; __m512 x0 = _mm512_set1_ps(z); float o[3][16];
  _mm512_storeu_ps(o[0], cur(x0)); _mm512_storeu_ps(o[1], sc(x0, c5, 5)); _mm512_storeu_ps(o[2], sc(x0, c6, 6));
  printf("exp(0): %.9g %.9g %.9g\n", o[0][0], o[1][0], o[2][0]);
}
