//===- Lbfgs.h - the joint fit's L-BFGS ----------------------*- C++ -*-===//
//
// Internal to lib/Calibration: L-BFGS in the compact form over a float
// vector, its pairs float or bfloat16 bits (JointFit.cpp's optimiser).
// Header-only templates; their vector loops are VectorKernels'.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CALIBRATION_LBFGS_H
#define ATTN_LIB_CALIBRATION_LBFGS_H

#include "VectorKernels.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

namespace attn::calib {

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
/// f at the point of fg's last gradient(): fg.settledValue() where fg has
/// one (an objective whose gradient() moves along the variables it
/// eliminates, e.g. the output projection solved at accepted points),
/// else `value`, the last value().
template <typename Function>
auto settledValue(Function &fg, double, int) -> decltype(fg.settledValue()) {
  return fg.settledValue();
}
template <typename Function>
double settledValue(Function &, double value, long) {
  return value;
}

template <typename Pair> class Lbfgs {
public:
  Lbfgs(size_t n, size_t memory)
      : n(n), m(memory), s(memory, Vector(n)), y(memory, Vector(n)),
        sNew(n), yNew(n), sy(m * m),
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
    // Each dot prefetches its pair's next block (a full one).
    for (size_t i0 = 0; i0 < n; i0 += 2048) {
      size_t len = std::min<size_t>(2048, n - i0);
      bool ahead = i0 + 2 * len <= n;
      for (size_t j = 0; j < k; ++j) {
        const Pair *sj = &s[slots[j]][i0], *yj = &y[slots[j]][i0];
        auto [sDot, yDot] =
            vec::dot2Ahead(sj, yj, &g[i0], len, ahead ? sj + len : nullptr,
                           ahead ? yj + len : nullptr);
        sg[slots[j]] += sDot;
        yg[slots[j]] += yDot;
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
      return -vec::dot(g.data(), g.data(), n);
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
    // The blocks run from the last: the pairs' last blocks, which the pass
    // above read last, are the likeliest still in the cache. g.d adds the
    // blocks' products from the first, as a forward pass would.
    std::vector<float> cs(k), cy(k);
    for (size_t j = 0; j < k; ++j) {
      cs[j] = static_cast<float>(-top[j]);
      cy[j] = static_cast<float>(-gamma * bottom[j]);
    }
    float cg = static_cast<float>(-gamma);
    size_t blocks = (n + 2047) / 2048;
    blockSlope.resize(blocks);
    for (size_t bi = blocks; bi-- > 0;) {
      size_t i0 = bi * 2048, i1 = std::min<size_t>(n, i0 + 2048);
      for (size_t i = i0; i < i1; ++i)
        d[i] = cg * g[i];
      // Each pair's previous block (a full one) prefetched meanwhile.
      for (size_t j = 0; j < k; ++j) {
        const Pair *sj = &s[slots[j]][i0], *yj = &y[slots[j]][i0];
        if (bi > 0)
          vec::axpy2Ahead(&d[i0], cs[j], sj, cy[j], yj, i1 - i0, sj - 2048,
                          yj - 2048);
        else
          vec::axpy2(&d[i0], cs[j], sj, cy[j], yj, i1 - i0);
      }
      blockSlope[bi] = vec::dot(&g[i0], &d[i0], i1 - i0);
    }
    double slope = 0.0;
    for (double v : blockSlope)
      slope += v;
    return slope;
  }

  /// Drops every pair (after a direction that does not descend).
  void reset() {
    count = 0;
    pending = false;
  }
  bool empty() const { return count == 0; }
  /// s.y / y.y of the newest pair (the scale of the next direction's
  /// initial inverse Hessian), 0 without one.
  double scale() const {
    return count ? sy[newest * m + newest] / yy[newest * m + newest] : 0.0;
  }

  /// Keeps (step d, g1 - g0) when it has positive curvature: the step
  /// from x0 to x1 = x0 + step d (x1 - x0 up to its double rounding).
  void push(double step, const std::vector<float> &d,
            const std::vector<float> &g0, const std::vector<float> &g1) {
    auto [curvature, yNorm] =
        vec::makePair(sNew.data(), yNew.data(), static_cast<float>(step),
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
  using Vector = std::vector<Pair>;
  size_t n, m;
  std::vector<Vector> s, y;
  Vector sNew, yNew;
  /// sy[i m + j] = s_i . y_j (i older than or equal to j), yy = Y^T Y, by
  /// ring slot.
  std::vector<double> sy, yy;
  std::vector<double> sg, yg, sgOld, ygOld; ///< S^T g, Y^T g; the previous
  std::vector<double> blockSlope; ///< direction()'s g.d per block
  size_t count = 0, newest = 0;
  bool pending = false;
};

/// Minimises fg (double fg(const std::vector<float> &x, std::vector<float>
/// &gradient); the line search's trials call double fg.value(x, bound),
/// which may return any value above a finite `bound` once it knows f(x)
/// exceeds it, and, at the accepted one, fg.gradient(gradient)) from x for
/// up to `iterations` steps with `memory` pairs stored as `Pair`; f gets the
/// final value. Returns the steps taken. `watch`, when set, sees x after each
/// step (its count, from 1). The first step (no pairs yet) tries the
/// unit-length move along -g, halving it until the Armijo condition holds, or,
/// when `scale` points to a positive value (a previous minimisation's scale(),
/// warm-starting it), the move -scale g first; `scale`, when set, gets this
/// run's last scale() (unchanged when it kept no pair).
template <typename Pair, typename Function>
int lbfgs(Function &fg, std::vector<float> &x, double &f, int iterations,
          size_t memory,
          const std::function<void(int, const std::vector<float> &)> *watch =
              nullptr,
          double *scale = nullptr) {
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
    double step = 1.0;
    if (history.empty())
      step = it == 0 && scale && *scale > 0.0
                 ? *scale
                 : 1.0 / std::max(1e-12, std::sqrt(-slope));
    double fn = 0.0;
    bool accepted = false;
    for (int halving = 0; halving < 20; ++halving) {
      vec::stepTo(xn.data(), x.data(), static_cast<float>(step), d.data(), n);
      double bound = f + 1e-4 * step * slope; // Armijo
      // A trial likely to fail (a first step's, or after a failed one)
      // gets the bound: fg may stop once it knows f(xn) exceeds it.
      bool likelyRejected = history.empty() || halving > 0;
      fn = fg.value(
          xn, likelyRejected ? bound : std::numeric_limits<double>::infinity());
      if (std::isfinite(fn) && fn <= bound) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted)
      break;
    fg.gradient(gn); // only at the accepted point
    history.push(step, d, g, gn);
    x.swap(xn);
    g.swap(gn);
    f = settledValue(fg, fn, 0);
    ++taken;
    if (watch)
      (*watch)(taken, x);
  }
  if (scale && !history.empty())
    *scale = history.scale();
  return taken;
}

} // namespace attn::calib

#endif // ATTN_LIB_CALIBRATION_LBFGS_H
