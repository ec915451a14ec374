//===- JointCalibration.h - calibrate --share-kv-method=joint --*- C++ -*-===//

#ifndef ATTN_COMPILER_JOINTCALIBRATION_H
#define ATTN_COMPILER_JOINTCALIBRATION_H

#include "attn/Calibration/JointFit.h"
#include "attn/Compiler/CompileOptions.h"
#include "attn/Compiler/KVCalibration.h"

#include <algorithm>
#include <limits>
#include <optional>

namespace mlir::attn::compile {

/// How the joint fit runs (bench/RESULTS.md measures the choices).
struct JointFitOptions {
  /// L-BFGS steps per attention in pass 1, 2, ...; the last count holds
  /// for the passes after it. The first pass only starts the second (on
  /// the stream its fits convert): 30 steps there cost SmolLM2-135M 0.003
  /// nats of held-out KL against 40 and bring its 16 x 64-token
  /// calibration under a minute (bench/RESULTS.md, the lead's session of
  /// 2026-12-04 evening).
  std::vector<int> iterations = {30, 40};
  int passes = 2; ///< probes of the converted model, each refitting
  /// The pull toward the aligned start, per matrix (--share-kv-ridge; an
  /// infinite one keeps the matrix fixed).
  ::attn::calib::JointRidge ridge{1e-3};
  /// With O solved (solveOutput): O's ridge per attention chosen among
  /// these and ridge.output by two-fold cross-validation over the
  /// calibration windows at the first pass's start
  /// (crossValidatedOutputRidge; --share-kv-output-ridge-cv); empty: off.
  std::vector<double> outputRidgeCandidates;
  /// --share-kv-early-stop: the fits keep the step whose output error on
  /// the calibration windows they do not read (after the first
  /// `fitWindows`) is lowest, measured every `heldoutEvery` steps.
  bool earlyStop = false;
  /// --share-kv-original-target: the fits on a probe of the converted
  /// model aim at (1 - this) the original attention's output on the
  /// converted input plus this times its output on the original model's
  /// input (asymmetric calibration; 0: the former only).
  double originalTarget = 0.0;
  /// --share-kv-output-metric: the fits measure the output error in
  /// I / D + alpha S / trace(S) (OutputMetric.h); None: equal weights.
  ShareKVOutputMetric outputMetric = ShareKVOutputMetric::None;
  double outputMetricAlpha = 1.0;
  int heldoutEvery = 10;
  /// One probe library for every pass (the converted projection weights
  /// its inputs) rather than one compile per pass.
  bool reuseProbe = true;
  /// The first pass fits on the original model's activations (the aligned
  /// start's probe returns them) rather than on a probe of the model
  /// converted by the aligned maps: one probe fewer.
  bool firstPassOnOriginal = true;

  /// The attention fits of pass 1, 2, ... read the first `fitWindows`
  /// calibration rows (0: all; the last count holds for the later
  /// passes); the block refit reads every row.
  std::vector<int64_t> fitWindows = {0};
  /// --share-kv-block-refit: after the fits, each block's MLP down
  /// projection is refitted (JointBlockRefit.h) with this drift toward the
  /// original model's residual stream; unset: no refit.
  std::optional<double> blockRefitDrift;
  /// A block is refitted only where the calibration tokens are at least
  /// this many times its down projection's inputs (0: every block).
  double blockRefitMinTokens = 0.0;
  double blockRefitRidge = 1e-1; ///< times trace(Z^T Z) / features
  /// With blockRefitDrift: after the refit, `refitRounds - 1` times a pass
  /// of attention fits on a probe of the model with the refitted down
  /// projections (the steps and windows of pass `passes`, ...), then the
  /// refit again from the original down weights: the fits see the stream
  /// that the refitted blocks pass on.
  int refitRounds = 1;
  /// Q and O as per-head maps of the pass's start (fitJoint's headMaps).
  bool headMaps = false;
  /// O solved in closed form inside the fits (fitJoint's solveOutput).
  ::attn::calib::SolveOutput solveOutput = ::attn::calib::SolveOutput::Lbfgs;
  /// The output refit's passes for the attentions that take aligned-fit
  /// instead of joint (calibrateJointSharing's `fallbacks`).
  int fallbackRefitPasses = 2;
  /// The aligned start's row weighting (--share-kv-aligned-weighting).
  ::attn::calib::AlignedWeighting alignedWeighting;

