//===- JointCalibration.h - calibrate --share-kv-method=joint --*- C++ -*-===//

#ifndef ATTN_COMPILER_JOINTCALIBRATION_H
#define ATTN_COMPILER_JOINTCALIBRATION_H

#include "attn/Compiler/KVCalibration.h"

#include <optional>

namespace mlir::attn::compile {

/// How the joint fit runs (bench/RESULTS.md measures the choices).
struct JointFitOptions {
  int iterations = 40; ///< L-BFGS steps per attention and pass
  int passes = 2;      ///< probes of the converted model, each refitting
  double ridge = 1e-3; ///< pull toward the aligned start
  /// One probe library for every pass (the converted projection weights
  /// its inputs) rather than one compile per pass.
  bool reuseProbe = true;

  /// The attention fits read the first `fitWindows` calibration rows (0:
  /// all of them); the block refit reads every row.
  int64_t fitWindows = 0;
  /// --share-kv-block-refit: after the fits, each block's MLP down
  /// projection is refitted (JointBlockRefit.h) with this drift toward the
  /// original model's residual stream; unset: no refit.
  std::optional<double> blockRefitDrift;
  double blockRefitRidge = 1e-1; ///< times trace(Z^T Z) / features
};

/// One attention's fit, for the log and the compile report: the relative
/// squared error of its output (projected by O) against the original
/// attention on the converted model's input, at the aligned start and
/// after the fit, in the last pass.
struct JointFitRecord {
  std::string name;
  double alignedError = 0.0, fittedError = 0.0;
  int iterations = 0;
  double seconds = 0.0;
};

/// The CPU seconds (the whole process's: every thread) and wall seconds
/// of a phase of the calibration, for the log.
struct JointPhaseTime {
  std::string name;
  double cpuSeconds = 0.0, wallSeconds = 0.0;
};

/// Whether the joint fit can convert every attention of `module` with more
/// than `newHeads` KV heads (Q, K, V and O constant projections of one
/// input, no softcap); `why` says what stops it.
bool jointFitApplies(ModuleOp module, int64_t newHeads, std::string &why);

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
LogicalResult calibrateJointSharing(
    ModuleOp module, int64_t newHeads, const JointFitOptions &options,
    const std::string &calibrationPath,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::vector<SharingErrors> &errors, std::vector<JointFitRecord> &records,
    std::vector<JointPhaseTime> &times, std::string &error,
    std::vector<std::string> *notes = nullptr);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_JOINTCALIBRATION_H
