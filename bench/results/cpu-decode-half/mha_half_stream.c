/* bench/results/cpu-decode-half: a C model of the grouped decode kernel's MHA (G 1) loop on a
   f16 cache, to see what this machine reaches for its access pattern (RESULTS "f16 / bf16 ...
   rows under 80%").  32 heads x S keys x 128, K and V planes of a head each contiguous, tiles of
   64 keys: the score loop reads the tile's 64 key rows (16 KiB) and the value loop its 64 value
   rows (16 KiB), as the kernel does.  Variants (argv[2]):
     read     : a plain read of K then V of each head (the bench's roofline, f16 widened)
     rows     : the kernel's arithmetic, key rows read whole in address order, no SW prefetch
     cols     : the same, a 16-key block read a vector of each row per step (column order)
     rows-nt  : rows + the next tile's lines spread over the tile's steps (prefetcht1), as the kernel
     cols-nt  : cols + the same prefetches
     rows-aN  : rows + each row's lines prefetched N bytes ahead (prefetcht1), keys and values
   Usage: mhs S ROUNDS VARIANT...; best / median CPU time -> GB/s of K+V.  gcc -O2 -march=native. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { H = 32, D = 128, T = 64 };
static size_t S;
static int order_cols, pf_next, pf_ahead, plain;

static double cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static inline __m512 ld(const _Float16 *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

static float head(const _Float16 *K, const _Float16 *V, const float *q, float *out) {
  const char *kend = (const char *)(K + S * D) - 64, *vend = (const char *)(V + S * D) - 64;
  __m512 acc[8];
  for (int c = 0; c < 8; ++c) acc[c] = _mm512_setzero_ps();
  float m = -1e30f, l = 0;
  __m512 qv[8];
  for (int c = 0; c < 8; ++c) qv[c] = _mm512_loadu_ps(q + 16 * c);
  for (size_t kt = 0; kt < S; kt += T) {
    const _Float16 *kb = K + kt * D, *vb = V + kt * D;
    const char *knext = (const char *)(kb + T * D), *vnext = (const char *)(vb + T * D);
    float sc[T];
    for (int k0 = 0; k0 < T; k0 += 16) {
      __m512 s[16];
      for (int k = 0; k < 16; ++k) s[k] = _mm512_setzero_ps();
      if (order_cols) {
        for (int c = 0; c < 8; ++c) {
          if (pf_next) /* 256 lines of the next tile over 32 steps: 8 per step */
            for (int i = 0; i < 8; ++i) {
              const char *p = knext + ((k0 / 16 * 8 + c) * 8 + i) * 64;
              _mm_prefetch(p < kend ? p : kend, _MM_HINT_T1);
            }
          for (int k = 0; k < 16; ++k) s[k] = _mm512_fmadd_ps(ld(kb + (k0 + k) * D + 16 * c), qv[c], s[k]);
        }
      } else {
        for (int k = 0; k < 16; ++k) {
          const _Float16 *row = kb + (k0 + k) * D;
          if (pf_next)
            for (int i = 0; i < 4; ++i) {
              const char *p = knext + ((k0 + k) * 4 + i) * 64;
              _mm_prefetch(p < kend ? p : kend, _MM_HINT_T1);
            }
          if (pf_ahead)
            for (int i = 0; i < 4; ++i) {
              const char *p = (const char *)row + pf_ahead + 64 * i;
              _mm_prefetch(p < kend ? p : kend, _MM_HINT_T1);
            }
          for (int c = 0; c < 8; ++c) s[k] = _mm512_fmadd_ps(ld(row + 16 * c), qv[c], s[k]);
        }
      }
      for (int k = 0; k < 16; ++k) sc[k0 + k] = _mm512_reduce_add_ps(s[k]);
    }
    float tm = m;
    for (int k = 0; k < T; ++k) tm = sc[k] > tm ? sc[k] : tm;
    float alpha = __builtin_expf(m - tm);
    m = tm;
    l *= alpha;
    for (int k = 0; k < T; ++k) { sc[k] = __builtin_expf(sc[k] - m); l += sc[k]; }
    for (int c = 0; c < 8; ++c) acc[c] = _mm512_mul_ps(acc[c], _mm512_set1_ps(alpha));
    for (int k = 0; k < T; ++k) {
      const _Float16 *row = vb + k * D;
      if (pf_next)
        for (int i = 0; i < 4; ++i) {
          const char *p = vnext + (k * 4 + i) * 64;
          _mm_prefetch(p < vend ? p : vend, _MM_HINT_T1);
        }
      if (pf_ahead)
        for (int i = 0; i < 4; ++i) {
          const char *p = (const char *)row + pf_ahead + 64 * i;
          _mm_prefetch(p < vend ? p : vend, _MM_HINT_T1);
        }
      __m512 p = _mm512_set1_ps(sc[k]);
      for (int c = 0; c < 8; ++c) acc[c] = _mm512_fmadd_ps(p, ld(row + 16 * c), acc[c]);
    }
  }
  for (int c = 0; c < 8; ++c) _mm512_storeu_ps(out + 16 * c, acc[c]);
  return l;
}

