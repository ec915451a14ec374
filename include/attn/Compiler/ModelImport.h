//===- ModelImport.h - read a model file into an MLIR module ----*- C++ -*-===//
//
// The compiler's one place that knows input formats: it dispatches on the
// file extension. An importer for a new format is one more entry in
// ModelImport.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_MODELIMPORT_H
#define ATTN_COMPILER_MODELIMPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/SourceMgr.h"

#include <map>
#include <string>
#include <vector>

namespace mlir::attn::compile {

struct ImportOptions {
  /// --dim NAME=SIZE: sizes of symbolic dimensions.
  std::map<std::string, int64_t> dims;
  /// --input-shape NAME=D0xD1...: shapes of the graph inputs that the caller
  /// will pass (attn-run sets them from its .npz) to bind symbolic sizes.
  std::map<std::string, std::vector<int64_t>> inputShapes;
};

/// Reads `path` (.mlir; .onnx once the ONNX importer is built). Reports
/// errors through the context's diagnostic handler (or `errorMessage` when
/// the format itself is not supported) and returns null.
mlir::OwningOpRef<mlir::ModuleOp> importModel(const std::string &path,
                                              const ImportOptions &options,
                                              mlir::MLIRContext &context,
                                              llvm::SourceMgr &sourceMgr,
                                              std::string &errorMessage);

/// Parses MLIR held in memory; `name` is the buffer's name in diagnostics.
mlir::OwningOpRef<mlir::ModuleOp>
importMlirFromBuffer(llvm::StringRef bytes, llvm::StringRef name,
                     mlir::MLIRContext &context, llvm::SourceMgr &sourceMgr);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_MODELIMPORT_H
