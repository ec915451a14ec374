//===- OutputSolve.cpp - the joint fit's output projection in closed form -===//
//
// include/attn/Calibration/OutputSolve.h: the normal equations of the
// output projection's ridge least squares, all in f32 GEMMs (the Gram's
// upper triangle only; a blocked Cholesky whose diagonal blocks are
// factored and inverted in f64; triangular solves that multiply by those
// inverses), f64 only where a pivot fails in f32.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/OutputSolve.h"

#include "attn/Calibration/FloatGemm.h"
#include "attn/Calibration/SpdSolve.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <string>

using namespace attn::calib;

namespace {

double threadSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/// Rows of the factor's and the triangular solves' blocks: every product
/// between blocks is an f32 GEMM of this depth, the diagonal blocks are
/// inverted (f64) and applied as GEMMs too.
constexpr int64_t kBlock = 96;

/// The inverse of the upper triangular `u` [r, r] (f64, upper triangle
/// read) into `v` [r, r] as f32, zeros below the diagonal. Row by row from
/// the last: inv[i][j] = -(sum over k = i+1..j of u[i][k] inv[k][j]) /
/// u[i][i], each sum in k's order, but kept for all j of the row at once
/// (the loop over j is the inner one: independent sums the compiler
/// vectorises, where one dot product per entry waited on each addition).
/// The same operations in the same order per entry, so the same bits.
void invertUpper(const std::vector<double> &u, int64_t r, float *v) {
  std::vector<double> inv(r * r, 0.0), sum(r);
  for (int64_t i = r - 1; i >= 0; --i) {
    double *row = &inv[i * r];
    std::fill(sum.begin() + i + 1, sum.end(), 0.0);
    for (int64_t k = i + 1; k < r; ++k) {
      double uik = u[i * r + k];
      const double *next = &inv[k * r];
      for (int64_t j = k; j < r; ++j) // entries j >= k: term k is theirs
        sum[j] += uik * next[j];
    }
    row[i] = 1.0 / u[i * r + i];
    for (int64_t j = i + 1; j < r; ++j)
      row[j] = -sum[j] / u[i * r + i];
  }
  for (int64_t i = 0; i < r * r; ++i)
    v[i] = static_cast<float>(inv[i]);
}

} // namespace

bool attn::calib::OutputSolver::bf16Rhs() {
  static const bool on = [] {
    const char *env = std::getenv("ATTN_SOLVE_RHS");
    return !env || std::string(env) != "f32";
  }();
  return on;
}

OutputSolver::OutputSolver(const float *target, int64_t tokens, int64_t width,
                           int64_t out, const float *start, double mu)
    : target(target), start(start), tokens(tokens), width(width), out(out),
      mu(mu), gram(width * width), rhs(width * out), negated(width * width),
      inverses(width * kBlock), scratch(kBlock * std::max(width, out)) {}

void OutputSolver::gramUpper(const float *contexts) {
  // Each entry is the full product's (the same k order); the register
  // tiles below the diagonal are not computed, C is packed once.
  sgemmUpper(true, false, width, tokens, contexts, width, contexts, width,
             gram.data(), width);
}

bool OutputSolver::factor() {
  // Right-looking by blocks of rows, on `gram` (upper triangle, its
  // diagonal shifted) in place: the diagonal block factored and inverted
  // in f64, the block row U[k, k1:n] = U_kk^-T A[k, k1:n], the trailing
  // upper triangle less U[k, k1:n]^T U[k, k1:n]. `negated` gets -U's block
  // rows right of the diagonal blocks (the GEMMs only add).
  const int64_t n = width;
  float *a = gram.data(), *neg = negated.data();
  std::vector<double> diagonal;
  for (int64_t k0 = 0; k0 < n; k0 += kBlock) {
    int64_t k1 = std::min(n, k0 + kBlock), r = k1 - k0, rest = n - k1;
    diagonal.assign(r * r, 0.0);
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = i; j < r; ++j)
        diagonal[i * r + j] = a[(k0 + i) * n + k0 + j];
    if (!factorSpd(diagonal, r))
      return false;
    float *inv = inverses.data() + k0 * kBlock;
    invertUpper(diagonal, r, inv);
    if (rest == 0)
      break;
    float *panel = scratch.data();
    sgemm(true, false, r, rest, r, inv, r, a + k0 * n + k1, n, panel, rest);
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < rest; ++j) {
        a[(k0 + i) * n + k1 + j] = panel[i * rest + j];
        neg[(k0 + i) * n + k1 + j] = -panel[i * rest + j];
      }
    for (int64_t j0 = k1; j0 < n; j0 += kBlock) {
      int64_t rows = std::min(kBlock, n - j0);
      sgemm(true, false, rows, n - j0, r, neg + k0 * n + j0, n,
            a + k0 * n + j0, n, a + j0 * n + j0, n, /*accumulate=*/true);
    }
  }
  return true;
}