static float readPlain(const _Float16 *K, const _Float16 *V) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (const _Float16 *P = K; P; P = P == K ? V : 0)
    for (size_t i = 0; i < S * D; i += 64) {
      a0 = _mm512_add_ps(a0, ld(P + i));
      a1 = _mm512_add_ps(a1, ld(P + i + 16));
      a2 = _mm512_add_ps(a2, ld(P + i + 32));
      a3 = _mm512_add_ps(a3, ld(P + i + 48));
    }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

static void set(const char *v) {
  plain = !strcmp(v, "read");
  order_cols = !strncmp(v, "cols", 4);
  pf_next = strstr(v, "-nt") != 0;
  pf_ahead = strstr(v, "-a") ? atoi(strstr(v, "-a") + 2) : 0;
}

/* mhs S ROUNDS VARIANT...: ROUNDS interleaved rounds of every variant, best CPU time each. */
int main(int argc, char **argv) {
  S = (size_t)atol(argv[1]);
  int rounds = atoi(argv[2]), nv = argc - 3;
  size_t plane = S * D;
  _Float16 *K = aligned_alloc(64, H * plane * 2), *V = aligned_alloc(64, H * plane * 2);
  for (size_t i = 0; i < H * plane; ++i) { K[i] = (_Float16)((i % 7) * 0.01f); V[i] = (_Float16)((i % 5) * 0.01f); }
  float q[D], out[D], sink = 0;
  for (int d = 0; d < D; ++d) q[d] = 0.01f * (d % 3);
  double best[64], all[64][64];
  for (int i = 0; i < nv; ++i) best[i] = 1e30;
  for (int r = 0; r < rounds; ++r)
    for (int i = 0; i < nv; ++i) {
      set(argv[3 + i]);
      double t0 = cpu();
      for (int h = 0; h < H; ++h)
        sink += plain ? readPlain(K + h * plane, V + h * plane) : head(K + h * plane, V + h * plane, q, out);
      double t = cpu() - t0;
      all[i][r] = t;
      if (t < best[i]) best[i] = t;
    }
  for (int i = 0; i < nv; ++i) {
    double m[64];
    memcpy(m, all[i], rounds * sizeof(double));
    for (int a = 0; a < rounds; ++a) for (int b = a + 1; b < rounds; ++b) if (m[b] < m[a]) { double x = m[a]; m[a] = m[b]; m[b] = x; }
    printf("%-11s S %zu: best %6.2f ms (%5.2f GB/s), median %6.2f ms (%5.2f GB/s)\n", argv[3 + i], S,
           best[i] * 1e3, 4.0 * H * plane / best[i] / 1e9, m[rounds / 2] * 1e3, 4.0 * H * plane / m[rounds / 2] / 1e9);
  }
  printf("sink %g\n", sink);
  return 0;
}