  /// The steps of pass `pass` (0 first).
  int stepsOf(int pass) const {
    return iterations.empty()
               ? 0
               : iterations[std::min<size_t>(pass, iterations.size() - 1)];
  }
  /// Every pass of attention fits: `passes`, and one per extra refit round.
  int totalPasses() const {
    return passes + (blockRefitDrift && passes > 0 ? refitRounds - 1 : 0);
  }
  /// The calibration rows the fits of pass `pass` read (0: all).
  int64_t windowsOf(int pass) const {
    return fitWindows.empty()
               ? 0
               : fitWindows[std::min<size_t>(pass, fitWindows.size() - 1)];
  }
};

/// An attention the joint fit does not apply to, which took aligned-fit
/// instead: its name and why (planLayer's reason).
struct JointFallback {
  std::string name, why;
};

/// One attention's fit, for the log and the compile report: the relative
/// squared error of its output (projected by O) against the original
/// attention on the converted model's input, at the aligned start and
/// after the fit, in the last pass.
struct JointFitRecord {
  std::string name;
  double alignedError = 0.0, fittedError = 0.0;
  /// With calibration windows the fit does not read: the output error on
  /// them (up to as many as the fit reads) as (steps, error) every
  /// `heldoutEvery` steps of the last pass, and the steps kept.
  std::vector<std::pair<int, double>> heldout;
  int heldoutWindows = 0, keptSteps = 0;
  int iterations = 0;
  /// Objective evaluations (line-search trials), of those stopped early.
  int evaluations = 0, earlyRejections = 0;
  /// --share-kv-solve-output: the output solves, the CPU seconds of their
  /// products (C^T C, C^T T) and of their factor and triangular solves.
  int outputSolves = 0;
  double outputProductSeconds = 0.0, outputSolveSeconds = 0.0;
  /// --share-kv-output-ridge-cv: the O ridge chosen (NaN: none).
  double outputRidge = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0.0;
};

/// The CPU seconds (the whole process's: every thread) and wall seconds
/// of a phase of the calibration, for the log.
struct JointPhaseTime {
  std::string name;
  double cpuSeconds = 0.0, wallSeconds = 0.0;
  /// A pass's fits: their objective evaluations, of those the trials
  /// stopped early (-1: not a pass's fits).
  int evaluations = -1, earlyRejections = 0;
  /// A pass's fits: JointFitRecord's output solves and their seconds.
  int outputSolves = 0;
  double outputProductSeconds = 0.0, outputSolveSeconds = 0.0;
};

/// `--share-kv-method=joint`: aligned sharing first (calibrateKVSharing),
/// then per attention with more than `newHeads` KV heads, L-BFGS over the
/// merged K and V projections and all of Q and O (lib/Calibration/
/// JointFit) so that the converted attention reproduces the original one
/// on the converted model's own inputs. Each pass compiles a probe of the
/// model converted with the fits so far that returns every attention's
/// projection input (and its Q and K, whose ratio to the projections gives
/// RoPE's phases); the attentions are then refitted, warm-started, in
/// order. The fitted weights go to `attn.share_{query,key,value}_weight`
/// (and `_bias`) and `attn.share_output_weight` for attn-share-kv. With
/// `options.blockRefitDrift`, the MLP down projections are then refitted
/// (refitBlocks: `attn.share_down_weight`, which foldBlockRefits puts in
/// the graph); `notes` gets a line per block (its error, or why it was
/// skipped).
///
/// The joint fit applies to an attention whose Q, K, V and O are constant
/// projections (K and V of one input; Q of the same input, or of another
/// one in a cross-attention without RoPE) and that has no softcap. Without
/// `fallbacks`, an attention it does not apply to is an error; with it,
/// such attentions take aligned-fit instead (the output refit,
/// `options.fallbackRefitPasses` passes, runs on the whole model before the
/// joint fits, which replace it on theirs) and are listed in `fallbacks`.
LogicalResult calibrateJointSharing(
    ModuleOp module, int64_t newHeads, const JointFitOptions &options,
    const std::string &calibrationPath,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::vector<SharingErrors> &errors, std::vector<JointFitRecord> &records,
    std::vector<JointPhaseTime> &times, std::string &error,
    std::vector<std::string> *notes = nullptr,
    std::vector<JointFallback> *fallbacks = nullptr);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_JOINTCALIBRATION_H
