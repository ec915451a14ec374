//===- JointFit.h - layer-wise joint fit of Q, shared K/V and O -*- C++ -*-===//
//
// `--share-kv-method=joint`: per attention, from the aligned start, the
// merged K and V projections and all of the Q and O projections are fitted
// together (L-BFGS) so that the converted attention reproduces the original
// attention's output on the converted model's own inputs (bench/RESULTS.md,
// "Joint layer-wise fit", steps 1-8). Plain C++ (no MLIR), float32 products
// on worker threads, float64 sums and optimiser state.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CALIBRATION_JOINTFIT_H
#define ATTN_CALIBRATION_JOINTFIT_H

#include <cstdint>
#include <vector>

namespace attn::calib {

/// One attention's inputs on the calibration tokens: `batch` windows of
/// `length` tokens (row t = b * length + s).
struct JointLayer {
  int64_t batch = 0, length = 0;
  int64_t inputWidth = 0; ///< the Q projection's contraction size
  int64_t qHeads = 0, headDim = 0, valueDim = 0, outWidth = 0;
  /// [tokens, inputWidth]: what Q projects, and K and V unless kvInput is
  /// set.
  std::vector<float> input;
  /// RoPE as each token's phase on the rotary planes (dims i and i + D/2):
  /// [tokens, D/2]; cos 1, sin 0 where there is no rotation (both empty:
  /// none anywhere).
  std::vector<float> cos, sin;
  /// Additive bias [batch, qHeads, length, keyLength()] (0, or -inf:
  /// masked).
  std::vector<float> bias;
  double scale = 1.0;

  /// Cross-attention: K and V project `kvInput` [kvWindows * kvLength,
  /// kvInputWidth] (e.g. encoder states) instead of `input`; window b reads
  /// rows from (kvWindows == 1 ? 0 : b) * kvLength (one copy when every
  /// window reads the same rows). No RoPE then: cos and sin stay empty.
  /// Empty: self-attention, K and V project `input`.
  std::vector<float> kvInput;
  int64_t kvLength = 0, kvInputWidth = 0, kvWindows = 0;

  bool cross() const { return !kvInput.empty(); }
  int64_t keyLength() const { return cross() ? kvLength : length; }
};

/// Projection weights, row-major, one row per output column:
/// query [Hq D, in], key [Hkv D, in'], value [Hkv Dv, in'] (in' the K/V
/// input's width: kvInputWidth in a cross-attention); output [Hq Dv,
/// outWidth] (the context rows times it). Query head h reads KV head
/// h / (Hq / Hkv).
struct JointWeights {
  int64_t kvHeads = 0;
  std::vector<double> query, key, value, output;
};

/// The attention's output [tokens, outWidth] (before any residual or output
/// bias) with `weights` on `layer`'s inputs: the fit's target with the
/// original weights.
std::vector<float> jointOutput(const JointLayer &layer,
                               const JointWeights &weights);

/// The fit's objective at `at`: ||Y - T||^2 / ||T||^2 + ridge * sum over
/// the four matrices of ||W - W_start||^2 / ||W_start||^2; with `gradient`,
/// its gradient there (the matrices' shapes).
double jointObjective(const JointLayer &layer, const std::vector<float> &target,
                      const JointWeights &start, const JointWeights &at,
                      double ridge, JointWeights *gradient = nullptr);

struct JointFitResult {
  JointWeights weights;
  /// ||Y - T||^2 / ||T||^2 at `start` and at the result (NaN when not
  /// asked for).
  double startError = 0.0, error = 0.0;
  int iterations = 0;  ///< L-BFGS steps taken
  /// Objective evaluations (the line search's trials; the gradient only at
  /// the accepted ones).
  int evaluations = 0;
};

/// Minimises ||Y(theta) - target||^2 / ||target||^2 + ridge * sum over the
/// four matrices of ||W - W_start||^2 / ||W_start||^2 by L-BFGS (memory
/// 10, Armijo backtracking), from `init` (e.g. a previous pass's result;
/// `start` when empty), for at most `iterations` steps. `start` and `init`
/// have one KV head per group of the shared form. Without `errors` the
/// result's errors are not computed (two float32 forward passes). With
/// `headMaps`, Q and O stay per-head maps of `init`'s (Wq_h = M_h Wq_h^init,
/// Wo_h = M'_h Wo_h^init, the maps D x D and Dv x Dv, from the identity)
/// and only K and V are free matrices.
JointFitResult fitJoint(const JointLayer &layer,
                        const std::vector<float> &target,
                        const JointWeights &start, const JointWeights &init,
                        int iterations, double ridge, bool errors = true,
                        bool headMaps = false);

} // namespace attn::calib

#endif // ATTN_CALIBRATION_JOINTFIT_H
