//===- SpdSolve.cpp - Cholesky solve of symmetric positive definite systems ===//
//
// include/attn/Calibration/SpdSolve.h: a right-looking upper Cholesky
// factor (each step subtracts row j's outer product from the trailing
// rows) and the two triangular solves, all columns of the right-hand side
// at once; every inner loop runs along a contiguous row, so it vectorises.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/SpdSolve.h"

#include <cmath>

using namespace attn::calib;

namespace {

/// In place: the upper factor U of a = U^T U (row-major, [n, n]; the
/// strictly lower part is left as is); false when a pivot is not positive.
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

} // namespace

bool attn::calib::factorSpd(std::vector<double> &a, int64_t n) {
  return upperCholesky(a, n);
}

bool attn::calib::solveSpd(std::vector<double> &a, int64_t n,
                           std::vector<double> &b, int64_t m) {
  if (!upperCholesky(a, n))
    return false;
  const std::vector<double> &u = a;
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
  return true;
}
