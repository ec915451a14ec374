//===- BlockRefit.cpp - ridge refit of a block's MLP down projection ------===//
//
// The closed-form step of `--share-kv-block-refit` (include/attn/
// Calibration/BlockRefit.h): the Gram matrix of the down projection's input
// by the f32 GEMM, an upper Cholesky factor and two triangular solves in
// f64 whose inner loops run along contiguous rows (they vectorise).
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/BlockRefit.h"

#include "attn/Calibration/FloatGemm.h"

#include <cmath>

using namespace attn::calib;

namespace {

/// In place: the upper factor U of a = U^T U (row-major, [n, n]; the
/// lower part is left as is); false when a pivot is not positive.
bool upperCholesky(std::vector<double> &a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    double *rj = &a[j * n];
    if (!(rj[j] > 0.0))
      return false;
    double d = std::sqrt(rj[j]);
    rj[j] = d;
    for (int64_t k = j + 1; k < n; ++k)
      rj[k] /= d;
    // The trailing rows lose row j's outer product (upper part only).
    for (int64_t i = j + 1; i < n; ++i) {
      double u = rj[i];
      if (u == 0.0)
        continue;
      double *ri = &a[i * n];
      for (int64_t k = i; k < n; ++k)
        ri[k] -= u * rj[k];
    }
  }
  return true;
}

/// Solves U^T U X = B in place of `b` [n, m] (U from upperCholesky).
void choleskySolve(const std::vector<double> &u, int64_t n,
                   std::vector<double> &b, int64_t m) {
  for (int64_t k = 0; k < n; ++k) { // U^T Y = B, column by column of U^T
    double *bk = &b[k * m];
    double d = u[k * n + k];
    for (int64_t j = 0; j < m; ++j)
      bk[j] /= d;
    for (int64_t i = k + 1; i < n; ++i) {
      double l = u[k * n + i];
      if (l == 0.0)
        continue;
      double *bi = &b[i * m];
      for (int64_t j = 0; j < m; ++j)
        bi[j] -= l * bk[j];
    }
  }
  for (int64_t i = n - 1; i >= 0; --i) { // U X = Y
    double *bi = &b[i * m];
    for (int64_t k = i + 1; k < n; ++k) {
      double l = u[i * n + k];
      if (l == 0.0)
        continue;
      const double *bk = &b[k * m];
      for (int64_t j = 0; j < m; ++j)
        bi[j] -= l * bk[j];
    }
    double d = u[i * n + i];
    for (int64_t j = 0; j < m; ++j)
      bi[j] /= d;
  }
}

double sumSquares(const std::vector<float> &x) {
  double s = 0.0;
  for (float v : x)
    s += double(v) * v;
  return s;
}

} // namespace

DownRefit attn::calib::refitLinear(const std::vector<float> &z, int64_t tokens,
                                   int64_t features,
                                   const std::vector<float> &e, int64_t width,
                                   double ridge) {
  int64_t f = features, m = width;
  DownRefit r;
  r.errorBefore = r.errorAfter = sumSquares(e);
  std::vector<float> gram(f * f), zte(f * m);
  sgemmParallel(true, false, f, f, tokens, z.data(), f, z.data(), f,
                gram.data(), f);
  sgemmParallel(true, false, f, m, tokens, z.data(), f, e.data(), m,
                zte.data(), m);
  std::vector<double> g(f * f);
  double trace = 0.0;
  for (int64_t i = 0; i < f; ++i) {
    trace += gram[i * f + i];
    for (int64_t j = 0; j < f; ++j) // symmetrise the f32 sums
      g[i * f + j] = 0.5 * (double(gram[i * f + j]) + gram[j * f + i]);
  }
  double lambda = ridge * trace / static_cast<double>(f);
  if (!(lambda > 0.0))
    return r;
  for (int64_t i = 0; i < f; ++i)
    g[i * f + i] += lambda;
  if (!upperCholesky(g, f))
    return r;
  r.delta.assign(zte.begin(), zte.end());
  choleskySolve(g, f, r.delta, m);
  std::vector<float> df(r.delta.begin(), r.delta.end());
  r.correction.resize(tokens * m);
  sgemmParallel(false, false, tokens, m, f, z.data(), f, df.data(), m,
                r.correction.data(), m);
  double after = 0.0;
  for (int64_t i = 0; i < tokens * m; ++i) {
    double d = double(e[i]) - r.correction[i];
    after += d * d;
  }
  r.errorAfter = after;
  r.solved = true;
  return r;
}
