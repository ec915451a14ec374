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
// $ATTN_LBFGS_PAIRS says, bfloat16 or float: Lbfgs.h; its vector loops:
// VectorKernels.cpp).
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/JointFit.h"

#include "attn/Calibration/FloatGemm.h"
#include "attn/Calibration/OutputSolve.h"

#include "Lbfgs.h"
#include "VectorKernels.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <string>

using namespace attn::calib;
namespace vec = attn::calib::vec;
using attn::calib::vec::ridgeGradient;
using attn::calib::vec::softmaxBackwardRows;
using attn::calib::vec::softmaxRows;

namespace {

/// Rotates each head of `x` [tokens, heads * D] by its token's phases
/// (inverse: by the opposite phases, which is RoPE's transpose); the
/// tokens [first, end) only when given.
void rotate(std::vector<float> &x, const JointLayer &l, int64_t heads,
            bool inverse, int64_t first = 0, int64_t end = -1) {
  if (l.cos.empty())
    return; // no rotation
  int64_t d = l.headDim, half = d / 2;
  int64_t tokens = (end < 0 ? l.batch * l.length : end) - first;
  float sign = inverse ? -1.0f : 1.0f;
  parallelChunks(tokens, [&](int64_t i0, int64_t i1) {
    for (int64_t t = first + i0; t < first + i1; ++t)
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

/// Whether the per-head products skip the blocks the bias masks
/// ($ATTN_FIT_SKIP_MASKED=0: they do not; the same sums either way).
bool skipMasked() {
  static const bool skip = [] {
    const char *env = std::getenv("ATTN_FIT_SKIP_MASKED");
    return !env || std::string(env) != "0";
  }();
  return skip;
}

/// Whether a line-search trial may stop after its first windows once their
/// residual alone fails the Armijo bound ($ATTN_FIT_EARLY_REJECT=0: not).
/// The same decisions either way: the residual is a sum of non-negative
/// terms (Objective::value).
bool earlyReject() {
  static const bool early = [] {
    const char *env = std::getenv("ATTN_FIT_EARLY_REJECT");
    return !env || std::string(env) != "0";
  }();
  return early;
}

/// Where each (window, query head)'s bias leaves keys unmasked (not -inf):
/// query i sees keys in [first[i], last[i]), key j is seen by queries in
/// [firstQuery[j], lastQuery[j]) (empty: [0, 0)). A causal mask's rows
/// are prefixes, its columns suffixes: the products' blocks above the
/// diagonal are zero (P, dS) or unneeded (the scores), which RowSupport
/// lets them skip.
class MaskSupport {
public:
  MaskSupport(const JointLayer &l) : s(l.length), t(l.keyLength()) {
    int64_t maps = l.batch * l.qHeads;
    spans.assign(maps * 2 * (s + t), 0);
    for (int64_t m = 0; m < maps; ++m) {
      int32_t *first = at(m), *last = first + s;
      int32_t *firstQuery = last + s, *lastQuery = firstQuery + t;
      std::fill(firstQuery, firstQuery + t, static_cast<int32_t>(s));
      for (int64_t i = 0; i < s; ++i) {
        const float *row = &l.bias[(m * s + i) * t];
        int64_t lo = t, hi = 0;
        for (int64_t j = 0; j < t; ++j)
          if (row[j] != -std::numeric_limits<float>::infinity()) {
            lo = std::min(lo, j);
            hi = j + 1;
            firstQuery[j] = std::min<int32_t>(firstQuery[j], i);
            lastQuery[j] = static_cast<int32_t>(i + 1);
          }
        first[i] = static_cast<int32_t>(lo < hi ? lo : 0);
        last[i] = static_cast<int32_t>(hi);
      }
      for (int64_t j = 0; j < t; ++j)
        if (lastQuery[j] == 0)
          firstQuery[j] = 0;
    }
  }
  /// Of window b's head h: the query rows' k (P V, dS K), the query rows'
  /// columns (Q K^T, dO V^T), the key rows' k (P^T dO, dS^T Q).
  RowSupport queryK(int64_t b, int64_t h, int64_t heads) const {
    const int32_t *first = at(b * heads + h);
    return {first, first + s, nullptr, nullptr};
  }
  RowSupport queryColumns(int64_t b, int64_t h, int64_t heads) const {
    const int32_t *first = at(b * heads + h);
    return {nullptr, nullptr, first, first + s};
  }
  RowSupport keyK(int64_t b, int64_t h, int64_t heads) const {
    const int32_t *firstQuery = at(b * heads + h) + 2 * s;
    return {firstQuery, firstQuery + t, nullptr, nullptr};
  }

private:
  int32_t *at(int64_t m) { return &spans[m * 2 * (s + t)]; }
  const int32_t *at(int64_t m) const { return &spans[m * 2 * (s + t)]; }
  int64_t s, t;
  std::vector<int32_t> spans;
};

/// The attention with `kvHeads` KV heads, its intermediate values kept for
/// the gradient.
class Attention {
public:
  Attention(const JointLayer &l, int64_t kvHeads)
      : l(l), hkv(kvHeads), tokens(l.batch * l.length), keys(l.keyLength()),
        kvIn(l.cross() ? l.kvInputWidth : l.inputWidth),
        kvRows(l.cross() ? l.kvWindows * keys : tokens),
        kvShared(l.cross() && l.kvWindows == 1) {
    if (skipMasked())
      mask.emplace(l);
    // Windows whose tokens fill whole register tiles (multiples of 96
    // rows: the f32, AVX512_BF16 and AMX tiles): forward() over those first
    // windows equals the whole one's rows (sgemmPackedRowsParallel). Self-
    // attention only (a cross-attention's K/V rows are not the windows').
    if (!l.cross() && l.batch > 1) {
      int64_t w = 1;
      while ((w * l.length) % 96 != 0 && w < l.batch)
        ++w;
      if ((w * l.length) % 96 == 0 && w < l.batch)
        firstWindows = w;
    }
  }

  /// What K and V project: [kvRows, kvIn].
  const float *kvInput() const {
    return l.cross() ? l.kvInput.data() : l.input.data();
  }
  /// The first K/V row of window b.
  int64_t kvRow(int64_t b) const { return kvShared ? 0 : b * keys; }

  /// Y = the attention output with the float weights set in wq..wo; with
  /// `bf16`, its products take bf16 inputs. Windows [b0, b1) only when
  /// given: b0 and b1 multiples of firstWindows or b1 the last (self-
  /// attention; the rows equal the whole forward's). `contextsOnly`: up to
  /// the contexts (ctx), without Y (project() makes it).
  void forward(bool bf16 = false, int64_t b0 = 0, int64_t b1 = -1,
               bool contextsOnly = false) {
    int64_t d = l.headDim, dv = l.valueDim;
    int64_t hq = l.qHeads, s = l.length, t = keys, group = hq / hkv;
    if (b1 < 0)
      b1 = l.batch;
    bool whole = b0 == 0 && b1 == l.batch;
    const Inputs &x = inputs(bf16);
    q.resize(tokens * hq * d);
    k.resize(kvRows * hkv * d);
    v.resize(kvRows * hkv * dv);
    if (whole) {
      sgemmPackedParallel(x.hLeft, true, hq * d, wq, l.inputWidth, q.data(),
                          hq * d);
      sgemmPackedParallel(x.eLeft(), true, hkv * d, wk, kvIn, k.data(),
                          hkv * d);
      sgemmPackedParallel(x.eLeft(), true, hkv * dv, wv, kvIn, v.data(),
                          hkv * dv);
      rotate(q, l, hq, false);
      rotate(k, l, hkv, false);
    } else { // self-attention: the K/V rows are the windows' tokens
      int64_t r0 = b0 * s, r1 = b1 * s;
      sgemmPackedRowsParallel(x.hLeft, r0, r1, true, hq * d, wq, l.inputWidth,
                              &q[r0 * hq * d], hq * d);
      sgemmPackedRowsParallel(x.hLeft, r0, r1, true, hkv * d, wk, kvIn,
                              &k[r0 * hkv * d], hkv * d);
      sgemmPackedRowsParallel(x.hLeft, r0, r1, true, hkv * dv, wv, kvIn,
                              &v[r0 * hkv * dv], hkv * dv);
      rotate(q, l, hq, false, r0, r1);
      rotate(k, l, hkv, false, r0, r1);
    }
    p.resize(l.batch * hq * s * t);
    ctx.resize(tokens * hq * dv);
    // One task per (window, KV head): its K and V packed once for the
    // heads of its group.
    parallelChunks((b1 - b0) * hkv, [&](int64_t i0, int64_t i1) {
      GemmOperand kT, vOp;
      for (int64_t i = i0; i < i1; ++i) {
        int64_t b = b0 + i / hkv, r = i % hkv;
        kT.setRight(bf16, true, d, t, &k[(kvRow(b) * hkv + r) * d], hkv * d);
        vOp.setRight(bf16, false, t, dv, &v[(kvRow(b) * hkv + r) * dv],
                     hkv * dv);
        for (int64_t head = r * group; head < (r + 1) * group; ++head) {
          float *pr = &p[(b * hq + head) * s * t];
          const float *bias = &l.bias[(b * hq + head) * s * t];
          RowSupport columns, k;
          if (mask) {
            columns = mask->queryColumns(b, head, hq);
            k = mask->queryK(b, head, hq);
          }
          sgemmPacked(false, s, &q[(b * s * hq + head) * d], hq * d, kT, pr,
                      t, false, columns);
          softmaxRows(pr, bias, s, t, static_cast<float>(l.scale));
          sgemmPacked(false, s, pr, t, vOp, &ctx[(b * s * hq + head) * dv],
                      hq * dv, false, k);
        }
      }
    });
    if (!contextsOnly)
      project(bf16, b0, b1);
  }

  /// Y = the contexts times wo for windows [b0, b1) (forward()'s last
  /// product; again after wo changed, e.g. to the solved output
  /// projection).
  void project(bool bf16 = false, int64_t b0 = 0, int64_t b1 = -1) {
    int64_t hq = l.qHeads, dv = l.valueDim, s = l.length;
    if (b1 < 0)
      b1 = l.batch;
    GemmFn sgemmParallel =
        bf16 ? sgemmBf16Parallel : attn::calib::sgemmParallel;
    y.resize(tokens * l.outWidth);
    sgemmParallel(false, false, (b1 - b0) * s, l.outWidth, hq * dv,
                  &ctx[b0 * s * hq * dv], hq * dv, wo, l.outWidth,
                  &y[b0 * s * l.outWidth], l.outWidth, false);
  }

  /// The weights' gradients (gq..go) given dL/dY = `g` [tokens, outWidth],
  /// after forward(); without `outputGradient`, go is left as it was (a
  /// solved O needs none: the largest product of the step saved).
  void backward(const std::vector<float> &g, bool bf16 = false,
                bool outputGradient = true) {
    int64_t in = l.inputWidth, d = l.headDim, dv = l.valueDim;
    int64_t hq = l.qHeads, s = l.length, t = keys, group = hq / hkv;
    int64_t out = l.outWidth;
    // P^T dO and dS^T Q: over the queries that see the key row.
    auto keyRowsProduct = [&](int64_t n, const float *a, const float *b,
                              int64_t ldb, float *c, int64_t ldc,
                              const RowSupport &support) {
      if (bf16)
        sgemmBf16Sparse(true, false, t, n, s, a, t, b, ldb, c, ldc,
                        /*accumulate=*/true, support);
      else
        attn::calib::sgemm(true, false, t, n, s, a, t, b, ldb, c, ldc,
                           /*accumulate=*/true);
    };
    GemmFn sgemmParallel =
        bf16 ? sgemmBf16Parallel : attn::calib::sgemmParallel;
    go.resize(hq * dv * out);
    if (outputGradient)
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
      GemmOperand vT, kOp; // the group's V^T and K, packed once
      for (int64_t i = i0; i < i1; ++i) {
        int64_t b = i / hkv, r = i % hkv;
        float *kr = &k[(kvRow(b) * hkv + r) * d];
        float *vr = &v[(kvRow(b) * hkv + r) * dv];
        float *dkr = &dk[(b * t * hkv + r) * d];
        float *dvr = &dvv[(b * t * hkv + r) * dv];
        vT.setRight(bf16, true, dv, t, vr, hkv * dv);
        kOp.setRight(bf16, false, t, d, kr, hkv * d);
        for (int64_t head = r * group; head < (r + 1) * group; ++head) {
          const float *pr = &p[(b * hq + head) * s * t];
          const float *dc = &dctx[(b * s * hq + head) * dv];
          const float *qh = &q[(b * s * hq + head) * d];
          RowSupport columns, k, keyK;
          if (mask) {
            columns = mask->queryColumns(b, head, hq);
            k = mask->queryK(b, head, hq);
            keyK = mask->keyK(b, head, hq);
          }
          sgemmPacked(false, s, dc, hq * dv, vT, ds.data(), t, false,
                      columns);
          keyRowsProduct(dv, pr, dc, hq * dv, dvr, hkv * dv, keyK);
          softmaxBackwardRows(ds.data(), pr, s, t,
                              static_cast<float>(l.scale));
          sgemmPacked(false, s, ds.data(), t, kOp,
                      &dq[(b * s * hq + head) * d], hq * d, false, k);
          keyRowsProduct(d, ds.data(), qh, hq * d, dkr, hkv * d, keyK);
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
    const Inputs &x = inputs(bf16);
    gq.resize(hq * d * in);
    gk.resize(hkv * d * kvIn);
    gv.resize(hkv * dv * kvIn);
    sgemmPackedParallel(true, hq * d, dq.data(), hq * d, x.hRight, gq.data(),
                        in);
    sgemmPackedParallel(true, hkv * d, dk.data(), hkv * d, x.eRight(),
                        gk.data(), kvIn);
    sgemmPackedParallel(true, hkv * dv, dvv.data(), hkv * dv, x.eRight(),
                        gv.data(), kvIn);
  }

  /// The fixed inputs as operands of the products (packed once per
  /// attention for the bf16 ones): H on the left of Q = H Wq^T, on the
  /// right of gQ = dQ^T H; a cross-attention's K/V input E as well.
  struct Inputs {
    GemmOperand hLeft, hRight, kvLeft, kvRight;
    bool cross = false, ready = false;
    const GemmOperand &eLeft() const { return cross ? kvLeft : hLeft; }
    const GemmOperand &eRight() const { return cross ? kvRight : hRight; }
  };
  const Inputs &inputs(bool bf16) {
    Inputs &x = operands[bf16];
    if (x.ready)
      return x;
    int64_t in = l.inputWidth;
    x.hLeft.setLeft(bf16, false, tokens, in, l.input.data(), in);
    x.hRight.setRight(bf16, false, tokens, in, l.input.data(), in);
    x.cross = l.cross();
    if (x.cross) {
      x.kvLeft.setLeft(bf16, false, kvRows, kvIn, kvInput(), kvIn);
      x.kvRight.setRight(bf16, false, kvRows, kvIn, kvInput(), kvIn);
    }
    x.ready = true;
    return x;
  }
  Inputs operands[2]; ///< f32 products, bf16 ones

  const JointLayer &l;
  int64_t hkv, tokens;
  /// Keys per window, K/V input width and rows; whether every window reads
  /// the same K/V rows.
  int64_t keys, kvIn, kvRows;
  bool kvShared;
  std::optional<MaskSupport> mask; ///< unset: the products run in full
  /// The first windows forward() may run alone (whole register tiles);
  /// 0: none.
  int64_t firstWindows = 0;
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
            const JointWeights &start, const JointRidge &ridge)
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
    double f = value(x);
    gradient(grad);
    return f;
  }

  /// f(x) alone (a line search's trial); gradient() gives its gradient
  /// while x is unchanged and no other value() ran since. With a finite
  /// `bound` (the trial's Armijo bound) it may return a value above
  /// `bound` and below f(x) (then gradient() may not follow): the
  /// residual's sum over the first windows (attention.firstWindows) when
  /// it already exceeds it. The residual adds non-negative terms in the
  /// same order, so its partial sum, scaled and plus the same ridge terms,
  /// never exceeds f(x) (rounding is monotonic): the same decision as f.
  double value(const std::vector<float> &x,
               double bound = std::numeric_limits<double>::infinity()) {
    ++evaluations;
    at = &x;
    pointWeights(attention, x.data(), start);
    std::array<double, 4> ridgeTerm = ridgeTerms(x);
    auto withRidge = [&](double f) { return plusRidge(f, ridgeTerm); };
    dy.resize(target.size());
    bool bf16 = bf16Products().forward;
    int64_t first = attention.firstWindows, batch = attention.l.batch;
    if (std::isfinite(bound) && first > 0 && earlyReject()) {
      // `first` windows at a time, the bound checked after each but the
      // last.
      size_t rowWidth = attention.l.length * attention.l.outWidth;
      double sum = 0.0;
      for (int64_t b0 = 0; b0 < batch; b0 += first) {
        int64_t b1 = b0 + first + first <= batch ? b0 + first : batch;
        attention.forward(bf16, b0, b1);
        sum = residualSum(&dy, b0 * rowWidth, b1 * rowWidth, sum);
        if (b1 == batch)
          break;
        double partial = withRidge(sum * targetScale);
        if (partial > bound) {
          ++earlyRejections;
          at = nullptr;
          return partial;
        }
      }
      return withRidge(sum * targetScale);
    }
    attention.forward(bf16);
    return withRidge(residual(&dy));
  }

  /// value() with x's output projection first replaced by the one that
  /// minimises the objective for x's Q, K and V (`solver`'s; kept as it
  /// was when the system is singular). No early rejection: the solve needs
  /// every window's contexts.
  double valueSolvingOutput(std::vector<float> &x, OutputSolver &solver) {
    ++evaluations;
    at = &x;
    pointWeights(attention, x.data(), start);
    attention.forward(bf16Products().forward, 0, -1, /*contextsOnly=*/true);
    return solveOutputAndProject(x, solver);
  }

  /// After a value() at x that ran every window (not stopped early): x's
  /// output projection replaced by the solved one for the contexts that
  /// forward left, Y and the residual redone; the objective there.
  double valueResolvingOutput(std::vector<float> &x, OutputSolver &solver) {
    assert(at == &x && "valueResolvingOutput() after value() at x");
    return solveOutputAndProject(x, solver);
  }

  /// The solve on the attention's contexts into x's O, then Y, dL/dY and
  /// the objective.
  double solveOutputAndProject(std::vector<float> &x, OutputSolver &solver) {
    solver.solve(attention.ctx.data(), &x[outputOffset()]);
    attention.project(bf16Products().forward);
    dy.resize(target.size());
    double f = residual(&dy);
    return plusRidge(f, ridgeTerms(x));
  }

  /// Where the output projection starts in x, and its mu in
  /// OutputSolver's scale (the objective times ||T||^2).
  size_t outputOffset() const {
    return start.query.size() + start.key.size() + start.value.size();
  }
  double outputMu() const { return ridge.output * partScale[3] / targetScale; }
  const std::vector<float> &startPacked() const { return startFloats; }

  /// The ridge penalty of each of x's four matrices (0 for a fixed one).
  std::array<double, 4> ridgeTerms(const std::vector<float> &x) const {
    std::array<double, 4> terms{};
    size_t offset = 0;
    std::vector<const std::vector<double> *> startParts = parts(start);
    for (size_t m = 0; m < 4; ++m) {
      size_t n = startParts[m]->size();
      double r = ridge.of(static_cast<int>(m));
      if (!std::isinf(r)) // a fixed matrix has no penalty
        terms[m] = r * partScale[m] *
                   vec::ridgePenalty(&x[offset], &startFloats[offset], n);
      offset += n;
    }
    return terms;
  }
  /// f plus the penalties, in the matrices' order.
  double plusRidge(double f, const std::array<double, 4> &terms) const {
    for (size_t m = 0; m < 4; ++m)
      if (!std::isinf(ridge.of(static_cast<int>(m))))
        f += terms[m];
    return f;
  }

  /// The gradient at the last value()'s x; without `output`, its O part is
  /// 0 (the solved-output fit reads Q, K and V's only).
  void gradient(std::vector<float> &grad, bool output = true) {
    assert(at && "gradient() after a trial value() stopped early");
    const std::vector<float> &x = *at;
    attention.backward(dy, bf16Products().backward, output);
    grad.resize(x.size());
    size_t offset = 0;
    const std::vector<float> *grads[] = {&attention.gq, &attention.gk,
                                         &attention.gv, &attention.go};
    std::vector<const std::vector<double> *> startParts = parts(start);
    for (size_t m = 0; m < 4; ++m) {
      size_t n = startParts[m]->size();
      double r = ridge.of(static_cast<int>(m));
      if (std::isinf(r) || (m == 3 && !output)) { // fixed, or not asked for
        std::fill(grad.begin() + offset, grad.begin() + offset + n, 0.0f);
        offset += n;
        continue;
      }
      double c = r * partScale[m];
      float c2 = static_cast<float>(2.0 * c);
      ridgeGradient(&grad[offset], grads[m]->data(), &x[offset],
                    &startFloats[offset], c2, n);
      offset += n;
    }
  }

  int evaluations = 0;
  /// Trials value() rejected after the first windows.
  int earlyRejections = 0;

private:
  /// ||Y - T||^2 / ||T||^2; with `g`, its gradient with respect to Y.
  double residual(std::vector<float> *g) {
    return residualSum(g, 0, attention.y.size(), 0.0) * targetScale;
  }
  /// `sum` plus the squared errors of Y's entries [i0, i1), in order
  /// (unscaled); with `g`, their entries of the gradient 2 (Y - T) /
  /// ||T||^2.
  double residualSum(std::vector<float> *g, size_t i0, size_t i1, double sum) {
    const std::vector<float> &y = attention.y;
    for (size_t i = i0; i < i1; ++i) {
      double r = static_cast<double>(y[i]) - target[i];
      sum += r * r;
      if (g)
        (*g)[i] = static_cast<float>(2.0 * targetScale * r);
    }
    return sum;
  }

  Attention attention;
  std::vector<float> dy; ///< dL/dY, kept between calls
  const std::vector<float> *at = nullptr; ///< the last value()'s x
  const std::vector<float> &target;
  const JointWeights &start;
  std::vector<float> startFloats; ///< start packed as float
  JointRidge ridge;
  double targetScale = 1.0;
  std::vector<double> partScale;
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

/// The objective over per-head maps of Q and O (--share-kv-fit-maps):
/// Wq_h = Mq_h Bq_h and Wo_h = Mo_h Bo_h (Mq_h [D, D], Mo_h [Dv, Dv], B
/// the base weights' rows of head h), K and V free; x packs Mq, K, V, Mo.
/// About a fifth of the free weights (SmolLM2-135M: 148k against 737k):
/// less to overfit on few calibration tokens (bench/RESULTS.md).
class MapObjective {
public:
  MapObjective(Objective &full, const JointLayer &l, const JointWeights &base)
      : full(full), base(packFloats(base)), hq(l.qHeads), d(l.headDim),
        dv(l.valueDim), in(l.inputWidth), out(l.outWidth),
        kv(base.key.size() + base.value.size()) {}

  /// x for the base itself: identity maps, the base's K and V.
  std::vector<float> identity() const {
    std::vector<float> x(hq * d * d + kv + hq * dv * dv, 0.0f);
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t i = 0; i < d; ++i)
        x[(h * d + i) * d + i] = 1.0f;
    std::copy(base.begin() + hq * d * in, base.begin() + hq * d * in + kv,
              x.begin() + hq * d * d);
    float *mo = &x[hq * d * d + kv];
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t i = 0; i < dv; ++i)
        mo[(h * dv + i) * dv + i] = 1.0f;
    return x;
  }

  /// The four matrices packed (Objective's x) for maps x.
  std::vector<float> weights(const std::vector<float> &x) const {
    std::vector<float> w(base.size());
    const float *bq = base.data(), *bo = &base[hq * d * in + kv];
    const float *mq = x.data(), *mo = &x[hq * d * d + kv];
    for (int64_t h = 0; h < hq; ++h) {
      sgemm(false, false, d, in, d, mq + h * d * d, d, bq + h * d * in, in,
            &w[h * d * in], in);
      sgemm(false, false, dv, out, dv, mo + h * dv * dv, dv,
            bo + h * dv * out, out, &w[hq * d * in + kv + h * dv * out], out);
    }
    std::copy(x.begin() + hq * d * d, x.begin() + hq * d * d + kv,
              w.begin() + hq * d * in);
    return w;
  }

  double operator()(const std::vector<float> &x, std::vector<float> &grad) {
    double f = value(x);
    gradient(grad);
    return f;
  }

  double value(const std::vector<float> &x,
               double bound = std::numeric_limits<double>::infinity()) {
    w = weights(x); // the attention reads it until the next value()
    size = x.size();
    return full.value(w, bound);
  }

  void gradient(std::vector<float> &grad) {
    full.gradient(gw);
    grad.resize(size);
    const float *bq = base.data(), *bo = &base[hq * d * in + kv];
    float *gq = grad.data(), *go = &grad[hq * d * d + kv];
    for (int64_t h = 0; h < hq; ++h) { // dM_h = dW_h B_h^T
      sgemm(false, true, d, d, in, &gw[h * d * in], in, bq + h * d * in, in,
            gq + h * d * d, d);
      sgemm(false, true, dv, dv, out, &gw[hq * d * in + kv + h * dv * out],
            out, bo + h * dv * out, out, go + h * dv * dv, dv);
    }
    std::copy(gw.begin() + hq * d * in, gw.begin() + hq * d * in + kv,
              grad.begin() + hq * d * d);
  }

private:
  Objective &full;
  std::vector<float> base, gw, w;
  size_t size = 0; ///< the maps' entries
  int64_t hq, d, dv, in, out, kv;
};

/// The objective over Q, K and V alone, the output projection solved
/// for each (--share-kv-solve-output=exact, variable projection): f(x) =
/// min over O of the full objective. By the envelope theorem its gradient
/// is the full objective's Q, K, V gradient at O*(x); no derivative of O*
/// is needed. x packs Q, K, V (Objective's x without O). With
/// `acceptedOnly` (SolveOutput::Accepted) a trial's value() is the full
/// objective at x with the O of the last accepted point (an upper bound of
/// f(x), equal at that point; it may stop early like the plain fit's), and
/// gradient(), which L-BFGS calls at accepted points only, solves O there
/// first; settledValue() is then f(x).
class OutputSolvedObjective {
public:
  OutputSolvedObjective(Objective &full, const std::vector<float> &from,
                        const std::vector<float> &target, const JointLayer &l,
                        bool acceptedOnly = false)
      : full(full), w(from), size(full.outputOffset()),
        acceptedOnly(acceptedOnly),
        solver(target.data(), l.batch * l.length, l.qHeads * l.valueDim,
               l.outWidth, full.startPacked().data() + full.outputOffset(),
               full.outputMu()) {}

  /// x for `from`'s Q, K and V.
  std::vector<float> initial() const {
    return std::vector<float>(w.begin(), w.begin() + size);
  }

  double operator()(const std::vector<float> &x, std::vector<float> &grad) {
    value(x);
    gradient(grad);
    return last;
  }

  /// Exact: the bound (a trial's Armijo bound) is not used: the solve
  /// needs every window, so a trial is always evaluated in full.
  /// Accepted: the full objective with the current O, `bound` as in
  /// Objective::value().
  double value(const std::vector<float> &x,
               double bound = std::numeric_limits<double>::infinity()) {
    std::copy(x.begin(), x.end(), w.begin());
    solved = !acceptedOnly;
    if (acceptedOnly)
      return last = full.value(w, bound);
    return last = full.valueSolvingOutput(w, solver);
  }

  void gradient(std::vector<float> &grad) {
    if (!solved) { // Accepted: O solved at the accepted point first
      last = full.valueResolvingOutput(w, solver);
      solved = true;
    }
    full.gradient(gw, /*output=*/false);
    grad.assign(gw.begin(), gw.begin() + size);
  }

  /// f at the last gradient()'s point (Lbfgs.h reads it after gradient()).
  double settledValue() const { return last; }

  /// The four matrices packed for x (its O solved).
  const std::vector<float> &weights(const std::vector<float> &x) {
    if (!solved || !std::equal(x.begin(), x.end(), w.begin())) {
      std::copy(x.begin(), x.end(), w.begin());
      last = full.valueSolvingOutput(w, solver);
      solved = true;
    }
    return w;
  }

  OutputSolver &outputSolver() { return solver; }

private:
  Objective &full;
  std::vector<float> w, gw; ///< the four matrices: x and its solved O
  size_t size;              ///< Q, K and V's entries
  bool acceptedOnly;
  bool solved = false; ///< w's O is the solved one for w's Q, K and V
  double last = 0.0;   ///< the last value()
  OutputSolver solver;
};

template <typename Function>
int lbfgs(Function &fg, std::vector<float> &x, double &f, int iterations,
          const std::function<void(int, const std::vector<float> &)> *watch,
          double *scale) {
  const size_t memory = 10;
  return bf16Pairs() ? attn::calib::lbfgs<uint16_t>(fg, x, f, iterations,
                                                    memory, watch, scale)
                     : attn::calib::lbfgs<float>(fg, x, f, iterations, memory,
                                                 watch, scale);
}

/// The held-out error of the fit's iterates (JointValidation): every
/// `every` steps and the last, and the best weights seen.
class HeldoutWatch {
public:
  HeldoutWatch(const JointValidation &v, const JointWeights &start,
               const JointRidge &ridge, int iterations)
      : v(v), iterations(iterations) {
    if (v.layer && v.target)
      objective.emplace(*v.layer, *v.target, start, ridge);
  }
  bool active() const { return objective.has_value(); }

  /// Records the held-out error of `w` after `steps` steps when due.
  void see(int steps, const JointWeights &w, bool last) {
    if (!active() || !(steps == 0 || last || steps % std::max(1, v.every) == 0))
      return;
    if (!heldout.empty() && heldout.back().first == steps)
      return;
    double e = objective->error(w);
    heldout.push_back({steps, e});
    if (v.keepBest && e < bestError) {
      bestError = e;
      best = w;
      bestSteps = steps;
    }
  }

  const JointValidation &v;
  int iterations;
  std::optional<Objective> objective;
  std::vector<std::pair<int, double>> heldout;
  double bestError = std::numeric_limits<double>::infinity();
  JointWeights best;
  int bestSteps = -1;
};

} // namespace

std::vector<float> attn::calib::jointOutput(const JointLayer &layer,
                                            const JointWeights &weights) {
  Attention a(layer, weights.kvHeads);
  std::vector<float> x = packFloats(weights);
  pointWeights(a, x.data(), weights);
  a.forward();
  return std::move(a.y);
}

double attn::calib::jointObjectiveSolvedOutput(
    const JointLayer &layer, const std::vector<float> &target,
    const JointWeights &start, const JointWeights &at, const JointRidge &ridge,
    JointWeights *solved, JointWeights *gradient) {
  Objective objective(layer, target, start, ridge);
  OutputSolvedObjective reduced(objective, objective.pack(at), target, layer);
  std::vector<float> x = reduced.initial(), g;
  double f = reduced(x, g);
  if (solved)
    *solved = objective.unpack(reduced.weights(x));
  if (gradient) {
    g.resize(objective.pack(at).size(), 0.0f); // O's: none
    *gradient = objective.unpack(g);
  }
  return f;
}

double attn::calib::crossValidatedOutputRidge(
    const JointLayer &layer, const std::vector<float> &target,
    const JointWeights &start, const JointWeights &at,
    const std::vector<double> &candidates, std::vector<double> *errors) {
  if (errors)
    errors->assign(candidates.size(), 0.0);
  if (layer.batch < 2 || candidates.size() < 2 || !layer.kvInput.empty())
    return candidates.empty() ? 0.0 : candidates[0];
  Attention a(layer, at.kvHeads);
  std::vector<float> x = packFloats(at);
  pointWeights(a, x.data(), at);
  a.forward(false, 0, -1, /*contextsOnly=*/true);
  int64_t width = layer.qHeads * layer.valueDim, out = layer.outWidth;
  int64_t rows = layer.batch * layer.length;
  int64_t half = (layer.batch / 2) * layer.length;
  std::vector<float> o0(start.output.begin(), start.output.end());
  double startNorm = 0.0;
  for (float v : o0)
    startNorm += double(v) * v;
  auto energy = [&](int64_t r0, int64_t r1) {
    double s = 0.0;
    for (int64_t i = r0 * out; i < r1 * out; ++i)
      s += double(target[i]) * target[i];
    return s;
  };
  // Fold f fits rows [fit0, fit1) and measures rows [test0, test1).
  const int64_t folds[2][4] = {{0, half, half, rows}, {half, rows, 0, half}};
  std::vector<float> o(width * out), y;
  double best = std::numeric_limits<double>::infinity();
  double chosen = candidates[0];
  for (size_t c = 0; c < candidates.size(); ++c) {
    double sum = 0.0;
    for (const auto &f : folds) {
      double mu = candidates[c] * energy(f[0], f[1]) /
                  (startNorm > 0.0 ? startNorm : 1.0);
      OutputSolver solver(&target[f[0] * out], f[1] - f[0], width, out,
                          o0.data(), mu);
      if (!solver.solve(&a.ctx[f[0] * width], o.data())) {
        sum = std::numeric_limits<double>::infinity();
        break;
      }
      int64_t n = f[3] - f[2];
      y.resize(n * out);
      sgemm(false, false, n, out, width, &a.ctx[f[2] * width], width,
            o.data(), out, y.data(), out);
      double e = 0.0;
      for (int64_t i = 0; i < n * out; ++i) {
        double r = double(y[i]) - target[f[2] * out + i];
        e += r * r;
      }
      sum += e / std::max(energy(f[2], f[3]), 1e-30);
    }
    if (errors)
      (*errors)[c] = sum;
    if (sum < best) {
      best = sum;
      chosen = candidates[c];
    }
  }
  return chosen;
}

double attn::calib::jointObjective(const JointLayer &layer,
                                   const std::vector<float> &target,
                                   const JointWeights &start,
                                   const JointWeights &at,
                                   const JointRidge &ridge,
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
                                     const JointRidge &ridge, bool errors,
                                     bool headMaps,
                                     const JointValidation &validation,
                                     double firstStep,
                                     SolveOutput solveOutput) {
  Objective objective(layer, target, start, ridge);
  JointFitResult result;
  const double none = std::numeric_limits<double>::quiet_NaN();
  result.startError = errors ? objective.error(start) : none;
  const JointWeights &from = init.query.empty() ? start : init;
  HeldoutWatch held(validation, start, ridge, iterations);
  held.see(0, from, false);
  double f = 0.0;
  result.stepScale = firstStep;
  // L-BFGS over a reparametrised objective (the per-head maps, or the one
  // whose output projection is solved) from x; obj.weights(x) packs the
  // four matrices.
  auto fitReparametrised = [&](auto &obj, std::vector<float> x) {
    std::function<void(int, const std::vector<float> &)> watch =
        [&](int steps, const std::vector<float> &at) {
          if (steps % std::max(1, validation.every) == 0 || steps == iterations)
            held.see(steps, objective.unpack(obj.weights(at)),
                     steps == iterations);
        };
    result.iterations = lbfgs(obj, x, f, iterations,
                              held.active() ? &watch : nullptr,
                              &result.stepScale);
    result.weights = objective.unpack(obj.weights(x));
  };
  if (headMaps) {
    MapObjective maps(objective, layer, from);
    fitReparametrised(maps, maps.identity());
  } else if (solveOutput != SolveOutput::Lbfgs && !std::isinf(ridge.output)) {
    OutputSolvedObjective solved(objective, objective.pack(from), target,
                                 layer, solveOutput == SolveOutput::Accepted);
    fitReparametrised(solved, solved.initial());
    result.outputSolves = solved.outputSolver().solves;
    result.outputSolveSeconds = solved.outputSolver().solveSeconds;
    result.outputProductSeconds = solved.outputSolver().productSeconds;
  } else {
    std::function<void(int, const std::vector<float> &)> watch =
        [&](int steps, const std::vector<float> &x) {
          if (steps % std::max(1, validation.every) == 0 || steps == iterations)
            held.see(steps, objective.unpack(x), steps == iterations);
        };
    std::vector<float> x = objective.pack(from);
    result.iterations = lbfgs(objective, x, f, iterations,
                              held.active() ? &watch : nullptr,
                              &result.stepScale);
    result.weights = objective.unpack(x);
  }
  held.see(result.iterations, result.weights, true);
  result.heldout = held.heldout;
  result.keptSteps = result.iterations;
  if (validation.keepBest && held.bestSteps >= 0 &&
      held.bestSteps != result.iterations) {
    result.weights = std::move(held.best);
    result.keptSteps = held.bestSteps;
  }
  result.evaluations = objective.evaluations;
  result.earlyRejections = objective.earlyRejections;
  result.error = errors ? objective.error(result.weights) : none;
  return result;
}
