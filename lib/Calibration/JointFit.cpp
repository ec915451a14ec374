//===- JointFit.cpp - layer-wise joint fit of Q, shared K/V and O ---------===//
//
// The converted attention of one layer as a differentiable function of its
// four projection weights on fixed inputs:
//   Q_h = RoPE(H Wq_h^T), K_r = RoPE(E Wk_r^T), V_r = E Wv_r^T,
//   P_h = softmax(scale Q_h K_r^T + bias), Y = sum_h (P_h V_r) Wo_h,
// with E = H (self-attention) or another input (cross-attention, no RoPE),
// its gradient by hand (RoPE^T(u) is the rotation by the opposite phase),
// and L-BFGS on ||Y - T||^2 / ||T||^2 plus a ridge toward the start. The
// products run in float32 on worker threads (or, as $ATTN_FIT_BF16 says,
// some with bfloat16 inputs: sgemmBf16); losses, norms and the optimiser's
// small products are float64, its vectors float (the pairs, as
// $ATTN_LBFGS_PAIRS says, bfloat16 or float).
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/JointFit.h"

#include "attn/Calibration/FloatGemm.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <limits>
#include <string>

using namespace attn::calib;

namespace {

/// Rotates each head of `x` [tokens, heads * D] by its token's phases
/// (inverse: by the opposite phases, which is RoPE's transpose).
void rotate(std::vector<float> &x, const JointLayer &l, int64_t heads,
            bool inverse) {
  if (l.cos.empty())
    return; // no rotation
  int64_t d = l.headDim, half = d / 2, tokens = l.batch * l.length;
  float sign = inverse ? -1.0f : 1.0f;
  parallelChunks(tokens, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t h = 0; h < heads; ++h) {
        float *row = &x[(t * heads + h) * d];
        const float *c = &l.cos[t * half], *s = &l.sin[t * half];
        for (int64_t i = 0; i < half; ++i) {
          float a = row[i], b = row[i + half], sn = sign * s[i];
          row[i] = a * c[i] - b * sn;
          row[i + half] = b * c[i] + a * sn;
        }
      }
  });
}

using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, const float *,
                       int64_t, const float *, int64_t, float *, int64_t,
                       bool);

/// Which of the fit's products take bfloat16 inputs (sgemmBf16: AMX where
/// the CPU has it, else the f32 product): $ATTN_FIT_BF16 = "all" (the
/// default: the forward and backward products of every objective
/// evaluation), "backward" (the gradient's only; the line search's losses
/// stay f32) or "none" (f32 throughout). The target and the reported errors
/// are f32 in every case. bench/RESULTS.md ("AMX bf16 products for the
/// joint fit"): on SmolLM2-135M the held-out KL moved by -0.003 (all) and
/// +0.002 (backward) against f32, the fits' CPU time by -32% and -15%.
struct Bf16Products {
  bool forward = false, backward = false;
};

Bf16Products bf16Products() {
  static const Bf16Products products = [] {
    Bf16Products p;
    const char *env = std::getenv("ATTN_FIT_BF16");
    std::string v = env ? env : "all";
    if (v != "none" && v != "backward" && v != "all") {
      std::fprintf(stderr,
                   "attn: ATTN_FIT_BF16=%s is not none, backward or all; "
                   "using all\n",
                   v.c_str());
      v = "all";
    }
    p.backward = v == "backward" || v == "all";
    p.forward = v == "all";
    return p;
  }();
  return products;
}

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

