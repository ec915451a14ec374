// MQA (rows across, G 32, D 128) per-tile model on f16 caches: score loop (12-key blocks x 2 row
// vectors), value loop (12-element blocks, 8-element remainder, Acc^T loaded / rescaled / stored
// per block), f16 tiles widened (a) in loops of their own into one shared tile (main) or (b) one
// vector per FMA-loop step into two tiles (overlap-tile-widening). No softmax (the same in both).
// Build: clang-22 -O2 -march=znver4 [-DFRONT] mqa_overlap.c -o mqa_overlap && ./mqa_overlap
// (-DFRONT: slot u widens vector min(u, 287), as the kernel does; without: u * 288 / slots).
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#define D 128
#define TK 36
#define KB 12
#define NT 8 /* tiles of K / V cycled (144 KiB of f16: L2) */
static double now(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
_Alignas(64) uint16_t K[NT * TK * D], V[NT * TK * D];
_Alignas(64) float QT[D * 32], AT[D * 32], S[TK * 32], T0[TK * D], T1[TK * D], alpha[32];
static inline void cvt(float *dst, const uint16_t *src) { _mm512_store_ps(dst, _mm512_cvtph_ps(_mm256_load_si256((const void *)src))); }
static void widen(float *t, const uint16_t *src) __attribute__((noinline));
static void widen(float *t, const uint16_t *src) { for (int v = 0; v < TK * D / 16; v++) cvt(t + v * 16, src + v * 16); }
/* slot u of `slots`: vector u * 288 / slots of the tile (one per slot, a few twice) */
#ifdef FRONT
#define VIDX(u, slots) ((u) < TK * D / 16 ? (u) : TK * D / 16 - 1)
#else
#define VIDX(u, slots) ((u) * (TK * D / 16) / (slots))
#endif
#define SLOT(t, src, u, slots) do { int v_ = VIDX(u, slots); cvt((t) + v_ * 16, (src) + v_ * 16); } while (0)
static inline __attribute__((always_inline)) void scores(const float *kt, float *vt, const uint16_t *vsrc) {
  for (int k0 = 0; k0 < TK; k0 += KB) {
    __m512 a[KB][2];
    _Pragma("clang loop unroll(full)") for (int k = 0; k < KB; k++) a[k][0] = a[k][1] = _mm512_setzero_ps();
    for (int d = 0; d < D; d++) {
      if (vt) SLOT(vt, vsrc, k0 / KB * D + d, TK / KB * D);
      __m512 q0 = _mm512_load_ps(&QT[d * 32]), q1 = _mm512_load_ps(&QT[d * 32 + 16]);
      _Pragma("clang loop unroll(full)") for (int k = 0; k < KB; k++) { __m512 b = _mm512_set1_ps(kt[(k0 + k) * D + d]); a[k][0] = _mm512_fmadd_ps(b, q0, a[k][0]); a[k][1] = _mm512_fmadd_ps(b, q1, a[k][1]); }
    }
    _Pragma("clang loop unroll(full)") for (int k = 0; k < KB; k++) { _mm512_store_ps(&S[(k0 + k) * 32], a[k][0]); _mm512_store_ps(&S[(k0 + k) * 32 + 16], a[k][1]); }
  }
}
#define VBLOCK(N) do { \
    __m512 al0 = _mm512_load_ps(alpha), al1 = _mm512_load_ps(alpha + 16), a[N][2]; \
    _Pragma("clang loop unroll(full)") for (int j = 0; j < N; j++) { a[j][0] = _mm512_mul_ps(_mm512_load_ps(&AT[(dv0 + j) * 32]), al0); a[j][1] = _mm512_mul_ps(_mm512_load_ps(&AT[(dv0 + j) * 32 + 16]), al1); } \
    for (int k = 0; k < TK; k++) { \
      if (kt) SLOT(kt, ksrc, blk * TK + k, 11 * TK); \
      __m512 p0 = _mm512_load_ps(&S[k * 32]), p1 = _mm512_load_ps(&S[k * 32 + 16]); \
      _Pragma("clang loop unroll(full)") for (int j = 0; j < N; j++) { __m512 b = _mm512_set1_ps(vt[k * D + dv0 + j]); a[j][0] = _mm512_fmadd_ps(b, p0, a[j][0]); a[j][1] = _mm512_fmadd_ps(b, p1, a[j][1]); } } \
    _Pragma("clang loop unroll(full)") for (int j = 0; j < N; j++) { _mm512_store_ps(&AT[(dv0 + j) * 32], a[j][0]); _mm512_store_ps(&AT[(dv0 + j) * 32 + 16], a[j][1]); } } while (0)
static inline __attribute__((always_inline)) void values(const float *vt, float *kt, const uint16_t *ksrc) {
  int blk = 0, dv0 = 0;
  for (; dv0 + 12 <= D; dv0 += 12, blk++) VBLOCK(12);
  VBLOCK(8);
}
__attribute__((noinline)) void separate(void) {
  for (int t = 0; t < NT; t++) {
    widen(T0, K + t * TK * D); scores(T0, 0, 0);
    widen(T0, V + t * TK * D); values(T0, 0, 0);
  }
}
__attribute__((noinline)) void overlap(void) {
  widen(T0, K);
  for (int t = 0; t < NT; t++) {
    scores(T0, T1, V + t * TK * D);
    values(T1, T0, K + ((t + 1) % NT) * TK * D);
  }
}
__attribute__((noinline)) void separate2(void) { /* two tiles, separate loops */
  for (int t = 0; t < NT; t++) {
    widen(T0, K + t * TK * D); scores(T0, 0, 0);
    widen(T1, V + t * TK * D); values(T1, 0, 0);
  }
}
__attribute__((noinline)) void f32_tiles(void) { /* no widening at all (an f32 cache from L1) */
  for (int t = 0; t < NT; t++) { scores(T0, 0, 0); values(T1, 0, 0); }
}
typedef void (*fn)(void);
int main(void) {
  for (int i = 0; i < NT * TK * D; i++) K[i] = V[i] = 0x3c00;
  for (int i = 0; i < D * 32; i++) QT[i] = 1e-3f, AT[i] = 0;
  for (int i = 0; i < 32; i++) alpha[i] = 1;
  fn f[] = {separate, overlap, f32_tiles, separate2};
  const char *nm[] = {"f16 separate loops (main)", "f16 overlapped (branch)", "f32 tiles, no widening", "f16 separate, two tiles"};
  double best[4] = {1e9, 1e9, 1e9, 1e9};
  int N = 2000;
  for (int rep = 0; rep < 15; rep++)
    for (int v = 0; v < 4; v++) { double t = now(); for (int i = 0; i < N; i++) f[v](); t = (now() - t) / N / (NT * TK) * 1e9; if (t < best[v]) best[v] = t; }
  for (int v = 0; v < 4; v++) printf("%-28s %6.2f ns/key (512 FMA/key)\n", nm[v], best[v]);
  return 0;
}
