// One decode step's attention as the decoder meets it (lead, 2026-12-05). A compiled
// attn.decode library of one layer (Hq 9, Hkv 3, D 64, f32 caches of 768 rows,
// positions 512.., as SmolLM2-135M at context 512) runs on LAYERS layers' caches in
// turn; before each run, "weights" are streamed (WMB MB per step in all, REP times
// each), or a compiled model (argv[4], e.g. a MatMul) runs instead. Then the same
// runs back to back on one layer's caches (warm, in L2). Switches (environment):
//   WMB=538  MB of weights per step (538 = the SmolLM2 step; split over 30 layers)
//   REP=1    each layer's weights streamed REP times before its decode
//   FLUSHKV  clflushopt the layer's caches right before its run (cold for sure)
//   KVHUGE   caches in 2 MB pages
//   LAYERDIR a directory of layer_L.so (make_layer.py): layer L's matvecs run before
//            decode L instead of the stream (compiled code, 18.6 MB per layer)
//   cc -O2 -march=x86-64-v4 -mclflushopt cold_decode.c -I include -L build/lib
//      -lAttnRuntime -Wl,-rpath,$PWD/build/lib -o cold_decode
//   chrt -f 10 ./cold_decode DECODE.so STEPS [QUERY_SCALE [MODEL.so]]
#define _GNU_SOURCE
#include "attn-c/Runtime.h"
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
static float sink;
static void stream(const float *w, size_t n) {
  __m512 a = _mm512_setzero_ps(), b = a;
  for (size_t i = 0; i < n; i += 32) {
    _mm_prefetch((const char *)(w + i) + 1024, _MM_HINT_T1);
    a = _mm512_add_ps(a, _mm512_loadu_ps(w + i));
    b = _mm512_add_ps(b, _mm512_loadu_ps(w + i + 16));
  }
  sink += _mm512_reduce_add_ps(_mm512_add_ps(a, b));
}
static void *filled(size_t bytes, int random, float scale) {
  float *p;
  if (getenv("KVHUGE") && bytes > 1000000) {
    size_t r = (bytes + (2u << 20) - 1) / (2u << 20) * (2u << 20);
    p = aligned_alloc(2u << 20, r);
    madvise(p, r, MADV_HUGEPAGE);
  } else
    p = aligned_alloc(64, (bytes + 63) / 64 * 64);
  for (size_t i = 0; i < bytes / 4; i++) p[i] = random ? scale * ((float)rand() / RAND_MAX - 0.5f) : 0;
  return p;
}
static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static size_t envSize(const char *name, size_t fallback) {
  const char *v = getenv(name);
  return v ? (size_t)atol(v) : fallback;
}
int main(int argc, char **argv) {
  if (argc < 3) return fprintf(stderr, "usage: cold_decode DECODE.so STEPS [QUERY_SCALE [MODEL.so]]\n"), 2;
  AttnModel *m = attnModelLoad(argv[1]);
  if (!m) return fprintf(stderr, "%s\n", attnGetLastError()), 1;
  attnSetNumThreads(1);
  int steps = atoi(argv[2]), nIn = attnModelGetNumInputs(m), nIo = attnModelGetNumInouts(m);
  float qscale = argc > 3 ? atof(argv[3]) : 1;
  AttnModel *other = argc > 4 ? attnModelLoad(argv[4]) : NULL;
  void *otherIn[8], *otherOut[8];
  AttnTensorInfo info;
  for (int i = 0; other && i < attnModelGetNumInputs(other); i++)
    attnModelGetInputInfo(other, i, &info), otherIn[i] = filled(info.num_bytes, 1, 1);
  for (int i = 0; other && i < attnModelGetNumOutputs(other); i++)
    attnModelGetOutputInfo(other, i, &info), otherOut[i] = filled(info.num_bytes, 0, 0);
  AttnModel *layer[LAYERS] = {0};
  void *layerIn[1], *layerOut[3];
  if (getenv("LAYERDIR")) {
    char path[4096];
    for (int l = 0; l < LAYERS; l++) {
      snprintf(path, sizeof path, "%s/layer_%d.so", getenv("LAYERDIR"), l);
      if (!(layer[l] = attnModelLoad(path))) return fprintf(stderr, "%s\n", attnGetLastError()), 1;
    }
    attnModelGetInputInfo(layer[0], 0, &info), layerIn[0] = filled(info.num_bytes, 1, 1);
    for (int i = 0; i < 3; i++) attnModelGetOutputInfo(layer[0], i, &info), layerOut[i] = filled(info.num_bytes, 0, 0);
  }
  void *in[8], *io[LAYERS][8], *out[4];
  int posIn = -1;
  for (int i = 0; i < nIn; i++) {
    attnModelGetInputInfo(m, i, &info);
    in[i] = filled(info.num_bytes, 1, strcmp(info.name, "query") ? 1 : qscale);
    if (!strcmp(info.name, "position")) posIn = i;
  }
  for (int l = 0; l < LAYERS; l++)
    for (int i = 0; i < nIo; i++) attnModelGetInoutInfo(m, i, &info), io[l][i] = filled(info.num_bytes, 1, 1);
  attnModelGetOutputInfo(m, 0, &info);
  out[0] = filled(info.num_bytes, 0, 0);
  size_t wn = envSize("WMB", 538) * 1000000 / 4 / LAYERS, rep = envSize("REP", 1);
  float *w = mmap(0, wn * 4 * LAYERS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  madvise(w, wn * 4 * LAYERS, MADV_HUGEPAGE);
  memset(w, 1, wn * 4 * LAYERS);
  double *cold = malloc(sizeof(double) * steps * LAYERS), *warm = malloc(sizeof(double) * steps * LAYERS);
  double tw = 0;
  for (int s = 0; s < steps; s++)
    for (int l = 0; l < LAYERS; l++) {
      double t0 = now();
      if (layer[0]) {
        if (attnModelRun(layer[l], (const void *const *)layerIn, layerOut, NULL))
          return fprintf(stderr, "%s\n", attnGetLastError()), 1;
      } else if (other) {
        if (attnModelRun(other, (const void *const *)otherIn, otherOut, NULL))
          return fprintf(stderr, "%s\n", attnGetLastError()), 1;
      } else
        for (size_t r = 0; r < rep; r++) stream(w + l * wn, wn);
      if (getenv("FLUSHKV"))
        for (int i = 0; i < nIo; i++) {
          attnModelGetInoutInfo(m, i, &info);
          for (size_t b = 0; b < info.num_bytes; b += 64) _mm_clflushopt((char *)io[l][i] + b);
        }
      _mm_mfence();
      double t1 = now();
      if (posIn >= 0) *(long long *)in[posIn] = 512 + s % 256;
      if (attnModelRunInPlace(m, (const void *const *)in, io[l], out, NULL))
        return fprintf(stderr, "%s\n", attnGetLastError()), 1;
      cold[s * LAYERS + l] = now() - t1;
      tw += t1 - t0;
    }
  for (int r = 0; r < steps * LAYERS; r++) {
    double t0 = now();
    attnModelRunInPlace(m, (const void *const *)in, io[0], out, NULL);
    warm[r] = now() - t0;
  }
  qsort(cold, steps * LAYERS, sizeof(double), cmp);
  qsort(warm, steps * LAYERS, sizeof(double), cmp);
  printf("%s: per layer, median: cold %.1f us, warm %.1f us; before each: %s %.1f us (%g)\n", argv[1],
         cold[steps * LAYERS / 2] * 1e6, warm[steps * LAYERS / 2] * 1e6, layer[0] ? "layer matvecs" : other ? argv[4] : "stream",
         tw / steps / LAYERS * 1e6, sink);
  return 0;
}
