//===- OutputRefit.cpp - ridge refit of an attention's output projection --===//
//
// The layer-wise output fit of bench/share_kv_trained.py's `aligned+fit`:
// after its KV heads are shared, an attention's O projection is refitted so
// that the converted attention's output, projected, matches the original
// attention's output projected by the original weight, on calibration
// activations. Ridge toward the current weight keeps directions the
// calibration tokens do not excite where they were.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/KVSharing.h"

#include <cmath>

using namespace attn::calib;

namespace {

/// Lower Cholesky factor of the symmetric positive definite `a` [n, n]
/// (in place, upper part left as is); false when a pivot is not positive.
bool cholesky(std::vector<double> &a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int64_t k = 0; k < j; ++k)
      d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0.0))
      return false;
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (int64_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      const double *ri = &a[i * n], *rj = &a[j * n];
      for (int64_t k = 0; k < j; ++k)
        s -= ri[k] * rj[k];
      a[i * n + j] = s / d;
    }
  }
  return true;
}

} // namespace

std::vector<double> attn::calib::refitOutputProjection(
    const std::vector<float> &converted, const std::vector<float> &original,
    int64_t tokens, int64_t width, const std::vector<double> &weight,
    const std::vector<double> &start, int64_t outWidth, double ridge) {
  int64_t n = width, m = outWidth;
  // Gram G = F^T F and C = F^T O (O the original context), upper triangle
  // of G by rank-1 updates row by row.
  std::vector<double> g(n * n, 0.0), c(n * n, 0.0), f(n), o(n);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t i = 0; i < n; ++i) {
      f[i] = converted[t * n + i];
      o[i] = original[t * n + i];
    }
    for (int64_t i = 0; i < n; ++i) {
      double fi = f[i];
      if (fi == 0.0)
        continue;
      double *gi = &g[i * n], *ci = &c[i * n];
      for (int64_t j = i; j < n; ++j)
        gi[j] += fi * f[j];
      for (int64_t j = 0; j < n; ++j)
        ci[j] += fi * o[j];
    }
  }
  double trace = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    trace += g[i * n + i];
    for (int64_t j = 0; j < i; ++j)
      g[i * n + j] = g[j * n + i];
  }
  double lambda = ridge * trace / static_cast<double>(n);
  if (!(lambda > 0.0))
    lambda = 1e-12;
  for (int64_t i = 0; i < n; ++i)
    g[i * n + i] += lambda;
  // Right-hand side F^T Y + lambda W0 with Y = O W: (F^T O) W.
  std::vector<double> rhs(n * m, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double *ri = &rhs[i * m];
    for (int64_t k = 0; k < n; ++k) {
      double cik = c[i * n + k];
      if (cik == 0.0)
        continue;
      const double *wk = &weight[k * m];
      for (int64_t j = 0; j < m; ++j)
        ri[j] += cik * wk[j];
    }
    for (int64_t j = 0; j < m; ++j)
      ri[j] += lambda * start[i * m + j];
  }
  if (!cholesky(g, n))
    return start;
  // L L^T X = rhs: forward then backward substitution, all columns at once.
  for (int64_t i = 0; i < n; ++i) {
    double *ri = &rhs[i * m];
    for (int64_t k = 0; k < i; ++k) {
      double l = g[i * n + k];
      const double *rk = &rhs[k * m];
      for (int64_t j = 0; j < m; ++j)
        ri[j] -= l * rk[j];
    }
    double d = g[i * n + i];
    for (int64_t j = 0; j < m; ++j)
      ri[j] /= d;
  }
  for (int64_t i = n - 1; i >= 0; --i) {
    double *ri = &rhs[i * m];
    for (int64_t k = i + 1; k < n; ++k) {
      double l = g[k * n + i];
      const double *rk = &rhs[k * m];
      for (int64_t j = 0; j < m; ++j)
        ri[j] -= l * rk[j];
    }
    double d = g[i * n + i];
    for (int64_t j = 0; j < m; ++j)
      ri[j] /= d;
  }
  return rhs;
}
