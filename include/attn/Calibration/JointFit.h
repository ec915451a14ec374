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

#include "attn/Calibration/SolveOutput.h"

#include <cstdint>
#include <utility>
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

/// The ridge toward the start, per matrix (query, key, value, output), each
/// relative to the start's squared norm; an infinite one keeps that matrix
/// at the fit's initial value (its gradient is dropped): fewer free
/// weights (--share-kv-ridge).
struct JointRidge {
  double query = 1e-3, key = 1e-3, value = 1e-3, output = 1e-3;
  JointRidge() = default;
  JointRidge(double all) // NOLINT: one strength for all four
      : query(all), key(all), value(all), output(all) {}
  JointRidge(double q, double k, double v, double o)
      : query(q), key(k), value(v), output(o) {}
  /// Part 0-3: query, key, value, output.
  double of(int part) const {
    return part == 0 ? query : part == 1 ? key : part == 2 ? value : output;
  }
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
                      const JointRidge &ridge,
                      JointWeights *gradient = nullptr);

/// The objective with the output projection solved (variable projection,
/// OutputSolve.h): min over O of jointObjective at `at`'s Q, K and V (its
/// O is not read). `solved` gets `at` with that O; `gradient` the
/// objective's gradient in Q, K and V (the full objective's there, by the
/// envelope theorem; its output part is zero).
double jointObjectiveSolvedOutput(const JointLayer &layer,
                                  const std::vector<float> &target,
                                  const JointWeights &start,
                                  const JointWeights &at,
                                  const JointRidge &ridge,
                                  JointWeights *solved = nullptr,
                                  JointWeights *gradient = nullptr);

/// The output projection's ridge (JointRidge::output) among `candidates`
/// with the lowest two-fold held-out error of the solved O at `at`'s Q, K
/// and V: O solved (OutputSolver, mu = R ||T_A||^2 / ||O_start||^2) on the
/// first half of the windows and measured on the second, and the other way
/// round; `errors` (when given) gets each candidate's summed relative
/// error. Needs two windows or more (else returns candidates[0]).
double crossValidatedOutputRidge(const JointLayer &layer,
                                 const std::vector<float> &target,
                                 const JointWeights &start,
                                 const JointWeights &at,
                                 const std::vector<double> &candidates,
                                 std::vector<double> *errors = nullptr);

/// Windows the fit does not read (e.g. the calibration windows after
/// --share-kv-fit-windows), on which fitJoint measures the held-out output
/// error every `every` steps; with `keepBest` it returns the step with the
/// lowest one (early stopping).
struct JointValidation {
  const JointLayer *layer = nullptr;
  const std::vector<float> *target = nullptr; ///< the original's output
  int every = 10;
  bool keepBest = false;
};

struct JointFitResult {
  JointWeights weights;
  /// ||Y - T||^2 / ||T||^2 at `start` and at the result (NaN when not
  /// asked for).
  double startError = 0.0, error = 0.0;
  int iterations = 0;  ///< L-BFGS steps taken
  /// Objective evaluations (the line search's trials; the gradient only at
  /// the accepted ones).
  int evaluations = 0;
  /// Of those, the trials rejected after their first windows' residual.
  int earlyRejections = 0;
  /// With a validation: the held-out error at the init and after every
  /// `every` steps (and the last), as (steps, error); the steps of the
  /// returned weights.
  std::vector<std::pair<int, double>> heldout;
  int keptSteps = 0;
  /// L-BFGS's last s.y / y.y: a later fit of the same layer from these
  /// weights takes it as its firstStep.
  double stepScale = 0.0;
  /// With solveOutput: the output projection's solves, the CPU seconds of
  /// their f64 Cholesky solves and of their f32 products.
  int outputSolves = 0;
  double outputSolveSeconds = 0.0, outputProductSeconds = 0.0;
};

/// Minimises ||Y(theta) - target||^2 / ||target||^2 + ridge * sum over the
/// four matrices of ||W - W_start||^2 / ||W_start||^2 by L-BFGS (memory
/// 10, Armijo backtracking), from `init` (e.g. a previous pass's result;
/// `start` when empty), for at most `iterations` steps. `start` and `init`
/// have one KV head per group of the shared form. Without `errors` the
/// result's errors are not computed (two float32 forward passes). With
/// `headMaps`, Q and O stay per-head maps of `init`'s (Wq_h = M_h Wq_h^init,
/// Wo_h = M'_h Wo_h^init, the maps D x D and Dv x Dv, from the identity)
/// and only K and V are free matrices. `firstStep` > 0 (a previous fit's
/// stepScale, when `init` is its result) makes L-BFGS's first step try
/// the move -firstStep g first instead of the unit-length one (Lbfgs.h).
/// `solveOutput` other than Lbfgs (without headMaps, O not fixed): L-BFGS
/// runs over Q, K and V only, O solved exactly for each of its trials
/// (Exact: jointObjectiveSolvedOutput) or for its accepted points
/// (Accepted: a trial reads the O of the point it starts from, which
/// bounds the reduced objective from above, so its Armijo test is also
/// the reduced objective's; the gradient is the reduced one, taken after
/// the solve).
JointFitResult fitJoint(const JointLayer &layer,
                        const std::vector<float> &target,
                        const JointWeights &start, const JointWeights &init,
                        int iterations, const JointRidge &ridge,
                        bool errors = true,
                        bool headMaps = false,
                        const JointValidation &validation = {},
                        double firstStep = 0.0,
                        SolveOutput solveOutput = SolveOutput::Lbfgs);

} // namespace attn::calib

#endif // ATTN_CALIBRATION_JOINTFIT_H
