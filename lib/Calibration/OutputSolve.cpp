//===- OutputSolve.cpp - the joint fit's output projection in closed form -===//
//
// include/attn/Calibration/OutputSolve.h: the normal equations of the
// output projection's ridge least squares: their products in f32 (GEMM
// speed), the Cholesky factor in f64, the triangular solves in f32 blocks
// (GEMMs between them).
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/OutputSolve.h"

#include "attn/Calibration/FloatGemm.h"
#include "attn/Calibration/SpdSolve.h"

#include <algorithm>
#include <ctime>

using namespace attn::calib;

namespace {

double threadSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/// Rows of the triangular solves' blocks: the products between blocks run
/// as f32 GEMMs, the diagonal blocks' row by row.
constexpr int64_t kBlock = 48;

/// B [n, m] becomes Y with U^T Y = B; `u` the upper factor [n, n] and
/// `neg` = -u (the GEMMs only add).
void solveTransposed(const float *u, const float *neg, int64_t n, float *b,
                     int64_t m) {
  for (int64_t k0 = 0; k0 < n; k0 += kBlock) {
    int64_t k1 = std::min(n, k0 + kBlock);
    if (k0 > 0) // B_k -= U[0:k0, k]^T Y[0:k0]
      sgemm(true, false, k1 - k0, m, k0, neg + k0, n, b, m, b + k0 * m, m,
            /*accumulate=*/true);
    for (int64_t k = k0; k < k1; ++k) {
      float *bk = b + k * m;
      float inv = 1.0f / u[k * n + k];
      for (int64_t j = 0; j < m; ++j)
        bk[j] *= inv;
      for (int64_t i = k + 1; i < k1; ++i) {
        float l = u[k * n + i];
        float *bi = b + i * m;
        for (int64_t j = 0; j < m; ++j)
          bi[j] -= l * bk[j];
      }
    }
  }
}

/// B [n, m] becomes X with U X = B.
void solveUpper(const float *u, const float *neg, int64_t n, float *b,
                int64_t m) {
  for (int64_t i1 = n; i1 > 0; i1 -= kBlock) {
    int64_t i0 = std::max<int64_t>(0, i1 - kBlock);
    if (i1 < n) // B_i -= U[i, i1:n] X[i1:n]
      sgemm(false, false, i1 - i0, m, n - i1, neg + i0 * n + i1, n,
            b + i1 * m, m, b + i0 * m, m, /*accumulate=*/true);
    for (int64_t i = i1 - 1; i >= i0; --i) {
      float *bi = b + i * m;
      for (int64_t k = i + 1; k < i1; ++k) {
        float l = u[i * n + k];
        const float *bk = b + k * m;
        for (int64_t j = 0; j < m; ++j)
          bi[j] -= l * bk[j];
      }
      float inv = 1.0f / u[i * n + i];
      for (int64_t j = 0; j < m; ++j)
        bi[j] *= inv;
    }
  }
}

/// The upper Cholesky factor U of A = `a` (upper triangle [n, n] read) in
/// f32 by blocks of rows: each block row gets the products of the rows
/// above as one f32 GEMM, its diagonal block is factored in f64, the rest
/// of the row by forward substitution. `u` gets U (zeros below), `neg` -U.
/// False when a pivot is not positive (A too ill-conditioned for f32).
bool factorBlocked(const std::vector<double> &a, int64_t n, float *u,
                   float *neg) {
  std::vector<double> diagonal;
  for (int64_t k0 = 0; k0 < n; k0 += kBlock) {
    int64_t k1 = std::min(n, k0 + kBlock), rows = k1 - k0;
    for (int64_t i = k0; i < k1; ++i)
      for (int64_t j = 0; j < n; ++j)
        u[i * n + j] = j >= k0 ? static_cast<float>(a[i * n + j]) : 0.0f;
    if (k0 > 0) // A[k, k0:n] - U[0:k0, k]^T U[0:k0, k0:n]
      sgemm(true, false, rows, n - k0, k0, neg + k0, n, u + k0, n,
            u + k0 * n + k0, n, /*accumulate=*/true);
    diagonal.assign(rows * rows, 0.0);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = i; j < rows; ++j)
        diagonal[i * rows + j] = u[(k0 + i) * n + k0 + j];
    if (!factorSpd(diagonal, rows))
      return false;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < rows; ++j)
        u[(k0 + i) * n + k0 + j] =
            j >= i ? static_cast<float>(diagonal[i * rows + j]) : 0.0f;
    // U[k, k1:n] = D^-T (the updated A[k, k1:n]).
    for (int64_t k = k0; k < k1; ++k) {
      float *rk = u + k * n;
      float inv = 1.0f / rk[k];
      for (int64_t j = k1; j < n; ++j)
        rk[j] *= inv;
      for (int64_t i = k + 1; i < k1; ++i) {
        float l = rk[i];
        float *ri = u + i * n;
        for (int64_t j = k1; j < n; ++j)
          ri[j] -= l * rk[j];
      }
    }
    for (int64_t i = k0 * n; i < k1 * n; ++i)
      neg[i] = -u[i];
  }
  return true;
}

} // namespace

OutputSolver::OutputSolver(const float *target, int64_t tokens, int64_t width,
                           int64_t out, const float *start, double mu)
    : target(target), start(start), tokens(tokens), width(width), out(out),
      mu(mu), gram(width * width), rhs(width * out), system(width * width),
      factor(width * width), negated(width * width) {}

bool OutputSolver::solve(const float *contexts, float *output) {
  double t0 = threadSeconds();
  sgemmParallel(true, false, width, width, tokens, contexts, width, contexts,
                width, gram.data(), width);
  sgemmParallel(true, false, width, out, tokens, contexts, width, target, out,
                rhs.data(), out);
  double t1 = threadSeconds();
  // mu I keeps the system definite where C has fewer rows than columns; a
  // floor at 1e-9 of the mean diagonal covers mu = 0.
  double trace = 0.0;
  for (int64_t i = 0; i < width; ++i)
    trace += gram[i * width + i];
  double shift = mu > 0.0 ? mu : 1e-9 * trace / double(width);
  for (int64_t i = 0; i < width; ++i)
    for (int64_t j = i; j < width; ++j) // solveSpd reads the upper triangle
      system[i * width + j] = gram[i * width + j] + (i == j ? shift : 0.0);
  // The factor and the triangular solves in f32 (GEMMs between blocks):
  // their rounding is far below that of the fit's bf16 products. Where a
  // pivot fails in f32, the factor is f64.
  bool ok = factorBlocked(system, width, factor.data(), negated.data());
  if (!ok && (ok = factorSpd(system, width)))
    for (int64_t i = 0; i < width; ++i)
      for (int64_t j = 0; j < width; ++j) {
        float v = j >= i ? static_cast<float>(system[i * width + j]) : 0.0f;
        factor[i * width + j] = v;
        negated[i * width + j] = -v;
      }
  if (ok) {
    for (int64_t i = 0; i < width * out; ++i)
      output[i] = static_cast<float>(double(rhs[i]) + mu * double(start[i]));
    solveTransposed(factor.data(), negated.data(), width, output, out);
    solveUpper(factor.data(), negated.data(), width, output, out);
  }
  double t2 = threadSeconds();
  productSeconds += t1 - t0;
  solveSeconds += t2 - t1;
  ++solves;
  return ok;
}
