//===- OnnxImporter.h - ONNX models to func + linalg + attn -----*- C++ -*-===//
//
// Reads an ONNX model (protobuf, with external data) and builds one
// `func.func` of static-shaped tensors: upstream linalg/tensor/arith/math ops
// for the operator set of exported transformer decoders and `attn.attention`
// for ONNX `Attention` and ORT's com.microsoft attention ops.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_IMPORT_ONNXIMPORTER_H
#define ATTN_IMPORT_ONNXIMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <string>

namespace mlir::attn {

struct OnnxImportOptions {
  /// `--dim NAME=SIZE`: sizes of symbolic dimensions (`dim_param`).
  llvm::StringMap<int64_t> dims;
  /// Shapes of graph inputs as the caller will pass them (attn-run binds
  /// them from its .npz); they bind the symbolic dimensions they carry and
  /// must agree with the static ones.
  llvm::StringMap<llvm::SmallVector<int64_t>> inputShapes;
  /// Name of the imported function.
  std::string entryName = "main";
};

/// Imports the model at `path`. On failure, reports every problem through
/// the context's diagnostic engine (locations name the ONNX nodes) and
/// returns failure; no partial module is returned.
///
/// The function takes the graph inputs (not initializers) as arguments and
/// returns the graph outputs; each argument and result carries its ONNX name
/// as the `attn.name` string attribute.
FailureOr<OwningOpRef<ModuleOp>>
importOnnxModel(llvm::StringRef path, const OnnxImportOptions &options,
                MLIRContext *context);

/// Imports a model held in memory (`bytes`, a serialized ModelProto) like
/// `importOnnxModel`. `path` names the model in messages and locations, and
/// external data is read relative to its directory; `path` itself is not
/// read.
FailureOr<OwningOpRef<ModuleOp>>
importOnnxModelFromBuffer(llvm::StringRef bytes, llvm::StringRef path,
                          const OnnxImportOptions &options,
                          MLIRContext *context);

/// One graph input as `attn-compile --print-inputs` lists it.
struct OnnxInputInfo {
  std::string name;
  std::string dtype; ///< numpy spelling: float32, float16, bfloat16, int64...
  /// Sizes; a symbolic size is its name (`dim_param`), an unknown one "?".
  llvm::SmallVector<std::string> dims;
};

/// The graph inputs of the model at `path` (initializers excluded), without
/// importing it. Reports errors like `importOnnxModel`.
FailureOr<llvm::SmallVector<OnnxInputInfo>>
listOnnxInputs(llvm::StringRef path, MLIRContext *context);

} // namespace mlir::attn

#endif // ATTN_IMPORT_ONNXIMPORTER_H
