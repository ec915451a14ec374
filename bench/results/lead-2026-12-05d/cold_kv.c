// The one-thread decode step of SmolLM2-135M as two streams (lead, 2026-12-05):
// per layer 538/30 MB of "weights" summed with 16-lane loads, then the layer's
// 786 KB of "KV" (K and V at context 512, f32). Questions: how fast does a plain
// read of the cold KV go after the weight stream, and can the weight stream
// leave the KV in L3 (prefetchnta, clflushopt after use) or bring it into L2
// ahead (prefetcht1 spread over the stream's last FRACTION)?
//   gcc -O2 -march=x86-64-v4 -mclflushopt cold_kv.c -o cold_kv
//   chrt -f 10 ./cold_kv HINT PF_BYTES KV_BYTES STEPS MODE [FRACTION]
// HINT: weight prefetch PF_BYTES ahead, -1 none, 0 prefetchnta, 2 prefetcht1;
// MODE: plain | flush (clflushopt each weight line after use) | kvahead
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#define LAYERS 30
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}
static float *alloc(size_t n) {
  float *p = mmap(0, n * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  madvise(p, n * 4, MADV_HUGEPAGE);
  for (size_t i = 0; i < n; i++) p[i] = 1e-3f * (i % 7);
  return p;
}
static __m512 acc;
static int flush;
static char *kvp; // kvahead: the KV lines prefetched during the stream
static size_t kvLines, kvStart, kvEvery;
static void stream(float *w, size_t n, int hint, size_t pf) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  size_t it = 0, done = 0;
  for (size_t i = 0; i < n; i += 64, it++) {
    const char *p = (const char *)(w + i) + pf;
    if (hint == 0)
      for (int l = 0; l < 4; l++) _mm_prefetch(p + 64 * l, _MM_HINT_NTA);
    else if (hint == 2)
      for (int l = 0; l < 4; l++) _mm_prefetch(p + 64 * l, _MM_HINT_T1);
    if (kvp && it >= kvStart && done < kvLines && (it - kvStart) % kvEvery == 0)
      _mm_prefetch(kvp + 64 * done++, _MM_HINT_T1);
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(w + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(w + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(w + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(w + i + 48));
    if (flush && i >= 256)
      for (int l = 0; l < 4; l++) _mm_clflushopt((char *)(w + i - 256) + 64 * l);
  }
  acc = _mm512_add_ps(acc, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}
int main(int argc, char **argv) {
  if (argc < 6) return fprintf(stderr, "usage: see the header\n"), 2;
  int hint = atoi(argv[1]), steps = atoi(argv[4]);
  size_t pf = atol(argv[2]), kvBytes = atol(argv[3]);
  const char *mode = argv[5];
  double fraction = argc > 6 ? atof(argv[6]) : 0.05;
  size_t wn = 538000000 / 4 / LAYERS, kn = kvBytes / 4;
  float *w[LAYERS], *kv[LAYERS];
  for (int l = 0; l < LAYERS; l++) w[l] = alloc(wn), kv[l] = alloc(kn);
  double tw = 0, tk = 0;
  for (int s = 0; s < steps; s++)
    for (int l = 0; l < LAYERS; l++) {
      size_t iters = wn / 64, span = (size_t)(fraction * iters);
      kvLines = kvBytes / 64;
      if (span < kvLines) span = kvLines;
      kvStart = iters - span, kvEvery = span / kvLines;
      kvp = strcmp(mode, "kvahead") ? 0 : (char *)kv[l];
      flush = !strcmp(mode, "flush");
      double t0 = now();
      stream(w[l], wn, hint, pf);
      kvp = 0, flush = 0;
      double t1 = now();
      stream(kv[l], kn, -1, 0);
      double t2 = now();
      if (s > 0) tw += t1 - t0, tk += t2 - t1;
    }
  int n = steps - 1;
  printf("%s hint %d pf %zu kv %zu: weights %.2f ms/step (%.1f GB/s), kv %.3f ms/step (%.1f GB/s)\n",
         mode, hint, pf, kvBytes, tw / n * 1e3, wn * 4.0 * LAYERS / (tw / n) / 1e9, tk / n * 1e3,
         kn * 4.0 * LAYERS / (tk / n) / 1e9);
  float o[16];
  _mm512_storeu_ps(o, acc);
  return o[0] == 12345;
}
