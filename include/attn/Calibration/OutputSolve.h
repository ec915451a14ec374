//===- OutputSolve.h - the joint fit's output projection in closed form -*- C++ -*-===//
//
// `--share-kv-solve-output=exact`: for fixed Q, K and V the joint fit's
// objective is a ridge least-squares problem in the output projection O,
// whose minimiser O* solves the normal equations; the fit then minimises
// over Q, K, V alone with O = O*(Q, K, V) (variable projection, Golub and
// Pereyra). Plain C++ (no MLIR).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CALIBRATION_OUTPUTSOLVE_H
#define ATTN_CALIBRATION_OUTPUTSOLVE_H

#include "attn/Calibration/FloatGemm.h"

#include <cstdint>
#include <vector>

namespace attn::calib {

/// The O that minimises ||C O - T||^2 + mu ||O - O_s||^2 for contexts C
/// [tokens, width] (width = query heads x value dim): the solution of
/// (C^T C + mu I) O = C^T T + mu O_s, O [width, out]. C^T C and C^T T are
/// f32 products (sgemm, C^T C's upper triangle only); the system's
/// Cholesky factor and the triangular solves are f32 GEMMs by blocks of
/// rows, the diagonal blocks factored and inverted in f64; where a pivot
/// fails in f32, the whole solve is f64 (SpdSolve).
/// The target T and the start O_s are fixed for its lifetime; its buffers
/// are kept between solves.
class OutputSolver {
public:
  OutputSolver(const float *target, int64_t tokens, int64_t width,
               int64_t out, const float *start, double mu);

  /// Writes O* for `contexts` into `output` [width, out]; false (and
  /// `output` unchanged) when the system is not positive definite in f64.
  bool solve(const float *contexts, float *output);

  /// Whether C^T T takes bfloat16 inputs (the default; $ATTN_SOLVE_RHS=f32
  /// keeps it f32): the AVX512_BF16 path's product (about 2x the f32 one
  /// on Zen 4), T rounded and packed once per solver; where the CPU has no
  /// bf16 path the product stays f32. On SmolLM2-135M it moved the
  /// held-out KL by -0.0004 nats and top-1 by -0.7 points and cut the
  /// fits' CPU time by ~10% (bench/RESULTS.md, branch sharekv-speed12 and
  /// the lead's session of 2026-12-04 evening). C^T C stays f32.
  static bool bf16Rhs();

  /// The solves' CPU seconds so far (factor and triangular solves), and
  /// the products C^T C and C^T T's (the thread's clock).
  double solveSeconds = 0.0, productSeconds = 0.0;
  int solves = 0;
  /// Solves whose f32 factor failed (a pivot not positive), done in f64.
  int f64Solves = 0;

private:
  /// C^T C's upper triangle into `gram` (sgemmUpper).
  void gramUpper(const float *contexts);
  /// `gram` (upper triangle) becomes the factor U in place, `negated` -U
  /// right of the diagonal blocks, `inverses` the diagonal blocks'
  /// inverses; false when a pivot is not positive in f32.
  bool factor();
  /// B [width, out] becomes X with U^T U X = B.
  void solveFactored(float *b);

  GemmOperand targetOperand; ///< T rounded and packed (bf16Rhs)
  bool targetPacked = false;

  const float *target, *start;
  int64_t tokens, width, out;
  double mu;
  std::vector<float> gram, rhs; ///< C^T C (then U), C^T T
  std::vector<float> negated;   ///< -U right of the diagonal blocks
  std::vector<float> inverses;  ///< the diagonal blocks' inverses
  std::vector<float> scratch;   ///< a block row of products
};

} // namespace attn::calib

#endif // ATTN_CALIBRATION_OUTPUTSOLVE_H
