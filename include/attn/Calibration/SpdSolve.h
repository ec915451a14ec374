//===- SpdSolve.h - Cholesky solve of symmetric positive definite systems -*- C++ -*-===//
//
// The one f64 Cholesky solve of the calibration's ridge refits (the O
// projection of `aligned-fit`, the MLP down projection of
// `--share-kv-block-refit`). Plain C++ (no MLIR).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CALIBRATION_SPDSOLVE_H
#define ATTN_CALIBRATION_SPDSOLVE_H

#include <cstdint>
#include <vector>

namespace attn::calib {

/// Solves A X = B for the symmetric positive definite `a` [n, n] (row-major;
/// only its upper triangle is read) and `b` [n, m], X in place of `b`:
/// A = U^T U by an upper Cholesky factor, then two triangular solves, all
/// inner loops along contiguous rows. `a` is overwritten by the factor.
/// False (and `b` unchanged) when a pivot is not positive: A is not
/// positive definite to f64 precision.
bool solveSpd(std::vector<double> &a, int64_t n, std::vector<double> &b,
              int64_t m);

/// solveSpd's factor alone: `a` [n, n] (upper triangle read) becomes U
/// with A = U^T U in its upper triangle (the strict lower part is left as
/// is); false when a pivot is not positive.
bool factorSpd(std::vector<double> &a, int64_t n);

} // namespace attn::calib

#endif // ATTN_CALIBRATION_SPDSOLVE_H
