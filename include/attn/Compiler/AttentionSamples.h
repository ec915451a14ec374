//===- AttentionSamples.h - attention operands read by a probe -*- C++ -*-===//
//
// Every calibration starts the same way: a copy of the model returns the
// operands of the attentions it converts, runs on the calibration inputs,
// and each attention's q, k, v (and the bias its mask, causal offset and KV
// lengths amount to) become one sample for lib/Calibration.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_ATTENTIONSAMPLES_H
#define ATTN_COMPILER_ATTENTIONSAMPLES_H

#include "attn/Calibration/KVSharing.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace attn::rt {
struct Array;
} // namespace attn::rt

namespace mlir::attn::compile {

/// What a sample carries besides the keys, values and sizes.
struct SampleParts {
  /// The queries (the grouping scores KV heads on keys and values only).
  bool queries = true;
  /// The additive bias of the op's mask, causal offset and KV lengths.
  bool bias = true;
};

/// Runs `module` on the inputs in `calibrationPath` through a probe that
/// returns the operands of `ops` (attentions of `module`, in walk order)
/// and gives one sample per op in `samples`: q (with `parts.queries`), k, v
/// as f32, scale, softcap and (with `parts.bias`) the bias. With
/// `extraValue`, the probe also returns, per op of its copy of the model,
/// the value `extraValue` picks there; `extras` gets them in the same
/// order. `inputs`, when given, keeps the calibration inputs read.
LogicalResult probeAttentionSamples(
    ModuleOp module, ArrayRef<AttentionOp> ops, SampleParts parts,
    const std::string &calibrationPath,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::vector<::attn::calib::AttentionSample> &samples, std::string &error,
    function_ref<Value(AttentionOp)> extraValue = nullptr,
    std::vector<::attn::rt::Array> *extras = nullptr,
    std::vector<::attn::rt::Array> *inputs = nullptr);

/// The elements of a runtime array as float (f32, f16, bf16, ints, bool).
std::vector<float> arrayFloats(const ::attn::rt::Array &a);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_ATTENTIONSAMPLES_H
