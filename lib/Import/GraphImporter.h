//===- GraphImporter.h - the graph walker behind importOnnxModel -*- C++
//-*-===//
//
// Private to lib/Import: the state of one import (values by ONNX name, the
// function being built, opsets, model-local functions), which NodeContext
// reads and writes for the operator importers.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_IMPORT_GRAPHIMPORTER_H
#define ATTN_LIB_IMPORT_GRAPHIMPORTER_H

#include "ImportContext.h"

#include "attn/Import/OnnxImporter.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Path.h"

#include <map>

namespace mlir::attn::onnx_import {

/// The registry of every operator importer.
const OpRegistry &getRegistry();

/// "domain::op_type", with "ai.onnx" spelt "".
std::string registryKey(StringRef domain, StringRef opType);

/// The node's name for messages and locations: its name, else its first
/// output, else its op type.
std::string nodeName(const onnx::NodeProto &node);

/// One import: values by ONNX name, the function being built, opsets and
/// model-local functions.
class GraphImporter {
public:
  GraphImporter(MLIRContext *context, onnx::ModelProto &model, StringRef path,
                const OnnxImportOptions &options)
      : context(context), builder(context), model(model), path(path.str()),
        options(options), constBuilder(context) {
    modelDir = llvm::sys::path::parent_path(path).str();
    if (modelDir.empty())
      modelDir = ".";
  }

  FailureOr<OwningOpRef<ModuleOp>> run();

  MLIRContext *context;
  OpBuilder builder;

  const ImportedValue *lookup(StringRef name) const {
    auto it = values.find(name);
    return it == values.end() ? nullptr : &it->second;
  }
  Value materialize(StringRef name);
  Value constantValue(const HostTensor &tensor, Location loc);
  /// A large `tensor` becomes a blob that shares its bytes (see
  /// toSharedAttr); `name` names the blob.
  Value constantValue(std::shared_ptr<const HostTensor> tensor, Location loc,
                      StringRef name);
  StringRef modelDirectory() const { return modelDir; }
  void define(StringRef name, ImportedValue value) {
    if (!name.empty())
      values[name] = std::move(value);
  }

private:
  /// Initializers' raw data moves out of it into HostTensors.
  onnx::ModelProto &model;
  std::string path, modelDir;
  const OnnxImportOptions &options;
  OpBuilder constBuilder;
  llvm::StringMap<ImportedValue> values;
  /// Blob key -> {file, offset} of each constant whose bytes are a range of
  /// an external data file; becomes the module's `attn.external_data`.
  llvm::StringMap<std::pair<std::string, int64_t>> externalData;
  /// Opset version per domain ("" for the default domain).
  llvm::StringMap<int64_t> opsets;
  /// Model-local functions by "domain::name".
  llvm::StringMap<const onnx::FunctionProto *> functions;
  /// Counter for the value names of inlined function bodies.
  unsigned inlineCounter = 0;
  /// Nesting of function calls being inlined (ONNX forbids recursion; a
  /// model that has it must not overflow the stack).
  unsigned inlineDepth = 0;

  Location fileLoc() { return FileLineColLoc::get(context, path, 0, 0); }
  Location nodeLoc(const onnx::NodeProto &node);
  InFlightDiagnostic emitModelError() { return mlir::emitError(fileLoc()); }

  LogicalResult collectOpsets();
  LogicalResult checkSupported(const onnx::GraphProto &graph);
  void collectUnsupported(
      const google::protobuf::RepeatedPtrField<onnx::NodeProto> &nodes,
      std::map<std::string, SmallVector<std::string>> &unsupported,
      llvm::StringSet<> &visitedFunctions);
  LogicalResult readInitializers(onnx::GraphProto &graph);
  LogicalResult bindInputs(const onnx::GraphProto &graph,
                           SmallVectorImpl<const onnx::ValueInfoProto *> &args,
                           SmallVectorImpl<ImportedValue> &argValues);
  FailureOr<SmallVector<const onnx::NodeProto *>>
  sortNodes(ArrayRef<const onnx::NodeProto *> nodes,
            const llvm::StringSet<> &available);
  LogicalResult importNodes(ArrayRef<const onnx::NodeProto *> nodes);
  LogicalResult importNode(const onnx::NodeProto &node);
  /// Every output `node` names is defined, with a valid shape.
  LogicalResult checkOutputs(const onnx::NodeProto &node,
                             const onnx::FunctionProto *function);
  LogicalResult inlineFunction(const onnx::NodeProto &call,
                               const onnx::FunctionProto &function);
  const onnx::FunctionProto *findFunction(const onnx::NodeProto &node) const;
  int64_t opsetOf(StringRef domain) const;
};

} // namespace mlir::attn::onnx_import

#endif // ATTN_LIB_IMPORT_GRAPHIMPORTER_H
