//===- ImportContext.cpp - the operator registry and NodeContext ---------===//

#include "ImportContext.h"

#include "GraphImporter.h"
#include "LinalgBuilders.h"

using namespace mlir;
using namespace mlir::attn::onnx_import;

//===----------------------------------------------------------------------===//
// OpRegistry
//===----------------------------------------------------------------------===//

std::string mlir::attn::onnx_import::registryKey(StringRef domain,
                                                 StringRef opType) {
  if (domain == "ai.onnx")
    domain = "";
  return (domain + "::" + opType).str();
}

void OpRegistry::add(StringRef domain, StringRef opType, OpImporter import,
                     OpFolder fold) {
  OpDef &def = defs[registryKey(domain, opType)];
  def.import = std::move(import);
  if (fold)
    def.fold = std::move(fold);
}

void OpRegistry::addFolder(StringRef domain, StringRef opType, OpFolder fold) {
  defs[registryKey(domain, opType)].fold = std::move(fold);
}

const OpDef *OpRegistry::lookup(StringRef domain, StringRef opType) const {
  auto it = defs.find(registryKey(domain, opType));
  if (it == defs.end() || !it->second.import)
    return nullptr;
  return &it->second;
}

const OpRegistry &mlir::attn::onnx_import::getRegistry() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    registerElementwiseOps(r);
    registerMatMulOps(r);
    registerShapeOps(r);
    registerGatherNDOp(r);
    registerScatterOps(r);
    registerNormalizationOps(r);
    registerAttentionOps(r);
    registerMicrosoftAttentionOps(r);
    registerRotaryEmbeddingOps(r);
    registerConstantFolders(r);
    return r;
  }();
  return registry;
}

//===----------------------------------------------------------------------===//
// NodeContext
//===----------------------------------------------------------------------===//

NodeContext::NodeContext(GraphImporter &importer, const onnx::NodeProto &node,
                         Location loc, int64_t opset)
    : node(node), loc(loc), opset(opset), importer(importer) {}

OpBuilder &NodeContext::builder() { return importer.builder; }
MLIRContext *NodeContext::getContext() { return importer.context; }

bool NodeContext::hasInput(unsigned i) const {
  return i < unsigned(node.input_size()) && !node.input(i).empty();
}

const ImportedValue *NodeContext::input(unsigned i) const {
  return hasInput(i) ? importer.lookup(node.input(i)) : nullptr;
}

Value NodeContext::value(unsigned i) {
  return hasInput(i) ? importer.materialize(node.input(i)) : nullptr;
}

bool NodeContext::allInputsConstant() const {
  for (unsigned i = 0; i < numInputs(); ++i)
    if (hasInput(i) && !input(i)->isConstant())
      return false;
  return true;
}

FailureOr<SmallVector<int64_t>> NodeContext::constantInts(unsigned i,
                                                          StringRef what) {
  const ImportedValue *v = input(i);
  if (!v)
    return emitError() << "has no " << what << " input";
  if (!v->isConstant())
    return emitError() << "needs its " << what
                       << " to be known at compile time, but it is computed "
                          "from the values of graph inputs";
  if (!isInteger(v->dtype))
    return emitError() << "needs an integer " << what << ", not "
                       << dtypeName(v->dtype);
  return v->constant->toInts();
}

bool NodeContext::hasOutput(unsigned i) const {
  return i < unsigned(node.output_size()) && !node.output(i).empty();
}

void NodeContext::setOutput(unsigned i, Value value, DType dtype) {
  if (!hasOutput(i))
    return;
  ImportedValue v;
  v.dtype = dtype;
  v.shape.assign(shapeOf(value).begin(), shapeOf(value).end());
  v.value = value;
  importer.define(node.output(i), std::move(v));
}

void NodeContext::setOutput(unsigned i, HostTensor constant) {
  if (!hasOutput(i))
    return;
  ImportedValue v;
  v.dtype = constant.dtype;
  v.shape = constant.shape;
  v.constant = std::make_shared<const HostTensor>(std::move(constant));
  importer.define(node.output(i), std::move(v));
}

void NodeContext::setOutput(unsigned i, const ImportedValue &value) {
  if (hasOutput(i))
    importer.define(node.output(i), value);
}

const onnx::AttributeProto *NodeContext::attr(StringRef name) const {
  for (const onnx::AttributeProto &a : node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

std::optional<int64_t> NodeContext::attrInt(StringRef name) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return std::nullopt;
  return a->i();
}

int64_t NodeContext::attrInt(StringRef name, int64_t defaultValue) const {
  return attrInt(name).value_or(defaultValue);
}

std::optional<float> NodeContext::attrFloat(StringRef name) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return std::nullopt;
  return a->f();
}

float NodeContext::attrFloat(StringRef name, float defaultValue) const {
  return attrFloat(name).value_or(defaultValue);
}

std::string NodeContext::attrString(StringRef name,
                                    StringRef defaultValue) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->s() : defaultValue.str();
}

std::optional<SmallVector<int64_t>>
NodeContext::attrInts(StringRef name) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return std::nullopt;
  return SmallVector<int64_t>(a->ints().begin(), a->ints().end());
}

InFlightDiagnostic NodeContext::emitError() {
  return mlir::emitError(loc)
         << "node '" << nodeName(node) << "' (" << node.op_type() << "): ";
}

LogicalResult NodeContext::checkArity(unsigned min, unsigned max) {
  unsigned present = 0;
  for (unsigned i = 0; i < numInputs(); ++i)
    present = hasInput(i) ? i + 1 : present;
  for (unsigned i = 0; i < min; ++i)
    if (!hasInput(i))
      return emitError() << "needs at least " << min << " inputs";
  if (present > max)
    return emitError() << "takes at most " << max << " inputs";
  if (numOutputs() == 0)
    return emitError() << "has no outputs";
  return success();
}

StringRef NodeContext::modelDirectory() const {
  return importer.modelDirectory();
}

Value NodeContext::constantValue(const HostTensor &tensor) {
  return importer.constantValue(tensor, loc);
}
