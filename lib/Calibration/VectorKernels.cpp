//===- VectorKernels.cpp - the joint fit's memory-bound vector loops ------===//
//
// GCC vector extensions (eight floats at a time), each loop built twice by
// target_clones: an AVX-512 clone chosen at load time where the CPU has it
// and the baseline's.
//
//===----------------------------------------------------------------------===//

#include "VectorKernels.h"

#include "attn/Calibration/FloatGemm.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace attn::calib::vec {
namespace {

// Vec8 is two SSE registers without AVX; the helpers are inline, so the
// ABI note GCC gives for 32-byte vector arguments does not apply.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float Vec8 __attribute__((vector_size(32)));
/// The memory-bound loops of a step (L-BFGS's passes over its pairs, the
/// ridge): an AVX-512 clone chosen at load time where the CPU has it (the
/// build's baseline is SSE2, on which the bfloat16 conversions cost more
/// than the memory traffic).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&        \
    defined(__linux__)
#define ATTN_VECTOR_CLONES                                                     \
  __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define ATTN_VECTOR_CLONES
#endif
/// The templates' bodies, compiled inside each clone of their callers.
#define ATTN_ALWAYS_INLINE inline __attribute__((always_inline))
typedef uint16_t Half8 __attribute__((vector_size(16)));
typedef uint32_t Word8 __attribute__((vector_size(32)));

/// Eight entries of a float or bfloat16 (uint16_t bits) vector as floats.
inline Vec8 load8(const float *p) {
  Vec8 v;
  __builtin_memcpy(&v, p, sizeof(Vec8));
  return v;
}
inline Vec8 load8(const uint16_t *p) {
  Half8 h;
  __builtin_memcpy(&h, p, sizeof(Half8));
  Word8 w = __builtin_convertvector(h, Word8) << 16;
  Vec8 v;
  __builtin_memcpy(&v, &w, sizeof(Vec8));
  return v;
}
inline float load1(const float *p) { return *p; }
inline float load1(const uint16_t *p) {
  uint32_t w = static_cast<uint32_t>(*p) << 16;
  float f;
  __builtin_memcpy(&f, &w, sizeof(f));
  return f;
}
/// x rounded to the storage type (bfloat16: to nearest even; x finite).
inline void store8(float *p, const Vec8 &x) {
  __builtin_memcpy(p, &x, sizeof(Vec8));
}
inline void store8(uint16_t *p, const Vec8 &x) {
  Word8 u;
  __builtin_memcpy(&u, &x, sizeof(Word8));
  u += 0x7fffu + ((u >> 16) & 1u);
  Half8 h = __builtin_convertvector(u >> 16, Half8);
  __builtin_memcpy(p, &h, sizeof(Half8));
}
inline void store1(float *p, float x) { *p = x; }
inline void store1(uint16_t *p, float x) { *p = roundToBf16(x); }

typedef int32_t Int8 __attribute__((vector_size(32)));

/// exp(x) for x <= 0 (Cephes' expf: x = n ln 2 + r, a degree-6 polynomial
/// in r, 2^n in the exponent bits; relative error ~2e-7), 0 below -87.3.
inline Vec8 expNonPositive(Vec8 x) {
  const Vec8 lo = Vec8{} - 87.3f;
  Int8 under = x < lo;
  x = under ? lo : x;
  Vec8 n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
  Vec8 r = x - n * 0.693359375f + n * 2.12194440e-4f;
  Vec8 p = Vec8{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  Int8 e = (__builtin_convertvector(n, Int8) + 127) << 23;
  Vec8 scale;
  __builtin_memcpy(&scale, &e, sizeof(Vec8));
  Int8 bits;
  Vec8 y = p * scale;
  __builtin_memcpy(&bits, &y, sizeof(Vec8));
  bits &= ~under;
  __builtin_memcpy(&y, &bits, sizeof(Vec8));
  return y;
}

/// sum a[i] * b[i]: float products summed in blocks of 512 by sixteen
/// float lanes (two vectors of eight: the loop is memory-bound), the
/// blocks' sums added in double. `a` float or bfloat16.
/// With `ahead`, each sixteen entries' prefetch of ahead[i..i+16) (the
/// caller's next block of another vector: L-BFGS's passes jump between
/// 20 pairs a block at a time, which the hardware prefetcher does not
/// follow); the sum is the same.
template <typename T>
ATTN_ALWAYS_INLINE double dotOf(const T *a, const float *b, size_t n,
                                const T *ahead = nullptr) {
  double total = 0.0;
  size_t i = 0;
  for (; i + 512 <= n; i += 512) {
    Vec8 acc0 = {}, acc1 = {};
    for (size_t j = i; j < i + 512; j += 16) {
      if (ahead)
        __builtin_prefetch(ahead + j);
      acc0 += load8(a + j) * load8(b + j);
      acc1 += load8(a + j + 8) * load8(b + j + 8);
    }
    Vec8 acc = acc0 + acc1;
    for (int k = 0; k < 8; ++k)
      total += acc[k];
  }
  for (; i < n; ++i)
    total += static_cast<double>(load1(a + i)) * b[i];
  return total;
}

/// dotOf(a, c, n, aAhead) and dotOf(b, c, n, bAhead) in one loop: the same
/// sums, their two chains of additions overlapping.
template <typename T>
ATTN_ALWAYS_INLINE std::pair<double, double>
dot2Of(const T *a, const T *b, const float *c, size_t n, const T *aAhead,
       const T *bAhead) {
  double totalA = 0.0, totalB = 0.0;
  size_t i = 0;
  for (; i + 512 <= n; i += 512) {
    Vec8 a0 = {}, a1 = {}, b0 = {}, b1 = {};
    for (size_t j = i; j < i + 512; j += 16) {
      if (aAhead && bAhead) {
        __builtin_prefetch(aAhead + j);
        __builtin_prefetch(bAhead + j);
      }
      Vec8 c0 = load8(c + j), c1 = load8(c + j + 8);
      a0 += load8(a + j) * c0;
      a1 += load8(a + j + 8) * c1;
      b0 += load8(b + j) * c0;
      b1 += load8(b + j + 8) * c1;
    }
    Vec8 accA = a0 + a1, accB = b0 + b1;
    for (int k = 0; k < 8; ++k) {
      totalA += accA[k];
      totalB += accB[k];
    }
  }
  for (; i < n; ++i) {
    totalA += static_cast<double>(load1(a + i)) * c[i];
    totalB += static_cast<double>(load1(b + i)) * c[i];
  }
  return {totalA, totalB};
}

/// d[i] += a s[i] + b y[i].
/// With `sAhead` and `yAhead`, their prefetch as dotOf's `ahead`.
template <typename T>
ATTN_ALWAYS_INLINE void axpy2Of(float *d, float a, const T *sv, float b,
                                const T *yv, size_t n,
                                const T *sAhead = nullptr,
                                const T *yAhead = nullptr) {
  size_t i = 0;
  if (sAhead && yAhead)
    for (; i + 16 <= n; i += 16) {
      __builtin_prefetch(sAhead + i);
      __builtin_prefetch(yAhead + i);
      for (size_t j = i; j < i + 16; j += 8)
        store8(d + j, load8(d + j) + a * load8(sv + j) + b * load8(yv + j));
    }
  for (; i + 8 <= n; i += 8)
    store8(d + i, load8(d + i) + a * load8(sv + i) + b * load8(yv + i));
  for (; i < n; ++i)
    d[i] += a * load1(sv + i) + b * load1(yv + i);
}

/// s = h d and y = g1 - g0 rounded to T; returns s.y and y.y of the
/// rounded vectors.
template <typename T>
ATTN_ALWAYS_INLINE std::pair<double, double>
makePairOf(T *sv, T *yv, float h, const float *d, const float *g0,
           const float *g1, size_t n) {
  double curvature = 0.0, yNorm = 0.0;
  size_t i = 0;
  for (; i + 512 <= n; i += 512) {
    Vec8 c = {}, q = {};
    for (size_t j = i; j < i + 512; j += 8) {
      store8(sv + j, h * load8(d + j));
      store8(yv + j, load8(g1 + j) - load8(g0 + j));
      Vec8 a = load8(sv + j), b = load8(yv + j);
      c += a * b;
      q += b * b;
    }
    for (int k = 0; k < 8; ++k) {
      curvature += c[k];
      yNorm += q[k];
    }
  }
  for (; i < n; ++i) {
    store1(sv + i, h * d[i]);
    store1(yv + i, g1[i] - g0[i]);
    double a = load1(sv + i), b = load1(yv + i);
    curvature += a * b;
    yNorm += b * b;
  }
  return {curvature, yNorm};
}

} // namespace

/// xn = x + h d.
ATTN_VECTOR_CLONES void stepTo(float *xn, const float *x, float h,
                               const float *d, size_t n) {
  for (size_t i = 0; i < n; ++i)
    xn[i] = x[i] + h * d[i];
}

namespace {
/// ||x - s0||^2 and, with `gr`, gr = gm + c2 (x - s0): one loop for both
/// (ridgeGradient, ridgePenalty), so their penalties are equal bit for bit.
ATTN_ALWAYS_INLINE double ridgeOf(float *gr, const float *gm, const float *x,
                                  const float *s0, float c2, size_t n) {
  double penalty = 0.0;
  size_t i = 0;
  for (; i + 512 <= n; i += 512) {
    Vec8 acc = {};
    for (size_t j = i; j < i + 512; j += 8) {
      Vec8 delta = load8(x + j) - load8(s0 + j);
      acc += delta * delta;
      if (gr)
        store8(gr + j, load8(gm + j) + c2 * delta);
    }
    for (int k = 0; k < 8; ++k)
      penalty += acc[k];
  }
  for (; i < n; ++i) {
    float delta = x[i] - s0[i];
    penalty += static_cast<double>(delta) * delta;
    if (gr)
      gr[i] = gm[i] + c2 * delta;
  }
  return penalty;
}
} // namespace

/// The ridge's gradient gr = gm + c2 (x - s0); returns ||x - s0||^2.
ATTN_VECTOR_CLONES double ridgeGradient(float *gr, const float *gm,
                                        const float *x, const float *s0,
                                        float c2, size_t n) {
  return ridgeOf(gr, gm, x, s0, c2, n);
}

/// ||x - s0||^2, as ridgeGradient returns it.
ATTN_VECTOR_CLONES double ridgePenalty(const float *x, const float *s0,
                                       size_t n) {
  return ridgeOf(nullptr, nullptr, x, s0, 0.0f, n);
}

/// Each of `rows` rows of `p` [rows, s] becomes softmax(scale p + bias);
/// a row with every key masked (-inf) becomes 0.
ATTN_VECTOR_CLONES void softmaxRows(float *p, const float *bias, int64_t rows,
                                    int64_t s, float scale) {
  for (int64_t row = 0; row < rows; ++row) {
    float *x = p + row * s;
    const float *b = bias + row * s;
    float top = -std::numeric_limits<float>::infinity();
    int64_t j = 0;
    if (s >= 8) {
      Vec8 best = Vec8{} + top;
      for (; j + 8 <= s; j += 8) {
        Vec8 v = scale * load8(x + j) + load8(b + j);
        store8(x + j, v);
        best = v > best ? v : best;
      }
      for (int k = 0; k < 8; ++k)
        top = std::max(top, best[k]);
    }
    for (; j < s; ++j) {
      x[j] = scale * x[j] + b[j];
      top = std::max(top, x[j]);
    }
    if (!std::isfinite(top)) {
      std::fill(x, x + s, 0.0f);
      continue;
    }
    j = 0;
    Vec8 acc = {};
    for (; j + 8 <= s; j += 8) {
      Vec8 e = expNonPositive(load8(x + j) - top);
      store8(x + j, e);
      acc += e;
    }
    double sum = 0.0;
    for (int k = 0; k < 8; ++k)
      sum += acc[k];
    for (; j < s; ++j) {
      x[j] = std::exp(x[j] - top);
      sum += x[j];
    }
    float inv = static_cast<float>(1.0 / sum);
    for (j = 0; j < s; ++j)
      x[j] *= inv;
  }
}

/// The softmax's backward over rows: x = p (x - x.p) scale per row, x.p
/// summed in double in the order of the keys; eight rows at a time, so
/// their sums' additions overlap (one row's are a latency-bound chain).
ATTN_VECTOR_CLONES void softmaxBackwardRows(float *x, const float *p,
                                            int64_t rows, int64_t s,
                                            float scale) {
  int64_t row = 0;
  for (; row + 8 <= rows; row += 8) {
    float *xr = x + row * s;
    const float *pr = p + row * s;
    double dot[8] = {};
    for (int64_t j = 0; j < s; ++j)
      for (int r = 0; r < 8; ++r)
        dot[r] += static_cast<double>(xr[r * s + j]) * pr[r * s + j];
    for (int r = 0; r < 8; ++r) {
      float c = static_cast<float>(dot[r]);
      for (int64_t j = 0; j < s; ++j)
        xr[r * s + j] = pr[r * s + j] * (xr[r * s + j] - c) * scale;
    }
  }
  for (; row < rows; ++row) {
    float *xr = x + row * s;
    const float *pr = p + row * s;
    double dot = 0.0;
    for (int64_t j = 0; j < s; ++j)
      dot += static_cast<double>(xr[j]) * pr[j];
    float c = static_cast<float>(dot);
    for (int64_t j = 0; j < s; ++j)
      xr[j] = pr[j] * (xr[j] - c) * scale;
  }
}


ATTN_VECTOR_CLONES double dot(const float *a, const float *b, size_t n) {
  return dotOf(a, b, n);
}
ATTN_VECTOR_CLONES double dot(const uint16_t *a, const float *b, size_t n) {
  return dotOf(a, b, n);
}
ATTN_VECTOR_CLONES double dotAhead(const float *a, const float *b, size_t n,
                                   const float *ahead) {
  return dotOf(a, b, n, ahead);
}
ATTN_VECTOR_CLONES double dotAhead(const uint16_t *a, const float *b,
                                   size_t n, const uint16_t *ahead) {
  return dotOf(a, b, n, ahead);
}
ATTN_VECTOR_CLONES void axpy2(float *d, float a, const float *sv, float b,
                              const float *yv, size_t n) {
  axpy2Of(d, a, sv, b, yv, n);
}
ATTN_VECTOR_CLONES void axpy2(float *d, float a, const uint16_t *sv, float b,
                              const uint16_t *yv, size_t n) {
  axpy2Of(d, a, sv, b, yv, n);
}
ATTN_VECTOR_CLONES std::pair<double, double>
dot2Ahead(const float *a, const float *b, const float *c, size_t n,
          const float *aAhead, const float *bAhead) {
  return dot2Of(a, b, c, n, aAhead, bAhead);
}
ATTN_VECTOR_CLONES std::pair<double, double>
dot2Ahead(const uint16_t *a, const uint16_t *b, const float *c, size_t n,
          const uint16_t *aAhead, const uint16_t *bAhead) {
  return dot2Of(a, b, c, n, aAhead, bAhead);
}
ATTN_VECTOR_CLONES void axpy2Ahead(float *d, float a, const float *sv, float b,
                                   const float *yv, size_t n,
                                   const float *sAhead, const float *yAhead) {
  axpy2Of(d, a, sv, b, yv, n, sAhead, yAhead);
}
ATTN_VECTOR_CLONES void axpy2Ahead(float *d, float a, const uint16_t *sv,
                                   float b, const uint16_t *yv, size_t n,
                                   const uint16_t *sAhead,
                                   const uint16_t *yAhead) {
  axpy2Of(d, a, sv, b, yv, n, sAhead, yAhead);
}
ATTN_VECTOR_CLONES std::pair<double, double>
makePair(float *sv, float *yv, float h, const float *d, const float *g0,
         const float *g1, size_t n) {
  return makePairOf(sv, yv, h, d, g0, g1, n);
}
ATTN_VECTOR_CLONES std::pair<double, double>
makePair(uint16_t *sv, uint16_t *yv, float h, const float *d, const float *g0,
         const float *g1, size_t n) {
  return makePairOf(sv, yv, h, d, g0, g1, n);
}

} // namespace attn::calib::vec
