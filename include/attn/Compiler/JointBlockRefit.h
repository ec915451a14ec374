//===- JointBlockRefit.h - the MLP down-projection refit of joint -*- C++ -*-===//
//
// `--share-kv-block-refit=DRIFT` (with --share-kv-method=joint): after the
// attentions' joint fits, each block's MLP down projection is refitted by
// ridge least squares so that the block's output on the converted model
// moves toward the original block's output on the same input, and by DRIFT
// toward the original model's residual stream (lib/Calibration/
// BlockRefit; bench/RESULTS.md measures it).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_JOINTBLOCKREFIT_H
#define ATTN_COMPILER_JOINTBLOCKREFIT_H

#include "attn/Calibration/JointFit.h"
#include "attn/Compiler/JointCalibration.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace mlir::attn::compile {

/// A decoder block around an attention: the attention's output projection
/// (after an optional bias) is added to the residual stream, and the next
/// residual Add adds the stream to the output of a constant-weight MatMul
/// (the MLP's down projection, after an optional bias) whose input is Z.
struct BlockPattern {
  Value streamIn;             ///< the stream after the attention's Add
  Value streamOut;            ///< the stream after the block
  Value downInput;            ///< Z [..., features]
  linalg::LinalgOp down;      ///< the down projection
  OpOperand *weight = nullptr;
  bool featuresFirst = true;  ///< stored [features, width], else transposed
  int64_t features = 0, width = 0;
};

/// The block around `op`, or failure with `why` (what is not there).
FailureOr<BlockPattern> matchBlock(AttentionOp op, std::string &why);

/// One fitted attention, for the refit: `layout` is the JointLayer of its
/// fit on every calibration window without `input` (shapes, RoPE phases,
/// mask), `original` and `fitted` its weights; `op` carries the fitted
/// weights' attributes (the probe converts the model with them).
struct BlockRefitLayer {
  AttentionOp op;
  ::attn::calib::JointLayer layout;
  const ::attn::calib::JointWeights *original = nullptr, *fitted = nullptr;
  bool biased = false; ///< the projections have a bias (H gets a 1 column)
};

/// The refit of every block whose pattern matches and whose calibration
/// tokens are at least `minTokensPerFeature` times its down projection's
/// inputs (the others are skipped with a note): a probe of the original
/// model returns the stream after each block (with drift > 0), a probe of
/// the model converted with the
/// fitted attentions each attention's input H, its down projection's
/// input Z and the stream after the block. In order, per block: T and Y,
/// the original and the fitted attention on H; the error
/// E = (T - Y) + drift (X_orig - X_out - (T - Y) - C), C the corrections of
/// the blocks before (carried along the residual stream to first order);
/// the down weight W + delta from BlockRefit's ridge solve goes to
/// `attn.share_down_weight` (foldBlockRefits puts it in the graph).
LogicalResult refitBlocks(
    ModuleOp module, int64_t newHeads, double drift, double ridge,
    double minTokensPerFeature, ArrayRef<BlockRefitLayer> layers,
    const std::vector<::attn::rt::Array> &inputs,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::vector<std::string> &notes, std::vector<JointPhaseTime> &times,
    std::string &error);

/// Replaces the down projection weight of every block whose attention
/// carries `attn.share_down_weight` by it, and drops the attribute.
LogicalResult foldBlockRefits(ModuleOp module, std::string &error);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_JOINTBLOCKREFIT_H
