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
// vectors are float64.
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
    sgemmParallel(false, true, tokens, hq * d, in, h, in, wq.data(), in,
                  q.data(), hq * d, false);
    sgemmParallel(false, true, kvRows, hkv * d, kvIn, e, kvIn, wk.data(),
                  kvIn, k.data(), hkv * d, false);
    sgemmParallel(false, true, kvRows, hkv * dv, kvIn, e, kvIn, wv.data(),
                  kvIn, v.data(), hkv * dv, false);
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
        for (int64_t row = 0; row < s; ++row) {
          float *x = pr + row * t;
          float top = -std::numeric_limits<float>::infinity();
          for (int64_t j = 0; j < t; ++j) {
            x[j] = static_cast<float>(l.scale) * x[j] + bias[row * t + j];
            top = std::max(top, x[j]);
          }
          if (!std::isfinite(top)) { // a row with every key masked
            std::fill(x, x + t, 0.0f);
            continue;
          }
          double sum = 0.0;
          for (int64_t j = 0; j < t; ++j) {
            x[j] = std::exp(x[j] - top);
            sum += x[j];
          }
          float inv = static_cast<float>(1.0 / sum);
          for (int64_t j = 0; j < t; ++j)
            x[j] *= inv;
        }
        sgemm(false, false, s, dv, t, pr, t, &v[(kvRow(b) * hkv + r) * dv],
              hkv * dv, &ctx[(b * s * hq + head) * dv], hq * dv, false);
      }
    });
    y.resize(tokens * l.outWidth);
    sgemmParallel(false, false, tokens, l.outWidth, hq * dv, ctx.data(),
                  hq * dv, wo.data(), l.outWidth, y.data(), l.outWidth, false);
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
    sgemmParallel(false, true, tokens, hq * dv, out, g.data(), out, wo.data(),
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
  std::vector<float> wq, wk, wv, wo;
  std::vector<float> q, k, v, p, ctx, y;
  std::vector<float> gq, gk, gv, go;
  /// backward()'s temporaries, kept between calls (no allocation per step).
  std::vector<float> dctx, dq, dk, dvv;
};

