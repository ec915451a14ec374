//===- ImportContext.h - what an operator importer sees ---------*- C++ -*-===//
//
// The graph walker (GraphImporter.cpp) hands each ONNX node to the importer
// of its op type through a NodeContext: the node's inputs as ImportedValues
// (static shape, IR value and/or import-time constant), its attributes, a
// builder positioned in the function and a location naming the node.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_IMPORT_IMPORTCONTEXT_H
#define ATTN_LIB_IMPORT_IMPORTCONTEXT_H

#include "HostTensor.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringMap.h"

#include <onnx/onnx_pb.h>

#include <functional>
#include <memory>

namespace mlir::attn::onnx_import {

class GraphImporter;

/// One ONNX value: its static type, and its IR value or its import-time
/// constant (a constant gets an IR value only when an op needs one).
struct ImportedValue {
  DType dtype = DType::Undefined;
  SmallVector<int64_t> shape;
  Value value;
  std::shared_ptr<const HostTensor> constant;

  int64_t rank() const { return shape.size(); }
  bool isConstant() const { return constant != nullptr; }
};

/// The node being imported.
class NodeContext {
public:
  NodeContext(GraphImporter &importer, const onnx::NodeProto &node,
              Location loc, int64_t opset);

  const onnx::NodeProto &node;
  Location loc;
  /// The opset version of the node's domain.
  int64_t opset;
  OpBuilder &builder();
  MLIRContext *getContext();

  // Inputs. Missing optional inputs (absent or "") read as null.
  unsigned numInputs() const { return node.input_size(); }
  bool hasInput(unsigned i) const;
  const ImportedValue *input(unsigned i) const;
  /// The IR value of input `i` (materialising a constant).
  Value value(unsigned i);
  /// Every present input is an import-time constant.
  bool allInputsConstant() const;
  /// The integer contents of constant input `i`; an error if the input is
  /// not known at import time (`what` names it for the message).
  FailureOr<SmallVector<int64_t>> constantInts(unsigned i, StringRef what);

  // Outputs.
  unsigned numOutputs() const { return node.output_size(); }
  bool hasOutput(unsigned i) const;
  void setOutput(unsigned i, Value value, DType dtype);
  void setOutput(unsigned i, HostTensor constant);
  void setOutput(unsigned i, const ImportedValue &value);

  // Attributes.
  const onnx::AttributeProto *attr(StringRef name) const;
  int64_t attrInt(StringRef name, int64_t defaultValue) const;
  std::optional<int64_t> attrInt(StringRef name) const;
  float attrFloat(StringRef name, float defaultValue) const;
  std::optional<float> attrFloat(StringRef name) const;
  std::string attrString(StringRef name, StringRef defaultValue = "") const;
  std::optional<SmallVector<int64_t>> attrInts(StringRef name) const;

  /// An error at the node: "node 'NAME' (OpType): ...".
  InFlightDiagnostic emitError();
  /// Checks that the node has at least `min` (and at most `max`) inputs.
  LogicalResult checkArity(unsigned min, unsigned max);

  /// Materialises a host tensor as an `arith.constant`.
  Value constantValue(const HostTensor &tensor);
  /// Where external data files of the model live.
  StringRef modelDirectory() const;

private:
  GraphImporter &importer;
};

/// Imports a node into IR ops; it must set every output the node names.
using OpImporter = std::function<LogicalResult(NodeContext &)>;

/// Computes the outputs of a node at import time. Returns success(true)
/// when it did (the outputs are set), success(false) when the node must be
/// imported as IR instead, failure() after emitting an error.
using OpFolder = std::function<FailureOr<bool>(NodeContext &)>;

struct OpDef {
  OpImporter import;
  OpFolder fold;
};

/// Op type -> importer, per domain ("" is the default ONNX domain).
class OpRegistry {
public:
  void add(StringRef domain, StringRef opType, OpImporter import,
           OpFolder fold = nullptr);
  /// Adds a folder to an op that has (or will have) an importer.
  void addFolder(StringRef domain, StringRef opType, OpFolder fold);
  const OpDef *lookup(StringRef domain, StringRef opType) const;

private:
  llvm::StringMap<OpDef> defs;
};

/// Import-time folding refuses results with more elements than this; such
/// nodes become IR.
constexpr int64_t kMaxFoldElements = int64_t(1) << 20;

// One registration function per operator family.
void registerElementwiseOps(OpRegistry &registry);
void registerMatMulOps(OpRegistry &registry);
void registerShapeOps(OpRegistry &registry);
void registerGatherNDOp(OpRegistry &registry);
void registerScatterOps(OpRegistry &registry);
void registerNormalizationOps(OpRegistry &registry);
void registerAttentionOps(OpRegistry &registry);
void registerMicrosoftAttentionOps(OpRegistry &registry);
void registerRotaryEmbeddingOps(OpRegistry &registry);
void registerConstantFolders(OpRegistry &registry);

} // namespace mlir::attn::onnx_import

#endif // ATTN_LIB_IMPORT_IMPORTCONTEXT_H
