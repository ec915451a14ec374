// The C replica of lead-2026-12-05/matvec_replica.c with an 8th argument:
// CHUNKED=1 splits the dot-product form's columns into the chunks the
// compiled kernel uses (N / 32, at most 8) and reads 4 distant rows within
// each. Build: gcc -O3 -march=native (or clang-22 -O3 -march=znver4).
// C replica of the decode step's row-streaming matvecs (SmolLM2-135M shapes, f32), 1 thread.
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int PF = 1024, STREAMS = 4, RPS = 1, NOFMA = 0, CMAX = 8, DOT = 0;
static float part[8 * 49152] __attribute__((aligned(64)));
static void matvec(const float *x, const float *W, int K, int N, float *out) {
  int C = K / 128; if (C < 1) C = 1; if (C > CMAX) C = CMAX;
  int maxc = (512 * 1024) / (N * 4); if (maxc < 1) maxc = 1; if (C > maxc) C = maxc;
  int R = (K + C - 1) / C; R = (R + STREAMS * RPS - 1) / (STREAMS * RPS) * (STREAMS * RPS); C = (K + R - 1) / R;
  long last = (long)K * N - 1; int pfe = PF / 4;
  for (int c = 0; c < C; c++) {
    float *p = part + (long)c * N;
    for (int n = 0; n < N; n += 16) _mm512_store_ps(p + n, _mm512_setzero_ps());
    int k0 = c * R, k1 = k0 + R < K ? k0 + R : K;
    int L = (k1 - k0) / (STREAMS * RPS) * RPS;
    for (int k = k0; k < k0 + L; k += RPS) {
      __m512 s[16]; const float *w[16]; int m = 0;
      for (int j = 0; j < STREAMS; j++) for (int q = 0; q < RPS; q++, m++) { s[m] = _mm512_set1_ps(x[k + j * L + q]); w[m] = W + (long)(k + j * L + q) * N; }
      for (int n = 0; n < N; n += 16) {
        __m512 acc = _mm512_load_ps(p + n);
        for (int j = 0; j < m; j++) {
          if (PF) { long at = (long)(w[j] - W) + n + pfe; if (at > last) at = last; _mm_prefetch((const char *)(W + at), _MM_HINT_T1); }
          if (NOFMA) acc = _mm512_add_ps(acc, _mm512_loadu_ps(w[j] + n));
          else acc = _mm512_fmadd_ps(s[j], _mm512_loadu_ps(w[j] + n), acc);
        }
        _mm512_store_ps(p + n, acc);
      }
    }
    for (int k = k0 + STREAMS * L; k < k1; k++) {
      __m512 s0 = _mm512_set1_ps(x[k]);
      for (int n = 0; n < N; n += 16) _mm512_store_ps(p + n, _mm512_fmadd_ps(s0, _mm512_loadu_ps(W + (long)k * N + n), _mm512_load_ps(p + n)));
    }
  }
  for (int n = 0; n < N; n += 16) { __m512 a = _mm512_setzero_ps(); for (int c = 0; c < C; c++) a = _mm512_add_ps(a, _mm512_load_ps(part + (long)c * N + n)); _mm512_storeu_ps(out + n, a); }
}
// Transposed weights Wt[N][K]: out[n] = dot(x, Wt[n]); 4 far rows at a time
// (rows n, n + Q, n + 2Q, n + 3Q), 2 accumulators each, x from L1.
static int CHUNKED = 0;
static void matvecDot1(const float *x, const float *Wt, int K, int N, float *out);
static void matvecDot(const float *x, const float *Wt, int K, int N, float *out) {
  if (!CHUNKED) { matvecDot1(x, Wt, K, N, out); return; }
  int C = N / 32; if (C < 1) C = 1; if (C > 8) C = 8; int cc = (N + C - 1) / C; C = (N + cc - 1) / cc;
  for (int c = 0; c < C; c++) { int n0 = c * cc, n1 = n0 + cc < N ? n0 + cc : N; matvecDot1(x, Wt + (long)n0 * K, K, n1 - n0, out + n0); }
}
static void matvecDot1(const float *x, const float *Wt, int K, int N, float *out) {
  int Q = N / 4; long last = (long)K * N - 1; int pfe = PF / 4;
  for (int n = 0; n < Q; n++) {
    const float *r[4] = {Wt + (long)n * K, Wt + (long)(n + Q) * K, Wt + (long)(n + 2 * Q) * K, Wt + (long)(n + 3 * Q) * K};
    __m512 a[4][2];
    for (int j = 0; j < 4; j++) a[j][0] = a[j][1] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 32) {
      __m512 x0 = _mm512_loadu_ps(x + k), x1 = _mm512_loadu_ps(x + k + 16);
      for (int j = 0; j < 4; j++) {
        if (PF) { long at = (long)(r[j] - Wt) + k + pfe; if (at > last) at = last; _mm_prefetch((const char *)(Wt + at), _MM_HINT_T1);
                  at += 16; if (at > last) at = last; _mm_prefetch((const char *)(Wt + at), _MM_HINT_T1); }
        a[j][0] = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r[j] + k), a[j][0]);
        a[j][1] = _mm512_fmadd_ps(x1, _mm512_loadu_ps(r[j] + k + 16), a[j][1]);
      }
    }
    for (int j = 0; j < 4; j++) out[n + j * Q] = _mm512_reduce_add_ps(_mm512_add_ps(a[j][0], a[j][1]));
  }
}
int main(int argc, char **argv) {
  int huge = atoi(argv[1]); if (argc > 2) PF = atoi(argv[2]); if (argc > 3) STREAMS = atoi(argv[3]); if (argc > 4) RPS = atoi(argv[4]); if (argc > 5) NOFMA = atoi(argv[5]); if (argc > 6) CMAX = atoi(argv[6]); if (argc > 7) DOT = atoi(argv[7]); if (argc > 8) CHUNKED = atoi(argv[8]);
  int shapes[8][2] = {{576,576},{576,192},{576,192},{576,576},{576,1536},{576,1536},{1536,576},{0,0}};
  size_t per = 0; for (int i = 0; i < 7; i++) per += (size_t)shapes[i][0] * shapes[i][1];
  size_t total = per * 30 + (size_t)576 * 49152, bytes = total * 4;
  char *raw = mmap(0, bytes + (4 << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  float *W = (float *)(((size_t)raw + (2 << 20) - 1) & ~((size_t)(2 << 20) - 1));
  madvise(W, bytes + (2 << 20), huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  for (size_t i = 0; i < total; i++) W[i] = (float)((i * 7) % 13) * 0.01f;
  static float x[1536], y[49152];
  for (int i = 0; i < 1536; i++) x[i] = 0.001f * i;
  double best = 1e9, times[20];
  for (int r = 0; r < 20; r++) {
    double t = now(); const float *w = W;
    for (int l = 0; l < 30; l++) for (int i = 0; i < 7; i++) { if (DOT) matvecDot(x, w, shapes[i][0], shapes[i][1], y); else matvec(x, w, shapes[i][0], shapes[i][1], y); w += (size_t)shapes[i][0] * shapes[i][1]; }
    if (DOT) matvecDot(x, w, 576, 49152, y); else matvec(x, w, 576, 49152, y);
    times[r] = now() - t; if (times[r] < best) best = times[r];
  }
  double s = 0; for (int r = 5; r < 20; r++) s += times[r];
  printf("huge %d pf %d streams %d rps %d nofma %d cmax %d dot %d: best %.2f ms (%.1f GB/s), mean %.2f ms\n", huge, PF, STREAMS, RPS, NOFMA, CMAX, DOT, best * 1e3, bytes / best / 1e9, s / 15 * 1e3);
  return y[5] == 12345;
}
