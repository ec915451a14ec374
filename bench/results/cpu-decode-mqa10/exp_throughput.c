// exp throughput: 8 independent vectors per iteration, interleaved variants
#include "sweep_fns.h"
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