void OutputSolver::solveFactored(float *b) {
  const int64_t n = width, m = out;
  const float *neg = negated.data();
  float *t = scratch.data();
  auto applyInverse = [&](int64_t k0, int64_t r, bool transposed) {
    sgemm(transposed, false, r, m, r, inverses.data() + k0 * kBlock, r,
          b + k0 * m, m, t, m);
    std::copy(t, t + r * m, b + k0 * m);
  };
  // U^T Y = B: Y_k = U_kk^-T B_k, then B[k1:n] -= U[k, k1:n]^T Y_k.
  for (int64_t k0 = 0; k0 < n; k0 += kBlock) {
    int64_t k1 = std::min(n, k0 + kBlock);
    applyInverse(k0, k1 - k0, true);
    if (k1 < n)
      sgemm(true, false, n - k1, m, k1 - k0, neg + k0 * n + k1, n, b + k0 * m,
            m, b + k1 * m, m, /*accumulate=*/true);
  }
  // U X = Y: X_k = U_kk^-1 Y_k, then Y[0:k0] -= U[0:k0, k] X_k.
  int64_t last = (n - 1) / kBlock * kBlock;
  for (int64_t k0 = last; k0 >= 0; k0 -= kBlock) {
    int64_t k1 = std::min(n, k0 + kBlock);
    applyInverse(k0, k1 - k0, false);
    if (k0 > 0)
      sgemm(false, false, k0, m, k1 - k0, neg + k0, n, b + k0 * m, m, b, m,
            /*accumulate=*/true);
  }
}

bool OutputSolver::solve(const float *contexts, float *output) {
  double t0 = threadSeconds();
  gramUpper(contexts);
  if (bf16Rhs()) {
    if (!targetPacked) { // T is fixed: rounded and packed once
      targetOperand.setRight(true, false, tokens, out, target, out);
      targetPacked = true;
    }
    sgemmPacked(true, width, contexts, width, targetOperand, rhs.data(), out);
  } else {
    sgemm(true, false, width, out, tokens, contexts, width, target, out,
          rhs.data(), out);
  }
  double t1 = threadSeconds();
  // mu I keeps the system definite where C has fewer rows than columns; a
  // floor at 1e-9 of the mean diagonal covers mu = 0.
  double trace = 0.0;
  for (int64_t i = 0; i < width; ++i)
    trace += gram[i * width + i];
  double shift = mu > 0.0 ? mu : 1e-9 * trace / double(width);
  for (int64_t i = 0; i < width; ++i)
    gram[i * width + i] = static_cast<float>(gram[i * width + i] + shift);
  std::vector<double> system;
  if (!factor()) {
    // A pivot failed in f32: the whole system in f64 (the upper triangle
    // right of the failed block was updated in place, so rebuild it).
    ++f64Solves;
    gramUpper(contexts);
    system.assign(width * width, 0.0);
    for (int64_t i = 0; i < width; ++i)
      for (int64_t j = i; j < width; ++j)
        system[i * width + j] = gram[i * width + j] + (i == j ? shift : 0.0);
  }
  bool ok = true;
  if (system.empty()) {
    for (int64_t i = 0; i < width * out; ++i)
      output[i] = static_cast<float>(double(rhs[i]) + mu * double(start[i]));
    solveFactored(output);
  } else {
    std::vector<double> b(width * out);
    for (int64_t i = 0; i < width * out; ++i)
      b[i] = double(rhs[i]) + mu * double(start[i]);
    if ((ok = solveSpd(system, width, b, out)))
      for (int64_t i = 0; i < width * out; ++i)
        output[i] = static_cast<float>(b[i]);
  }
  double t2 = threadSeconds();
  productSeconds += t1 - t0;
  solveSeconds += t2 - t1;
  ++solves;
  return ok;
}
