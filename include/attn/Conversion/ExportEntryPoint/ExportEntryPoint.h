//===- ExportEntryPoint.h - what attn-export-entry-point exports -*- C++ -*-===//
//
// The attributes that steer `attn-export-entry-point` and the helper that
// picks the function it exports, so drivers (attn-compile) can annotate that
// function before bufferisation.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_EXPORTENTRYPOINT_EXPORTENTRYPOINT_H
#define ATTN_CONVERSION_EXPORTENTRYPOINT_EXPORTENTRYPOINT_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"

namespace mlir::attn {

/// Argument (or, before bufferisation, result) attribute: the tensor's name
/// in the model signature (StringAttr).
constexpr llvm::StringLiteral kNameAttr = "attn.name";
/// Argument attribute: this memref argument is an output (UnitAttr).
/// `bufferize.result`, which `buffer-results-to-out-params{add-result-attr}`
/// sets, means the same.
constexpr llvm::StringLiteral kOutputAttr = "attn.output";
constexpr llvm::StringLiteral kBufferizeResultAttr = "bufferize.result";
/// Function attribute (integer): the function had this many results before
/// they became trailing out-parameters. Used when no argument is marked.
constexpr llvm::StringLiteral kNumOutputsAttr = "attn.num_outputs";

/// Argument attribute (integer i): this argument is a buffer that the
/// function updates in place and returns as result i (attn-fuse-decode's KV
/// caches). After `attn-drop-tied-results` it marks an `inout` buffer.
constexpr llvm::StringLiteral kTiedResultAttr = "attn.tied_result";

/// The decode-model conventions of exported decoders, in one place: a graph
/// input whose name contains kPastNameMarker (any case) holds past keys or
/// values (decode-model detection in lib/Compiler); the inputs and the
/// output named after the kRole* values below are what a decoding loop
/// drives (attn-mark-entry-point).
constexpr llvm::StringLiteral kPastNameMarker = "past";

/// Argument (or, before bufferisation, result) attribute: what a decoding
/// loop uses the buffer for (StringAttr, one of the kRole* below).
/// attn-mark-entry-point sets it on a decode step; attn-export-entry-point
/// writes it as a `role ROLE NAME` line of the signature.
constexpr llvm::StringLiteral kRoleAttr = "attn.role";
constexpr llvm::StringLiteral kRoleInputIds = "input_ids";
constexpr llvm::StringLiteral kRolePositionIds = "position_ids";
constexpr llvm::StringLiteral kRoleAttentionMask = "attention_mask";
constexpr llvm::StringLiteral kRoleCachePosition = "cache_position";
constexpr llvm::StringLiteral kRoleLogits = "logits";

/// Names of the symbols that a compiled model exports.
constexpr llvm::StringLiteral kRunFunctionName = "attn_model_run";
constexpr llvm::StringLiteral kSignatureName = "attn_model_signature";

/// The function to export: `name` if not empty, else the only public
/// function with a body. Emits an error and fails when there is none or
/// there are several.
FailureOr<func::FuncOp> findEntryFunction(ModuleOp module, StringRef name);

} // namespace mlir::attn

#endif // ATTN_CONVERSION_EXPORTENTRYPOINT_EXPORTENTRYPOINT_H
