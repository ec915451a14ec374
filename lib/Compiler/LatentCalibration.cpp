//===- LatentCalibration.cpp - calibrate the latent (MLA) form ------------===//
//
// Compiles a copy of the model that returns the Q, K, V of every attention
// instead of its outputs, runs it on the calibration inputs, fits the
// latent form with lib/Calibration/LatentSharing.cpp and attaches the maps
// to each op for `attn-share-kv-latent`.
//
//===----------------------------------------------------------------------===//

#include "attn/Compiler/LatentCalibration.h"

#include "attn/Compiler/AttentionSamples.h"
#include "attn/Compiler/CompileReport.h"
#include "attn/Compiler/KVCalibration.h"

#include "attn/Calibration/LatentSharing.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Parallel.h"

#include <map>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The ops to convert: single-result attention not already latent.
bool isCandidate(AttentionOp op) {
  return op.getNumResults() == 1 && !op->hasAttr("attn.latent");
}

SmallVector<AttentionOp> candidates(ModuleOp module) {
  SmallVector<AttentionOp> ops;
  module.walk([&](AttentionOp op) {
    if (isCandidate(op))
      ops.push_back(op);
  });
  return ops;
}

DenseElementsAttr f64Attr(MLIRContext *ctx, ArrayRef<int64_t> shape,
                          const std::vector<double> &values) {
  auto type = RankedTensorType::get(shape, Float64Type::get(ctx));
  return DenseElementsAttr::get(type, ArrayRef<double>(values));
}

} // namespace

LogicalResult mlir::attn::compile::calibrateLatent(
    ModuleOp module, int64_t rank, int64_t ropeDim,
    const std::string &calibrationPath,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::string &log, std::string &error) {
  SmallVector<AttentionOp> ops = candidates(module);
  if (ops.empty())
    return success();
  for (AttentionOp op : ops)
    if (!op.getQueryType().getElementType().isF32() ||
        !op.getKeyType().getElementType().isF32() ||
        !op.getValueType().getElementType().isF32()) {
      error = "--share-kv-method=latent calibrates f32 attention; the one at " +
              locationName(op.getLoc()) + " is not";
      return failure();
    }

  // A copy that returns every attention's operands (and nothing else).
  std::vector<::attn::calib::AttentionSample> probed;
  if (failed(compile::probeAttentionSamples(
          module, ops, compile::SampleParts{/*queries=*/true, /*bias=*/false},
          calibrationPath, buildLibrary, probed, error)))
    return failure();
  std::vector<std::vector<::attn::calib::AttentionSample>> samples(ops.size());
  for (auto [i, s] : llvm::enumerate(probed))
    samples[i].push_back(std::move(s));

  std::vector<std::optional<::attn::calib::LatentMaps>> fits(ops.size());
  std::vector<std::string> errors(ops.size());
  llvm::parallelFor(0, ops.size(), [&](size_t i) {
    const ::attn::calib::AttentionSample &s = samples[i].front();
    fits[i] = ::attn::calib::fitLatentMaps(
        samples[i], rank, ropeDim >= 0 ? ropeDim : s.headDim / 2, errors[i]);
  });

  MLIRContext *ctx = module.getContext();
  llvm::raw_string_ostream os(log);
  for (auto [i, op] : llvm::enumerate(ops)) {
    if (!fits[i]) {
      error = "--share-kv-method=latent: attention at " +
              locationName(op.getLoc()) + ": " + errors[i];
      return failure();
    }
    const ::attn::calib::AttentionSample &s = samples[i].front();
    const ::attn::calib::LatentMaps &m = *fits[i];
    int64_t rope = ropeDim >= 0 ? ropeDim : s.headDim / 2;
    op->setAttr("attn.latent_key_encoder",
                f64Attr(ctx, {s.kvHeads, s.headDim, rank}, m.keyEncoder));
    op->setAttr("attn.latent_value_encoder",
                f64Attr(ctx, {s.kvHeads, s.valueDim, rank}, m.valueEncoder));
    op->setAttr("attn.latent_rope_encoder",
                f64Attr(ctx, {s.kvHeads, s.headDim, rope}, m.ropeEncoder));
    op->setAttr("attn.latent_query_maps",
                f64Attr(ctx, {s.qHeads, s.headDim, rank + rope}, m.queryMaps));
    op->setAttr("attn.latent_output_maps",
                f64Attr(ctx, {s.qHeads, rank, s.valueDim}, m.outputMaps));
    os << llvm::formatv("share-kv latent: {0}: rank {1} + rope {2}, relative "
                        "error of the keys {3:e3}, of the values {4:e3}\n",
                        locationName(op.getLoc()), rank, rope, m.keyError,
                        m.valueError);
  }
  return success();
}

LogicalResult mlir::attn::compile::copyLatentAttributes(ModuleOp from,
                                                        ModuleOp to,
                                                        std::string &error) {
  return copyAttentionAttributes(from, to, "attn.latent_", error);
}
