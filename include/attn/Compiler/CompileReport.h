//===- CompileReport.h - the --report JSON of attn-compile ------*- C++ -*-===//

#ifndef ATTN_COMPILER_COMPILEREPORT_H
#define ATTN_COMPILER_COMPILEREPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"

namespace mlir::attn::compile {

/// Describes every attn.attention and attn.decode op of `module`
/// (docs/attn-compile.md lists the fields).
llvm::json::Object buildReport(mlir::ModuleOp module);

/// The op's name for people: the innermost NameLoc (an ONNX node name), else
/// file:line:col.
std::string locationName(mlir::Location loc);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_COMPILEREPORT_H
