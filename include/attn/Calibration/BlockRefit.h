//===- BlockRefit.h - ridge refit of a block's MLP down projection -*- C++ -*-===//
//
// `--share-kv-block-refit`: after an attention's joint fit, the down
// projection of the MLP that follows it is refitted so that the block's
// output moves toward the original block's output on the converted input
// (and, with a drift, toward the original model's residual stream):
// bench/RESULTS.md, "GQA -> MQA on SmolLM2-135M: what closes the gap of the
// joint fit", steps 5-9. Plain C++ (no MLIR).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CALIBRATION_BLOCKREFIT_H
#define ATTN_CALIBRATION_BLOCKREFIT_H

#include <cstdint>
#include <vector>

namespace attn::calib {

struct DownRefit {
  /// The change of the down projection, [features, width] row-major (row f
  /// = what input feature f adds to the output).
  std::vector<double> delta;
  /// What the refit adds to the block's output, Z delta [tokens, width].
  std::vector<float> correction;
  /// ||E||^2 and ||E - Z delta||^2: the block's output error before and
  /// after the refit (sums over the tokens).
  double errorBefore = 0.0, errorAfter = 0.0;
  bool solved = false; ///< false when the system was not positive definite
};

/// Ridge least squares for the change delta of a linear layer whose input
/// is `z` [tokens, features] so that its output gains `e` [tokens, width]:
/// minimises ||Z delta - E||^2 + lambda ||delta||^2 with lambda = ridge *
/// trace(Z^T Z) / features (a ridge toward the current weight, not toward
/// zero). Z^T Z in f32 products, the Cholesky solve in f64. Since delta = 0
/// is feasible, errorAfter <= errorBefore.
DownRefit refitLinear(const std::vector<float> &z, int64_t tokens,
                      int64_t features, const std::vector<float> &e,
                      int64_t width, double ridge);

} // namespace attn::calib

#endif // ATTN_CALIBRATION_BLOCKREFIT_H
