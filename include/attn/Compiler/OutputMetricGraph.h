//===- OutputMetricGraph.h - the output metric's sensitivity from the graph -*- C++ -*-===//
//
// --share-kv-output-metric: the sensitivity S [width, width] of the model
// to an attention's output, read from the model's constants
// (include/attn/Calibration/OutputMetric.h turns it into the fits' metric).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_OUTPUTMETRICGRAPH_H
#define ATTN_COMPILER_OUTPUTMETRICGRAPH_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/BuiltinOps.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::attn::compile {

/// The direct path to the logits: J^T J with J = W_lm diag(g), W_lm the
/// constant weight of the contraction that computes the function's first
/// result and g the constant gain multiplied into its input just before
/// (through an optional bias add; none: 1). Empty with `why` when the
/// result is not such a contraction over `width`.
std::vector<double> logitsSensitivity(ModuleOp module, int64_t width,
                                      std::string &why);

/// The next MLP's input sensitivity: diag(g) (sum over its input
/// projections of W^T W) diag(g), the projections being the
/// constant-weight contractions over `width` reached from the stream after
/// the attention's residual Add through elementwise and reduction ops (the
/// norm), g the constant gain among those ops (none: 1). Empty with `why`
/// when the block (JointBlockRefit.h's matchBlock) or the projections are
/// not there.
std::vector<double> mlpSensitivity(AttentionOp op, int64_t width,
                                   std::string &why);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_OUTPUTMETRICGRAPH_H
