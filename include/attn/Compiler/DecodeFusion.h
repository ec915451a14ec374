//===- DecodeFusion.h - detect and check a fused decode step -*- C++ -*-===//
//
// Decode-model detection. A decode-step ONNX model whose past length is a
// symbolic dimension is compiled with its KV caches preallocated: the past
// dimension is bound to max_seq - 1, so that concat(past, new) spans the
// whole cache, and `attn-fuse-decode` turns every such concat + attention
// into an in-place append (attn.decode) at a new `cache_position` input. The compiled model
// takes the caches as inout buffers, and attn-mark-entry-point gives the
// buffers a decoding loop drives their roles (docs/runtime-abi.md).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_DECODEFUSION_H
#define ATTN_COMPILER_DECODEFUSION_H

#include "attn/Compiler/ModelImport.h"

#include "mlir/IR/BuiltinOps.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::attn::compile {

/// What fusing the decode of a model binds and expects.
struct DecodeFusionPlan {
  /// The symbolic past length shared by the `past*` inputs.
  std::string pastDim;
  /// The graph inputs that carry the past keys and values.
  std::vector<std::string> pastInputs;
  /// Cache capacity in positions.
  int64_t maxSeq = 0;
};

/// Finds the symbolic past length of the ONNX model at `path`: the
/// second-to-last dimension of the inputs whose name contains "past",
/// unbound by `options`. Returns std::nullopt when the model has none (a
/// static past, or a past bound by --dim/--input-shape); fails (with
/// `error`) when the past inputs disagree. On success binds the past
/// dimension to maxSeq - 1, and the last dimension of a rank-2
/// `attention_mask` input, when symbolic, to maxSeq.
FailureOr<std::optional<DecodeFusionPlan>>
planDecodeFusion(const std::string &path, int64_t maxSeq,
                 ImportOptions &options, MLIRContext &context,
                 std::string &error);

/// Checks, after attn-fuse-decode (buildAttnFuseDecodePipeline), that every
/// past input of `plan` became an in-place cache of `entryFunction` ("" :
/// the only public function); fails with `error` naming the first that did
/// not.
LogicalResult checkDecodeFusion(ModuleOp module, const DecodeFusionPlan &plan,
                                StringRef entryFunction, std::string &error);

/// Adds the shape of every array of the .npz at `path` to
/// `options.inputShapes` (to import a model at the sizes of its inputs).
LogicalResult addInputShapesFromNpz(const std::string &path,
                                    ImportOptions &options,
                                    std::string &error);

/// Copies the calibrated sharing attributes (attn.share_*) of the attention
/// ops of `from` onto those of `to`, op by op in program order: the same
/// graph imported with other sizes. Fails when the ops do not correspond.
LogicalResult copySharingAttributes(ModuleOp from, ModuleOp to,
                                    std::string &error);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_DECODEFUSION_H