/// sum a[i] * b[i]: float products summed in blocks of 512 by sixteen
/// float lanes (two vectors of eight: the loop is memory-bound), the
/// blocks' sums added in double. `a` float or bfloat16.
template <typename T>
ATTN_VECTOR_CLONES double dot(const T *a, const float *b, size_t n) {
  double total = 0.0;
  size_t i = 0;
  for (; i + 512 <= n; i += 512) {
    Vec8 acc0 = {}, acc1 = {};
    for (size_t j = i; j < i + 512; j += 16) {
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

/// d[i] += a s[i] + b y[i].
template <typename T>
ATTN_VECTOR_CLONES void axpy2(float *d, float a, const T *sv, float b,
                              const T *yv, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    store8(d + i, load8(d + i) + a * load8(sv + i) + b * load8(yv + i));
  for (; i < n; ++i)
    d[i] += a * load1(sv + i) + b * load1(yv + i);
}

/// s = h d and y = g1 - g0 rounded to T; returns s.y and y.y of the
/// rounded vectors.
template <typename T>
ATTN_VECTOR_CLONES std::pair<double, double>
makePair(T *sv, T *yv, float h, const float *d, const float *g0,
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

/// xn = x + h d.
ATTN_VECTOR_CLONES void stepTo(float *xn, const float *x, float h,
                               const float *d, size_t n) {
  for (size_t i = 0; i < n; ++i)
    xn[i] = x[i] + h * d[i];
}

/// The ridge's gradient gr = gm + c2 (x - s0); returns ||x - s0||^2.
ATTN_VECTOR_CLONES double ridgeGradient(float *gr, const float *gm,
                                        const float *x, const float *s0,
                                        float c2, size_t n) {
  double penalty = 0.0;
  size_t i = 0;
  for (; i + 512 <= n; i += 512) {
    Vec8 acc = {};
    for (size_t j = i; j < i + 512; j += 8) {
      Vec8 delta = load8(x + j) - load8(s0 + j);
      acc += delta * delta;
      store8(gr + j, load8(gm + j) + c2 * delta);
    }
    for (int k = 0; k < 8; ++k)
      penalty += acc[k];
  }
  for (; i < n; ++i) {
    float delta = x[i] - s0[i];
    penalty += static_cast<double>(delta) * delta;
    gr[i] = gm[i] + c2 * delta;
  }
  return penalty;
}

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

/// The attention with `kvHeads` KV heads, its intermediate values kept for
/// the gradient.
class Attention {
public:
  Attention(const JointLayer &l, int64_t kvHeads)
      : l(l), hkv(kvHeads), tokens(l.batch * l.length), keys(l.keyLength()),
        kvIn(l.cross() ? l.kvInputWidth : l.inputWidth),
        kvRows(l.cross() ? l.kvWindows * keys : tokens),
        kvShared(l.cross() && l.kvWindows == 1) {}

  /// What K and V project: [kvRows, kvIn].
  const float *kvInput() const {
    return l.cross() ? l.kvInput.data() : l.input.data();
  }
  /// The first K/V row of window b.
  int64_t kvRow(int64_t b) const { return kvShared ? 0 : b * keys; }

  /// Y = the attention output with the float weights set in wq..wo; with
  /// `bf16`, its products take bf16 inputs.
  void forward(bool bf16 = false) {
    int64_t in = l.inputWidth, d = l.headDim, dv = l.valueDim;
    int64_t hq = l.qHeads, s = l.length, t = keys, group = hq / hkv;
    const float *h = l.input.data(), *e = kvInput();
    GemmFn sgemm = bf16 ? sgemmBf16 : attn::calib::sgemm;
    GemmFn sgemmParallel =
        bf16 ? sgemmBf16Parallel : attn::calib::sgemmParallel;
    q.resize(tokens * hq * d);
    k.resize(kvRows * hkv * d);
    v.resize(kvRows * hkv * dv);
    sgemmParallel(false, true, tokens, hq * d, in, h, in, wq, in,
                  q.data(), hq * d, false);
    sgemmParallel(false, true, kvRows, hkv * d, kvIn, e, kvIn, wk, kvIn,
                  k.data(), hkv * d, false);
    sgemmParallel(false, true, kvRows, hkv * dv, kvIn, e, kvIn, wv, kvIn,
                  v.data(), hkv * dv, false);
    rotate(q, l, hq, false);
    rotate(k, l, hkv, false);
    p.resize(l.batch * hq * s * t);
    ctx.resize(tokens * hq * dv);
    parallelChunks(l.batch * hq, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        int64_t b = i / hq, head = i % hq, r = head / group;
        float *pr = &p[i * s * t];
        const float *bias = &l.bias[i * s * t];
        sgemm(false, true, s, t, d, &q[(b * s * hq + head) * d], hq * d,
              &k[(kvRow(b) * hkv + r) * d], hkv * d, pr, t, false);
        softmaxRows(pr, bias, s, t, static_cast<float>(l.scale));
        sgemm(false, false, s, dv, t, pr, t, &v[(kvRow(b) * hkv + r) * dv],
              hkv * dv, &ctx[(b * s * hq + head) * dv], hq * dv, false);
      }
    });
    y.resize(tokens * l.outWidth);
    sgemmParallel(false, false, tokens, l.outWidth, hq * dv, ctx.data(),
                  hq * dv, wo, l.outWidth, y.data(), l.outWidth, false);
  }

  /// The weights' gradients (gq..go) given dL/dY = `g` [tokens, outWidth],
  /// after forward().
  void backward(const std::vector<float> &g, bool bf16 = false) {
    int64_t in = l.inputWidth, d = l.headDim, dv = l.valueDim;
    int64_t hq = l.qHeads, s = l.length, t = keys, group = hq / hkv;
    int64_t out = l.outWidth;
    GemmFn sgemm = bf16 ? sgemmBf16 : attn::calib::sgemm;
    GemmFn sgemmParallel =
        bf16 ? sgemmBf16Parallel : attn::calib::sgemmParallel;
    go.resize(hq * dv * out);
    sgemmParallel(true, false, hq * dv, out, tokens, ctx.data(), hq * dv,
                  g.data(), out, go.data(), out, false);
    dctx.resize(tokens * hq * dv);
    dq.resize(tokens * hq * d);
    // dK and dV per window (a shared K/V input's are summed below).
    int64_t kvTokens = l.batch * t;
    dk.assign(kvTokens * hkv * d, 0.0f);
    dvv.assign(kvTokens * hkv * dv, 0.0f);
    sgemmParallel(false, true, tokens, hq * dv, out, g.data(), out, wo,
                  out, dctx.data(), hq * dv, false);
    // One task per (window, KV head): the heads of its group add into the
    // same dK and dV rows.
    parallelChunks(l.batch * hkv, [&](int64_t i0, int64_t i1) {
      std::vector<float> ds(s * t);
      for (int64_t i = i0; i < i1; ++i) {
        int64_t b = i / hkv, r = i % hkv;
        float *kr = &k[(kvRow(b) * hkv + r) * d];
        float *vr = &v[(kvRow(b) * hkv + r) * dv];
        float *dkr = &dk[(b * t * hkv + r) * d];
        float *dvr = &dvv[(b * t * hkv + r) * dv];
        for (int64_t head = r * group; head < (r + 1) * group; ++head) {
          const float *pr = &p[(b * hq + head) * s * t];
          const float *dc = &dctx[(b * s * hq + head) * dv];
          const float *qh = &q[(b * s * hq + head) * d];
          sgemm(false, true, s, t, dv, dc, hq * dv, vr, hkv * dv, ds.data(), t, false);
          sgemm(true, false, t, dv, s, pr, t, dc, hq * dv, dvr, hkv * dv,
                /*accumulate=*/true);
          for (int64_t row = 0; row < s; ++row) {
            float *x = &ds[row * t];
            const float *pp = pr + row * t;
            double dot = 0.0;
            for (int64_t j = 0; j < t; ++j)
              dot += static_cast<double>(x[j]) * pp[j];
            float c = static_cast<float>(dot);
            for (int64_t j = 0; j < t; ++j)
              x[j] = pp[j] * (x[j] - c) * static_cast<float>(l.scale);
          }
          sgemm(false, false, s, d, t, ds.data(), t, kr, hkv * d,
                &dq[(b * s * hq + head) * d], hq * d, false);
          sgemm(true, false, t, d, s, ds.data(), t, qh, hq * d, dkr, hkv * d,
                /*accumulate=*/true);
        }
      }
    });
    if (kvShared) // every window read the same K/V rows: their sum
      for (std::vector<float> *g : {&dk, &dvv}) {
        int64_t n = g->size() / l.batch;
        parallelChunks(n, [&](int64_t j0, int64_t j1) {
          for (int64_t b = 1; b < l.batch; ++b)
            for (int64_t j = j0; j < j1; ++j)
              (*g)[j] += (*g)[b * n + j];
        });
      }
    rotate(dq, l, hq, true);
    rotate(dk, l, hkv, true);
    const float *h = l.input.data(), *e = kvInput();
    gq.resize(hq * d * in);
    gk.resize(hkv * d * kvIn);
    gv.resize(hkv * dv * kvIn);
    sgemmParallel(true, false, hq * d, in, tokens, dq.data(), hq * d, h, in,
                  gq.data(), in, false);
    sgemmParallel(true, false, hkv * d, kvIn, kvRows, dk.data(), hkv * d, e,
                  kvIn, gk.data(), kvIn, false);
    sgemmParallel(true, false, hkv * dv, kvIn, kvRows, dvv.data(), hkv * dv, e,
                  kvIn, gv.data(), kvIn, false);
  }

  const JointLayer &l;
  int64_t hkv, tokens;
  /// Keys per window, K/V input width and rows; whether every window reads
  /// the same K/V rows.
  int64_t keys, kvIn, kvRows;
  bool kvShared;
  /// The weights (forward() reads them): rows as JointWeights has them.
  const float *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;
  std::vector<float> q, k, v, p, ctx, y;
  std::vector<float> gq, gk, gv, go;
  /// backward()'s temporaries, kept between calls (no allocation per step).
  std::vector<float> dctx, dq, dk, dvv;
};

/// Points `a`'s weights at the four matrices packed one after the other
/// in `x` (query, key, value, output; `w`'s sizes).
void pointWeights(Attention &a, const float *x, const JointWeights &w) {
  a.wq = x;
  a.wk = a.wq + w.query.size();
  a.wv = a.wk + w.key.size();
  a.wo = a.wv + w.value.size();
}

/// The four matrices of `w` as float, packed one after the other.
std::vector<float> packFloats(const JointWeights &w) {
  std::vector<float> x;
  for (const std::vector<double> *m : {&w.query, &w.key, &w.value, &w.output})
    x.insert(x.end(), m->begin(), m->end());
  return x;
}

double squaredNorm(const std::vector<double> &x) {
  double s = 0.0;
  for (double v : x)
    s += v * v;
  return s;
}

/// The fit's objective over the four weights packed into one vector.
class Objective {
public:
  Objective(const JointLayer &l, const std::vector<float> &target,
            const JointWeights &start, double ridge)
      : attention(l, start.kvHeads), target(target), start(start),
        startFloats(packFloats(start)), ridge(ridge) {
    double t = 0.0;
    for (float v : target)
      t += static_cast<double>(v) * v;
    targetScale = t > 0.0 ? 1.0 / t : 1.0;
    for (const std::vector<double> *m : parts(start)) {
      double n = squaredNorm(*m);
      partScale.push_back(n > 0.0 ? 1.0 / n : 1.0);
    }
  }

  static std::vector<const std::vector<double> *> parts(const JointWeights &w) {
    return {&w.query, &w.key, &w.value, &w.output};
  }

  std::vector<float> pack(const JointWeights &w) const {
    return packFloats(w);
  }

  JointWeights unpack(const std::vector<float> &x) const {
    JointWeights w = start;
    size_t at = 0;
    for (std::vector<double> *m : {&w.query, &w.key, &w.value, &w.output}) {
      std::copy(x.begin() + at, x.begin() + at + m->size(), m->begin());
      at += m->size();
    }
    return w;
  }

  /// The relative squared output error of `w` (no ridge).
  double error(const JointWeights &w) {
    std::vector<float> x = packFloats(w);
    pointWeights(attention, x.data(), start);
    attention.forward();
    return residual(nullptr);
  }

  /// f(x) and its gradient, x the four matrices packed (pack()); the
  /// attention reads x in place.
  double operator()(const std::vector<float> &x, std::vector<float> &grad) {
    ++evaluations;
    pointWeights(attention, x.data(), start);
    Bf16Products bf16 = bf16Products();
    attention.forward(bf16.forward);
    dy.resize(target.size());
    double f = residual(&dy);
    attention.backward(dy, bf16.backward);
    grad.resize(x.size());
    size_t at = 0;
    const std::vector<float> *grads[] = {&attention.gq, &attention.gk,
                                         &attention.gv, &attention.go};
    std::vector<const std::vector<double> *> startParts = parts(start);
    for (size_t m = 0; m < 4; ++m) {
      size_t n = startParts[m]->size();
      double c = ridge * partScale[m];
      float c2 = static_cast<float>(2.0 * c);
      const float *gm = grads[m]->data(), *s0 = &startFloats[at],
                  *xm = &x[at];
      float *gr = &grad[at];
      double penalty = ridgeGradient(gr, gm, xm, s0, c2, n);
      f += c * penalty;
      at += n;
    }
    return f;
  }

  int evaluations = 0;

private:
  /// ||Y - T||^2 / ||T||^2; with `g`, its gradient with respect to Y.
  double residual(std::vector<float> *g) {
    const std::vector<float> &y = attention.y;
    double f = 0.0;
    for (size_t i = 0; i < y.size(); ++i) {
      double r = static_cast<double>(y[i]) - target[i];
      f += r * r;
      if (g)
        (*g)[i] = static_cast<float>(2.0 * targetScale * r);
    }
    return f * targetScale;
  }

  Attention attention;
  std::vector<float> dy; ///< dL/dY, kept between calls
  const std::vector<float> &target;
  const JointWeights &start;
  std::vector<float> startFloats; ///< start packed as float
  double ridge, targetScale = 1.0;
  std::vector<double> partScale;
};

/// L-BFGS with `memory` pairs (s, y) in the compact form of Byrd,
/// Nocedal and Schnabel: H = g I + [S gY] W [S^T; gY^T] with g = s.y / y.y
/// of the newest pair, W from R (s_i.y_j, i <= j), D = diag(s_i.y_i) and
/// Y^T Y. Per step one pass over the pairs computes S^T g and Y^T g (a
/// block of indices at a time, so the gradient is read once) and one
/// writes the direction: the pairs are read twice and the direction written
/// once, where the two-loop recursion reads and writes the direction once
/// per pair and loop. The new pair's column of R and row of Y^T Y come from
/// those products: s_i.y_new = s_i.g_new - s_i.g_old (y_new = g_new -
/// g_old). x, the gradient and the direction are float (x's rounding is
/// far below the bfloat16 rounding of the products' inputs), the pairs
/// `Pair` (float, or bfloat16 bits: half the memory traffic of the
/// two passes, the bulk of a step's; their products with each other are
/// those of the stored, rounded, vectors, so H stays symmetric positive
/// definite). The first step (and any step after a direction that does
/// not descend) is the gradient scaled to unit length, the others start at
/// 1; Armijo backtracking halves up to 20 times. Returns the steps taken.
template <typename Pair> class Lbfgs {
public:
  Lbfgs(size_t n, size_t memory)
      : n(n), m(memory), s(memory, std::vector<Pair>(n)),
        y(memory, std::vector<Pair>(n)), sNew(n), yNew(n), sy(m * m),
        yy(m * m), sg(m), yg(m), sgOld(m), ygOld(m) {}

  /// d = -H g; returns g.d.
  double direction(const std::vector<float> &g, std::vector<float> &d) {
    size_t k = count;
    std::vector<size_t> slots(k);
    for (size_t j = 0; j < k; ++j)
      slots[j] = (newest + m + 1 - k + j) % m; // oldest first
    // S^T g and Y^T g, blocks of 2048 indices.
    std::fill(sg.begin(), sg.end(), 0.0);
    std::fill(yg.begin(), yg.end(), 0.0);
    for (size_t i0 = 0; i0 < n; i0 += 2048) {
      size_t len = std::min<size_t>(2048, n - i0);
      for (size_t j = 0; j < k; ++j) {
        sg[slots[j]] += dot(&s[slots[j]][i0], &g[i0], len);
        yg[slots[j]] += dot(&y[slots[j]][i0], &g[i0], len);
      }
    }
    if (pending) { // the newest pair's column of R and row of Y^T Y
      for (size_t j = 0; j + 1 < k; ++j) {
        size_t i = slots[j];
        sy[i * m + newest] = sg[i] - sgOld[i];
        double v = yg[i] - ygOld[i];
        yy[i * m + newest] = yy[newest * m + i] = v;
      }
      pending = false;
    }
    sgOld = sg;
    ygOld = yg;
    if (k == 0) {
      for (size_t i = 0; i < n; ++i)
        d[i] = -g[i];
      return -dot(g.data(), g.data(), n);
    }
    double gamma = sy[newest * m + newest] / yy[newest * m + newest];
    // p = R^{-1} a (a = S^T g; R upper triangular in oldest-first order).
    std::vector<double> p(k), t(k), top(k), bottom(k);
    for (size_t jj = k; jj-- > 0;) {
      double v = sg[slots[jj]];
      for (size_t l = jj + 1; l < k; ++l)
        v -= sy[slots[jj] * m + slots[l]] * p[l];
      p[jj] = v / sy[slots[jj] * m + slots[jj]];
    }
    // t = (D + gamma Y^T Y) p - gamma b (b = Y^T g).
    for (size_t a = 0; a < k; ++a) {
      double v = sy[slots[a] * m + slots[a]] * p[a] - gamma * yg[slots[a]];
      for (size_t b = 0; b < k; ++b)
        v += gamma * yy[slots[a] * m + slots[b]] * p[b];
      t[a] = v;
    }
    // top = R^{-T} t (forward substitution), bottom = -p.
    for (size_t a = 0; a < k; ++a) {
      double v = t[a];
      for (size_t l = 0; l < a; ++l)
        v -= sy[slots[l] * m + slots[a]] * top[l];
      top[a] = v / sy[slots[a] * m + slots[a]];
      bottom[a] = -p[a];
    }
    // d = -(gamma g + S top + gamma Y bottom), with g.d, a block at a time.
    double slope = 0.0;
    std::vector<float> cs(k), cy(k);
    for (size_t j = 0; j < k; ++j) {
      cs[j] = static_cast<float>(-top[j]);
      cy[j] = static_cast<float>(-gamma * bottom[j]);
    }
    float cg = static_cast<float>(-gamma);
    for (size_t i0 = 0; i0 < n; i0 += 2048) {
      size_t i1 = std::min<size_t>(n, i0 + 2048);
      for (size_t i = i0; i < i1; ++i)
        d[i] = cg * g[i];
      for (size_t j = 0; j < k; ++j)
        axpy2(&d[i0], cs[j], &s[slots[j]][i0], cy[j], &y[slots[j]][i0],
              i1 - i0);
      slope += dot(&g[i0], &d[i0], i1 - i0);
    }
    return slope;
  }

  /// Drops every pair (after a direction that does not descend).
  void reset() {
    count = 0;
    pending = false;
  }
  bool empty() const { return count == 0; }

  /// Keeps (step d, g1 - g0) when it has positive curvature: the step
  /// from x0 to x1 = x0 + step d (x1 - x0 up to its double rounding).
  void push(double step, const std::vector<float> &d,
            const std::vector<float> &g0, const std::vector<float> &g1) {
    auto [curvature, yNorm] =
        makePair(sNew.data(), yNew.data(), static_cast<float>(step),
                 d.data(), g0.data(), g1.data(), n);
    if (!(curvature > 1e-12))
      return;
    size_t k = count == 0 ? 0 : (newest + 1) % m;
    s[k].swap(sNew);
    y[k].swap(yNew);
    sy[k * m + k] = curvature;
    yy[k * m + k] = yNorm;
    newest = k;
    count = std::min(m, count + 1);
    // Its products with the older pairs come from the next direction().
    pending = count > 1;
  }

private:
  size_t n, m;
  std::vector<std::vector<Pair>> s, y;
  std::vector<Pair> sNew, yNew;
  /// sy[i m + j] = s_i . y_j (i older than or equal to j), yy = Y^T Y, by
  /// ring slot.
  std::vector<double> sy, yy;
  std::vector<double> sg, yg, sgOld, ygOld; ///< S^T g, Y^T g; the previous
  size_t count = 0, newest = 0;
  bool pending = false;
};

/// How L-BFGS stores its pairs: $ATTN_LBFGS_PAIRS = "bf16" or "f32".
bool bf16Pairs() {
  static const bool bf16 = [] {
    const char *env = std::getenv("ATTN_LBFGS_PAIRS");
    std::string v = env ? env : "bf16";
    if (v != "bf16" && v != "f32") {
      std::fprintf(stderr,
                   "attn: ATTN_LBFGS_PAIRS=%s is not bf16 or f32; using "
                   "bf16\n",
                   v.c_str());
      v = "bf16";
    }
    return v == "bf16";
  }();
  return bf16;
}

template <typename Pair>
int lbfgs(Objective &fg, std::vector<float> &x, double &f, int iterations,
          size_t memory) {
  size_t n = x.size();
  std::vector<float> g, gn, d(n);
  f = fg(x, g);
  Lbfgs<Pair> history(n, memory);
  std::vector<float> xn(n);
  int taken = 0;
  for (int it = 0; it < iterations; ++it) {
    double slope = history.direction(g, d);
    if (!(slope < 0.0)) {
      history.reset();
      slope = history.direction(g, d);
    }
    double step =
        history.empty() ? 1.0 / std::max(1e-12, std::sqrt(-slope)) : 1.0;
    double fn = 0.0;
    bool accepted = false;
    for (int halving = 0; halving < 20; ++halving) {
      stepTo(xn.data(), x.data(), static_cast<float>(step), d.data(), n);
      fn = fg(xn, gn);
      if (std::isfinite(fn) && fn <= f + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted)
      break;
    history.push(step, d, g, gn);
    x.swap(xn);
    g.swap(gn);
    f = fn;
    ++taken;
  }
  return taken;
}

int lbfgs(Objective &fg, std::vector<float> &x, double &f, int iterations) {
  const size_t memory = 10;
  return bf16Pairs() ? lbfgs<uint16_t>(fg, x, f, iterations, memory)
                     : lbfgs<float>(fg, x, f, iterations, memory);
}

} // namespace

std::vector<float> attn::calib::jointOutput(const JointLayer &layer,
                                            const JointWeights &weights) {
  Attention a(layer, weights.kvHeads);
  std::vector<float> x = packFloats(weights);
  pointWeights(a, x.data(), weights);
  a.forward();
  return std::move(a.y);
}

double attn::calib::jointObjective(const JointLayer &layer,
                                   const std::vector<float> &target,
                                   const JointWeights &start,
                                   const JointWeights &at, double ridge,
                                   JointWeights *gradient) {
  Objective objective(layer, target, start, ridge);
  std::vector<float> g;
  double f = objective(objective.pack(at), g);
  if (gradient)
    *gradient = objective.unpack(g);
  return f;
}

JointFitResult attn::calib::fitJoint(const JointLayer &layer,
                                     const std::vector<float> &target,
                                     const JointWeights &start,
                                     const JointWeights &init, int iterations,
                                     double ridge, bool errors) {
  Objective objective(layer, target, start, ridge);
  JointFitResult result;
  const double none = std::numeric_limits<double>::quiet_NaN();
  result.startError = errors ? objective.error(start) : none;
  std::vector<float> x = objective.pack(init.query.empty() ? start : init);
  double f = 0.0;
  result.iterations = lbfgs(objective, x, f, iterations);
  result.evaluations = objective.evaluations;
  result.weights = objective.unpack(x);
  result.error = errors ? objective.error(result.weights) : none;
  return result;
}
