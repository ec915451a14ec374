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
#include "attn/Calibration/SpdSolve.h"

using namespace attn::calib;

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
  // G X = rhs (the upper triangle of G is the Gram, the lower its mirror).
  if (!solveSpd(g, n, rhs, m))
    return start;
  return rhs;
}