void setWeights(Attention &a, const JointWeights &w) {
  a.wq.assign(w.query.begin(), w.query.end());
  a.wk.assign(w.key.begin(), w.key.end());
  a.wv.assign(w.value.begin(), w.value.end());
  a.wo.assign(w.output.begin(), w.output.end());
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
        ridge(ridge) {
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

  std::vector<double> pack(const JointWeights &w) const {
    std::vector<double> x;
    for (const std::vector<double> *m : parts(w))
      x.insert(x.end(), m->begin(), m->end());
    return x;
  }

  JointWeights unpack(const std::vector<double> &x) const {
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
    setWeights(attention, w);
    attention.forward();
    return residual(nullptr);
  }

  /// f(x) and its gradient (float: it only shapes the steps).
  double operator()(const std::vector<double> &x, std::vector<float> &grad) {
    ++evaluations;
    // Straight from x to the float weights (no double copy per call).
    std::vector<float> *floats[] = {&attention.wq, &attention.wk,
                                    &attention.wv, &attention.wo};
    std::vector<const std::vector<double> *> shapes = parts(start);
    size_t at0 = 0;
    for (size_t m = 0; m < 4; ++m) {
      size_t n = shapes[m]->size();
      floats[m]->assign(x.begin() + at0, x.begin() + at0 + n);
      at0 += n;
    }
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
      const std::vector<double> &s0 = *startParts[m];
      double c = ridge * partScale[m];
      double penalty = 0.0;
      const float *gm = grads[m]->data();
      for (size_t i = 0; i < s0.size(); ++i) {
        double delta = x[at + i] - s0[i];
        penalty += delta * delta;
        grad[at + i] = static_cast<float>(gm[i] + 2.0 * c * delta);
      }
      f += c * penalty;
      at += s0.size();
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
  double ridge, targetScale = 1.0;
  std::vector<double> partScale;
};

typedef float Vec8 __attribute__((vector_size(32)));

/// sum a[i] * b[i]: float products summed in blocks of 512 by sixteen
/// float lanes (two vectors of eight: the loop is memory-bound), the
/// blocks' sums added in double.
double dot(const float *a, const float *b, size_t n) {
  double total = 0.0;
  size_t i = 0;
  for (; i + 512 <= n; i += 512) {
    Vec8 acc0 = {}, acc1 = {};
    for (size_t j = i; j < i + 512; j += 16) {
      Vec8 a0, a1, b0, b1;
      __builtin_memcpy(&a0, a + j, sizeof(Vec8));
      __builtin_memcpy(&a1, a + j + 8, sizeof(Vec8));
      __builtin_memcpy(&b0, b + j, sizeof(Vec8));
      __builtin_memcpy(&b1, b + j + 8, sizeof(Vec8));
      acc0 += a0 * b0;
      acc1 += a1 * b1;
    }
    Vec8 acc = acc0 + acc1;
    for (int k = 0; k < 8; ++k)
      total += acc[k];
  }
  for (; i < n; ++i)
    total += static_cast<double>(a[i]) * b[i];
  return total;
}

/// L-BFGS with `memory` pairs (s, y) in the compact form of Byrd,
/// Nocedal and Schnabel: H = g I + [S gY] W [S^T; gY^T] with g = s.y / y.y
/// of the newest pair, W from R (s_i.y_j, i <= j), D = diag(s_i.y_i) and
/// Y^T Y. Per step one pass over the pairs computes S^T g and Y^T g (a
/// block of indices at a time, so the gradient is read once) and one
/// writes the direction: the pairs are read twice and the direction written
/// once, where the two-loop recursion reads and writes the direction once
/// per pair and loop. The new pair's column of R and row of Y^T Y come from
/// those products: s_i.y_new = s_i.g_new - s_i.g_old (y_new = g_new -
/// g_old). x stays in double; the gradient, the direction and the pairs
/// are float (they only shape the steps).
/// The first step (and any step after a direction that does not descend) is
/// the gradient scaled to unit length, the others start at 1; Armijo
/// backtracking halves up to 20 times. Returns the steps taken.
class Lbfgs {
public:
  Lbfgs(size_t n, size_t memory)
      : n(n), m(memory), s(memory, std::vector<float>(n)),
        y(memory, std::vector<float>(n)), sNew(n), yNew(n), sy(m * m),
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
      for (size_t j = 0; j < k; ++j) {
        const float *sj = s[slots[j]].data(), *yj = y[slots[j]].data();
        float a = cs[j], b = cy[j];
        for (size_t i = i0; i < i1; ++i)
          d[i] += a * sj[i] + b * yj[i];
      }
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

  /// Keeps (x1 - x0, g1 - g0) when it has positive curvature.
  void push(const std::vector<double> &x0, const std::vector<double> &x1,
            const std::vector<float> &g0, const std::vector<float> &g1) {
    for (size_t i = 0; i < n; ++i) {
      sNew[i] = static_cast<float>(x1[i] - x0[i]);
      yNew[i] = g1[i] - g0[i];
    }
    double curvature = dot(sNew.data(), yNew.data(), n);
    if (!(curvature > 1e-12))
      return;
    size_t k = count == 0 ? 0 : (newest + 1) % m;
    s[k].swap(sNew);
    y[k].swap(yNew);
    sy[k * m + k] = curvature;
    yy[k * m + k] = dot(y[k].data(), y[k].data(), n);
    newest = k;
    count = std::min(m, count + 1);
    // Its products with the older pairs come from the next direction().
    pending = count > 1;
  }

private:
  size_t n, m;
  std::vector<std::vector<float>> s, y;
  std::vector<float> sNew, yNew;
  /// sy[i m + j] = s_i . y_j (i older than or equal to j), yy = Y^T Y, by
  /// ring slot.
  std::vector<double> sy, yy;
  std::vector<double> sg, yg, sgOld, ygOld; ///< S^T g, Y^T g; the previous
  size_t count = 0, newest = 0;
  bool pending = false;
};

int lbfgs(Objective &fg, std::vector<double> &x, double &f, int iterations,
          size_t memory = 10) {
  size_t n = x.size();
  std::vector<float> g, gn, d(n);
  f = fg(x, g);
  Lbfgs history(n, memory);
  std::vector<double> xn(n);
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
      for (size_t i = 0; i < n; ++i)
        xn[i] = x[i] + step * d[i];
      fn = fg(xn, gn);
      if (std::isfinite(fn) && fn <= f + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted)
      break;
    history.push(x, xn, g, gn);
    x.swap(xn);
    g.swap(gn);
    f = fn;
    ++taken;
  }
  return taken;
}

} // namespace

std::vector<float> attn::calib::jointOutput(const JointLayer &layer,
                                            const JointWeights &weights) {
  Attention a(layer, weights.kvHeads);
  setWeights(a, weights);
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
    *gradient = objective.unpack(std::vector<double>(g.begin(), g.end()));
  return f;
}

JointFitResult attn::calib::fitJoint(const JointLayer &layer,
                                     const std::vector<float> &target,
                                     const JointWeights &start,
                                     const JointWeights &init, int iterations,
                                     double ridge) {
  Objective objective(layer, target, start, ridge);
  JointFitResult result;
  result.startError = objective.error(start);
  std::vector<double> x =
      objective.pack(init.query.empty() ? start : init);
  double f = 0.0;
  result.iterations = lbfgs(objective, x, f, iterations);
  result.evaluations = objective.evaluations;
  result.weights = objective.unpack(x);
  result.error = objective.error(result.weights);
  return result;
}
