//===- ModelImport.cpp - read a model file into an MLIR module ------------===//

#include "attn/Compiler/ModelImport.h"

#include "attn/Import/OnnxImporter.h"

#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::attn::compile;

namespace {

OwningOpRef<ModuleOp> importMlir(const std::string &path, MLIRContext &context,
                                 llvm::SourceMgr &sourceMgr,
                                 std::string &errorMessage) {
  auto file = llvm::MemoryBuffer::getFileOrSTDIN(path);
  if (std::error_code ec = file.getError()) {
    errorMessage = "cannot read '" + path + "': " + ec.message();
    return nullptr;
  }
  sourceMgr.AddNewSourceBuffer(std::move(*file), llvm::SMLoc());
  return parseSourceFile<ModuleOp>(sourceMgr, &context);
}

} // namespace

OwningOpRef<ModuleOp> mlir::attn::compile::importModel(const std::string &path,
                                                 const ImportOptions &options,
                                                 MLIRContext &context,
                                                 llvm::SourceMgr &sourceMgr,
                                                 std::string &errorMessage) {
  std::string ext = llvm::sys::path::extension(path).lower();
  if (ext == ".mlir" || path == "-")
    return importMlir(path, context, sourceMgr, errorMessage);
  if (ext == ".onnx") {
    attn::OnnxImportOptions onnxOptions;
    for (const auto &[name, size] : options.dims)
      onnxOptions.dims[name] = size;
    for (const auto &[name, shape] : options.inputShapes)
      onnxOptions.inputShapes[name].assign(shape.begin(), shape.end());
    auto module = attn::importOnnxModel(path, onnxOptions, &context);
    if (failed(module)) {
      errorMessage = "cannot import '" + path + "'";
      return nullptr;
    }
    return std::move(*module);
  }
  errorMessage = "cannot compile '" + path + "': unknown input format '" +
                 ext + "' (expected a .mlir or .onnx file)";
  return nullptr;
}

OwningOpRef<ModuleOp> mlir::attn::compile::importMlirFromBuffer(
    StringRef bytes, StringRef name, MLIRContext &context,
    llvm::SourceMgr &sourceMgr) {
  sourceMgr.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(bytes, name),
                               llvm::SMLoc());
  return parseSourceFile<ModuleOp>(sourceMgr, &context);
}
