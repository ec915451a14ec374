//===- GraphImporter.cpp - ONNX graph to one func.func --------------------===//
//
// Loads the model, binds symbolic dimensions, checks that every operator is
// supported (one error listing all that are not), orders the nodes, inlines
// model-local functions, and imports node by node: each node is first offered
// to its import-time folder (shape arithmetic becomes constants), else to its
// IR importer. Constants become `arith.constant`s only when an op reads them.
//
//===----------------------------------------------------------------------===//

#include "attn/Import/OnnxImporter.h"

#include "GraphImporter.h"
#include "ImportContext.h"
#include "LinalgBuilders.h"
#include "ModelLoader.h"
#include "ShapeUtils.h"

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Path.h"

#include <map>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::onnx_import;

//===----------------------------------------------------------------------===//
// GraphImporter
//===----------------------------------------------------------------------===//

std::string mlir::attn::onnx_import::nodeName(const onnx::NodeProto &node) {
  if (!node.name().empty())
    return node.name();
  for (const std::string &output : node.output())
    if (!output.empty())
      return output;
  return node.op_type();
}

Location GraphImporter::nodeLoc(const onnx::NodeProto &node) {
  return NameLoc::get(StringAttr::get(context, nodeName(node)), fileLoc());
}

int64_t GraphImporter::opsetOf(StringRef domain) const {
  if (domain == "ai.onnx")
    domain = "";
  auto it = opsets.find(domain);
  return it == opsets.end() ? 1 : it->second;
}

LogicalResult GraphImporter::collectOpsets() {
  for (const onnx::OperatorSetIdProto &id : model.opset_import()) {
    std::string domain = id.domain() == "ai.onnx" ? "" : id.domain();
    opsets[domain] = id.version();
  }
  if (!opsets.count("")) {
    // A model of only custom-domain ops is fine; a default-domain node in it
    // is not.
    opsets[""] = 0;
  }
  for (const onnx::FunctionProto &function : model.functions())
    functions[registryKey(function.domain(), function.name())] = &function;
  return success();
}

const onnx::FunctionProto *
GraphImporter::findFunction(const onnx::NodeProto &node) const {
  auto it = functions.find(registryKey(node.domain(), node.op_type()));
  return it == functions.end() ? nullptr : it->second;
}

void GraphImporter::collectUnsupported(
    const google::protobuf::RepeatedPtrField<onnx::NodeProto> &nodes,
    std::map<std::string, SmallVector<std::string>> &unsupported,
    llvm::StringSet<> &visitedFunctions) {
  const OpRegistry &registry = getRegistry();
  for (const onnx::NodeProto &node : nodes) {
    if (const onnx::FunctionProto *function = findFunction(node)) {
      if (visitedFunctions.insert(registryKey(node.domain(), node.op_type()))
              .second)
        collectUnsupported(function->node(), unsupported, visitedFunctions);
      continue;
    }
    if (registry.lookup(node.domain(), node.op_type()))
      continue;
    std::string type = node.op_type();
    if (!node.domain().empty() && node.domain() != "ai.onnx")
      type = node.domain() + "." + type;
    unsupported[type].push_back(nodeName(node));
  }
}

LogicalResult GraphImporter::checkSupported(const onnx::GraphProto &graph) {
  std::map<std::string, SmallVector<std::string>> unsupported;
  llvm::StringSet<> visitedFunctions;
  collectUnsupported(graph.node(), unsupported, visitedFunctions);
  if (unsupported.empty())
    return success();
  std::string list;
  for (auto &[type, names] : unsupported) {
    list += "\n  " + type + " (node" + (names.size() > 1 ? "s " : " ");
    for (auto [i, name] : llvm::enumerate(names)) {
      if (i == 8) {
        list += ", ... " + std::to_string(names.size() - 8) + " more";
        break;
      }
      list += (i ? ", '" : "'") + name + "'";
    }
    list += ")";
  }
  emitModelError() << "the model uses " << unsupported.size()
                   << " unsupported operator"
                   << (unsupported.size() > 1 ? "s" : "") << ":" << list;
  return failure();
}

LogicalResult GraphImporter::readInitializers(onnx::GraphProto &graph) {
  for (onnx::TensorProto &proto : *graph.mutable_initializer()) {
    auto tensor = std::make_shared<HostTensor>();
    std::string error;
    if (failed(consumeTensor(proto, modelDir, *tensor, error))) {
      emitModelError() << "initializer '" << proto.name() << "' " << error;
      return failure();
    }
    ImportedValue v;
    v.dtype = tensor->dtype;
    v.shape = tensor->shape;
    v.constant = std::move(tensor);
    define(proto.name(), std::move(v));
  }
  return success();
}

LogicalResult
GraphImporter::bindInputs(const onnx::GraphProto &graph,
                          SmallVectorImpl<const onnx::ValueInfoProto *> &args,
                          SmallVectorImpl<ImportedValue> &argValues) {
  llvm::StringMap<int64_t> dims = options.dims;
  llvm::StringSet<> inputNames;
  for (const onnx::ValueInfoProto &input : graph.input()) {
    if (values.count(input.name()))
      continue; // an initializer (IR < 4 lists them as inputs too)
    inputNames.insert(input.name());
    args.push_back(&input);
  }
  for (const auto &entry : options.inputShapes)
    if (!inputNames.contains(entry.getKey())) {
      emitModelError() << "an input shape is given for '" << entry.getKey()
                       << "', which is not an input of the graph";
      return failure();
    }

  // Bind symbolic dims from the given input shapes first, checking ranks,
  // static sizes and consistency between inputs.
  llvm::StringMap<std::string> boundBy;
  for (const onnx::ValueInfoProto *input : args) {
    auto it = options.inputShapes.find(input->name());
    if (it == options.inputShapes.end())
      continue;
    ArrayRef<int64_t> given = it->second;
    const onnx::TypeProto &type = input->type();
    if (!type.has_tensor_type() || !type.tensor_type().has_shape())
      continue;
    const auto &shapeDims = type.tensor_type().shape().dim();
    if (int64_t(shapeDims.size()) != int64_t(given.size())) {
      emitModelError() << "input '" << input->name() << "' has rank "
                       << shapeDims.size() << ", but a tensor of rank "
                       << given.size() << " is given for it";
      return failure();
    }
    for (auto [i, dim] : llvm::enumerate(shapeDims)) {
      if (dim.has_dim_value()) {
        if (dim.dim_value() != given[i]) {
          emitModelError() << "input '" << input->name() << "' has size "
                           << dim.dim_value() << " in dimension " << i
                           << ", but size " << given[i] << " is given";
          return failure();
        }
        continue;
      }
      if (!dim.has_dim_param())
        continue;
      auto [bound, inserted] = dims.try_emplace(dim.dim_param(), given[i]);
      if (!inserted && bound->second != given[i]) {
        auto by = boundBy.find(dim.dim_param());
        emitModelError() << "symbolic dimension '" << dim.dim_param() << "' is "
                         << bound->second
                         << (by == boundBy.end()
                                 ? std::string(" (--dim)")
                                 : " in input '" + by->second + "'")
                         << " but " << given[i] << " in input '"
                         << input->name() << "'";
        return failure();
      }
      boundBy.try_emplace(dim.dim_param(), input->name());
    }
  }

  // Unbound symbolic dims, in first-seen order, with the inputs using them.
  std::vector<std::pair<std::string, SmallVector<std::string>>> unbound;
  for (const onnx::ValueInfoProto *input : args) {
    const onnx::TypeProto &type = input->type();
    if (!type.has_tensor_type()) {
      emitModelError() << "input '" << input->name()
                       << "' is not a tensor (sequences, maps and optionals "
                          "are not supported)";
      return failure();
    }
    std::optional<DType> dtype = dtypeFromOnnx(type.tensor_type().elem_type());
    if (!dtype || !mlirElementType(*dtype, context)) {
      emitModelError() << "input '" << input->name()
                       << "' has an unsupported element type ("
                       << (dtype ? dtypeName(*dtype).str()
                                 : "ONNX data type " +
                                       std::to_string(
                                           type.tensor_type().elem_type()))
                       << ")";
      return failure();
    }
    ImportedValue v;
    v.dtype = *dtype;
    auto given = options.inputShapes.find(input->name());
    if (!type.tensor_type().has_shape()) {
      if (given == options.inputShapes.end()) {
        emitModelError() << "input '" << input->name()
                         << "' has no shape in the model; give its shape";
        return failure();
      }
      v.shape.assign(given->second.begin(), given->second.end());
    } else {
      for (auto [i, dim] : llvm::enumerate(type.tensor_type().shape().dim())) {
        if (dim.has_dim_value()) {
          if (dim.dim_value() < 0) {
            emitModelError() << "input '" << input->name()
                             << "' has a negative size in dimension " << i;
            return failure();
          }
          v.shape.push_back(dim.dim_value());
        } else if (dim.has_dim_param() && dims.count(dim.dim_param())) {
          v.shape.push_back(dims.lookup(dim.dim_param()));
        } else if (given != options.inputShapes.end()) {
          v.shape.push_back(given->second[i]);
        } else {
          std::string what =
              dim.has_dim_param()
                  ? "'" + dim.dim_param() + "'"
                  : "dimension " + std::to_string(i) + " (no name)";
          auto it =
              llvm::find_if(unbound, [&](auto &e) { return e.first == what; });
          if (it == unbound.end())
            it = unbound.insert(unbound.end(), {what, {}});
          SmallVector<std::string> &users = it->second;
          if (!llvm::is_contained(users, input->name()))
            users.push_back(input->name());
          v.shape.push_back(0);
        }
      }
    }
    if (!isValidShape(v.shape)) {
      emitModelError() << "input '" << input->name() << "' has shape "
                       << formatShape(v.shape)
                       << ", more than 2^40 elements or a negative size";
      return failure();
    }
    argValues.push_back(std::move(v));
  }
  if (!unbound.empty()) {
    std::string list;
    for (auto &[what, users] : unbound) {
      list += "\n  " + what + " of input" + (users.size() > 1 ? "s " : " ");
      for (auto [i, name] : llvm::enumerate(users))
        list += (i ? ", '" : "'") + name + "'";
    }
    emitModelError()
        << "symbolic dimensions without a size (bind them with --dim "
           "NAME=SIZE, or give the input shapes):"
        << list;
    return failure();
  }
  return success();
}

FailureOr<SmallVector<const onnx::NodeProto *>>
GraphImporter::sortNodes(ArrayRef<const onnx::NodeProto *> nodes,
                         const llvm::StringSet<> &available) {
  llvm::StringMap<unsigned> producer;
  for (auto [i, node] : llvm::enumerate(nodes))
    for (const std::string &output : node->output()) {
      if (output.empty())
        continue;
      if (available.contains(output)) {
        mlir::emitError(nodeLoc(*node))
            << "node '" << nodeName(*node) << "' (" << node->op_type()
            << ") writes '" << output
            << "', which is already a graph input or initializer";
        return failure();
      }
      auto [it, inserted] = producer.try_emplace(output, unsigned(i));
      if (!inserted) {
        mlir::emitError(nodeLoc(*node))
            << "node '" << nodeName(*node) << "' (" << node->op_type()
            << ") writes '" << output << "', which node '"
            << nodeName(*nodes[it->second]) << "' also writes";
        return failure();
      }
    }
  // Kahn's algorithm, keeping the file order among ready nodes.
  SmallVector<unsigned> pending(nodes.size(), 0);
  SmallVector<SmallVector<unsigned>> users(nodes.size());
  for (auto [i, node] : llvm::enumerate(nodes)) {
    for (const std::string &input : node->input()) {
      if (input.empty() || available.contains(input))
        continue;
      auto it = producer.find(input);
      if (it == producer.end()) {
        mlir::emitError(nodeLoc(*node))
            << "node '" << nodeName(*node) << "' (" << node->op_type()
            << ") reads '" << input
            << "', which is not a graph input, an initializer or the output "
               "of a node";
        return failure();
      }
      ++pending[i];
      users[it->second].push_back(i);
    }
  }
  SmallVector<const onnx::NodeProto *> order;
  std::vector<unsigned> ready;
  for (unsigned i = 0; i < nodes.size(); ++i)
    if (!pending[i])
      ready.push_back(i);
  // A min-heap on the file index keeps the original order where possible.
  std::make_heap(ready.begin(), ready.end(), std::greater<unsigned>());
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), std::greater<unsigned>());
    unsigned i = ready.back();
    ready.pop_back();
    order.push_back(nodes[i]);
    for (unsigned user : users[i])
      if (--pending[user] == 0) {
        ready.push_back(user);
        std::push_heap(ready.begin(), ready.end(), std::greater<unsigned>());
      }
  }
  if (order.size() != nodes.size()) {
    std::string cycle;
    unsigned listed = 0;
    for (unsigned i = 0; i < nodes.size() && listed < 8; ++i)
      if (pending[i]) {
        cycle += (listed++ ? ", '" : "'") + nodeName(*nodes[i]) + "'";
      }
    emitModelError() << "the graph has a cycle: these nodes wait on each "
                        "other: "
                     << cycle;
    return failure();
  }
  return order;
}

Value GraphImporter::constantValue(const HostTensor &tensor, Location loc) {
  return constantValue(std::make_shared<const HostTensor>(tensor), loc, "");
}

Value GraphImporter::constantValue(std::shared_ptr<const HostTensor> tensor,
                                   Location loc, StringRef name) {
  Type elementType = mlirElementType(tensor->dtype, context);
  if (!elementType) {
    mlir::emitError(loc) << "a constant of type " << dtypeName(tensor->dtype)
                         << " cannot be used by compiled code";
    return nullptr;
  }
  auto type = RankedTensorType::get(tensor->shape, elementType);
  std::string file = tensor->externalFile;
  int64_t offset = tensor->externalOffset;
  ElementsAttr value = toSharedAttr(std::move(tensor), type, name);
  // The blob's key may differ from `name` (made unique, or sanitized).
  if (auto blob = dyn_cast<DenseResourceElementsAttr>(value);
      blob && !file.empty() && offset >= 0)
    externalData[blob.getRawHandle().getKey()] = {file, offset};
  auto op = arith::ConstantOp::create(constBuilder, loc, value);
  constBuilder.setInsertionPointAfter(op);
  return op;
}

Value GraphImporter::materialize(StringRef name) {
  auto it = values.find(name);
  if (it == values.end())
    return nullptr;
  ImportedValue &v = it->second;
  if (!v.value && v.constant)
    v.value = constantValue(
        v.constant, NameLoc::get(StringAttr::get(context, name), fileLoc()),
        name);
  return v.value;
}

LogicalResult
GraphImporter::inlineFunction(const onnx::NodeProto &call,
                              const onnx::FunctionProto &function) {
  if (inlineDepth >= 32)
    return mlir::emitError(nodeLoc(call))
           << "node '" << nodeName(call) << "' (" << call.op_type()
           << "): model-local functions nest more than 32 deep (recursion?)";
  ++inlineDepth;
  llvm::scope_exit leave([&] { --inlineDepth; });
  // Rename the body's values into a fresh namespace, binding the formal
  // inputs/outputs to the call's values and attribute references to the
  // call's attributes (or the function's defaults).
  std::string prefix =
      "__" + function.name() + "_" + std::to_string(inlineCounter++) + "/";
  llvm::StringMap<std::string> rename;
  for (auto [i, formal] : llvm::enumerate(function.input()))
    rename[formal] = i < size_t(call.input_size()) ? call.input(i) : "";
  for (auto [i, formal] : llvm::enumerate(function.output()))
    rename[formal] = i < size_t(call.output_size()) ? call.output(i) : "";
  // (ONNX 1.12's proto predates attribute defaults of functions.)
  llvm::StringMap<const onnx::AttributeProto *> attrs;
  for (const onnx::AttributeProto &a : call.attribute())
    attrs[a.name()] = &a;
  auto mapName = [&](const std::string &name) -> std::string {
    if (name.empty())
      return name;
    auto it = rename.find(name);
    return it != rename.end() ? it->second : prefix + name;
  };
  std::vector<onnx::NodeProto> body;
  for (const onnx::NodeProto &node : function.node()) {
    onnx::NodeProto copy = node;
    for (std::string &input : *copy.mutable_input())
      input = mapName(input);
    for (std::string &output : *copy.mutable_output())
      output = mapName(output);
    copy.set_name(nodeName(call) + "/" + nodeName(node));
    copy.clear_attribute();
    for (const onnx::AttributeProto &a : node.attribute()) {
      if (a.ref_attr_name().empty()) {
        *copy.add_attribute() = a;
        continue;
      }
      auto it = attrs.find(a.ref_attr_name());
      if (it == attrs.end())
        continue; // unset optional attribute
      onnx::AttributeProto *bound = copy.add_attribute();
      *bound = *it->second;
      bound->set_name(a.name());
    }
    body.push_back(std::move(copy));
  }
  // Opsets of the function body.
  llvm::StringMap<int64_t> saved = opsets;
  for (const onnx::OperatorSetIdProto &id : function.opset_import())
    opsets[id.domain() == "ai.onnx" ? "" : id.domain()] = id.version();
  SmallVector<const onnx::NodeProto *> nodes;
  for (const onnx::NodeProto &node : body)
    nodes.push_back(&node);
  llvm::StringSet<> available;
  for (auto &entry : values)
    available.insert(entry.getKey());
  LogicalResult result = failure();
  if (auto order = sortNodes(nodes, available); succeeded(order))
    result = importNodes(*order);
  opsets = std::move(saved);
  return result;
}

LogicalResult GraphImporter::importNode(const onnx::NodeProto &node) {
  if (const onnx::FunctionProto *function = findFunction(node)) {
    if (failed(inlineFunction(node, *function)))
      return failure();
    return checkOutputs(node, function);
  }
  const OpDef *def = getRegistry().lookup(node.domain(), node.op_type());
  if (!def)
    return mlir::emitError(nodeLoc(node))
           << "unsupported operator " << node.op_type();
  NodeContext ctx(*this, node, nodeLoc(node), opsetOf(node.domain()));
  builder.setInsertionPointToEnd(builder.getInsertionBlock());
  bool done = false;
  if (def->fold) {
    FailureOr<bool> folded = def->fold(ctx);
    if (failed(folded))
      return failure();
    done = *folded;
  }
  if (!done) {
    // Generated code handles the element types mlirElementType knows;
    // others (strings, unsigned integers) can only feed folding.
    for (unsigned i = 0; i < ctx.numInputs(); ++i)
      if (const ImportedValue *v = ctx.input(i);
          v && !mlirElementType(v->dtype, context))
        return ctx.emitError()
               << "input '" << node.input(i) << "' is " << dtypeName(v->dtype)
               << ", which compiled code does not support";
    if (failed(def->import(ctx)))
      return failure();
  }
  return checkOutputs(node, /*function=*/nullptr);
}

LogicalResult
GraphImporter::checkOutputs(const onnx::NodeProto &node,
                            const onnx::FunctionProto *function) {
  for (const std::string &output : node.output()) {
    if (output.empty())
      continue;
    auto error = [&]() {
      return mlir::emitError(nodeLoc(node)) << "node '" << nodeName(node)
                                            << "' (" << node.op_type() << "): ";
    };
    // Later nodes read their inputs without checking that they exist.
    const ImportedValue *v = lookup(output);
    if (!v && function)
      return error() << "output '" << output
                     << "' is not computed: the body of model-local function '"
                     << function->name() << "' does not write it";
    if (!v)
      return error() << "output '" << output
                     << "' is not computed by the importer";
    // Shapes computed from data (Reshape, Expand, Tile...) are bounded here
    // once for every operator, so that later nodes may multiply sizes.
    if (!isValidShape(v->shape))
      return error() << "output '" << output << "' has shape "
                     << formatShape(v->shape) << ", more than 2^40 elements";
  }
  return success();
}

LogicalResult
GraphImporter::importNodes(ArrayRef<const onnx::NodeProto *> nodes) {
  for (const onnx::NodeProto *node : nodes)
    if (failed(importNode(*node)))
      return failure();
  return success();
}

FailureOr<OwningOpRef<ModuleOp>> GraphImporter::run() {
  context->loadDialect<arith::ArithDialect, func::FuncDialect,
                       linalg::LinalgDialect, math::MathDialect,
                       tensor::TensorDialect, attn::AttnDialect>();
  const onnx::GraphProto &graph = model.graph();
  if (failed(collectOpsets()) || failed(checkSupported(graph)) ||
      failed(readInitializers(*model.mutable_graph())))
    return failure();
  SmallVector<const onnx::ValueInfoProto *> args;
  SmallVector<ImportedValue> argValues;
  if (failed(bindInputs(graph, args, argValues)))
    return failure();

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc());
  builder.setInsertionPointToEnd(module->getBody());
  SmallVector<Type> argTypes;
  for (const ImportedValue &v : argValues)
    argTypes.push_back(
        RankedTensorType::get(v.shape, mlirElementType(v.dtype, context)));
  auto func = func::FuncOp::create(
      builder, NameLoc::get(StringAttr::get(context, graph.name()), fileLoc()),
      options.entryName, builder.getFunctionType(argTypes, {}));
  Block *entry = new Block();
  func.getBody().push_back(entry);
  for (auto [arg, type] : llvm::zip(args, argTypes))
    entry->addArgument(
        type, NameLoc::get(StringAttr::get(context, arg->name()), fileLoc()));
  builder.setInsertionPointToEnd(entry);
  constBuilder.setInsertionPointToStart(entry);
  for (auto [i, arg] : llvm::enumerate(args)) {
    func.setArgAttr(i, "attn.name", builder.getStringAttr(arg->name()));
    argValues[i].value = entry->getArgument(i);
    define(arg->name(), argValues[i]);
  }

  SmallVector<const onnx::NodeProto *> nodes;
  for (const onnx::NodeProto &node : graph.node())
    nodes.push_back(&node);
  llvm::StringSet<> available;
  for (auto &entry : values)
    available.insert(entry.getKey());
  auto order = sortNodes(nodes, available);
  if (failed(order) || failed(importNodes(*order)))
    return failure();

  // Results.
  builder.setInsertionPointToEnd(entry);
  SmallVector<Value> results;
  SmallVector<Type> resultTypes;
  for (const onnx::ValueInfoProto &output : graph.output()) {
    const ImportedValue *v = lookup(output.name());
    if (!v) {
      emitModelError() << "graph output '" << output.name()
                       << "' is not computed by any node";
      return failure();
    }
    const onnx::TypeProto &type = output.type();
    if (type.has_tensor_type() && type.tensor_type().elem_type() != 0 &&
        type.tensor_type().elem_type() != int32_t(v->dtype)) {
      std::optional<DType> declared =
          dtypeFromOnnx(type.tensor_type().elem_type());
      emitModelError() << "graph output '" << output.name()
                       << "' is declared as "
                       << (declared ? dtypeName(*declared).str()
                                    : "ONNX data type " +
                                          std::to_string(
                                              type.tensor_type().elem_type()))
                       << " but computes " << dtypeName(v->dtype);
      return failure();
    }
    if (type.has_tensor_type() && type.tensor_type().has_shape()) {
      const auto &dims = type.tensor_type().shape().dim();
      bool mismatch = size_t(dims.size()) != v->shape.size();
      for (int i = 0; !mismatch && i < dims.size(); ++i)
        mismatch =
            dims[i].has_dim_value() && dims[i].dim_value() != v->shape[i];
      if (mismatch) {
        emitModelError() << "graph output '" << output.name()
                         << "' is declared with a shape that differs from "
                            "the computed one "
                         << formatShape(v->shape);
        return failure();
      }
    }
    Value value = materialize(output.name());
    if (!value)
      return failure();
    results.push_back(value);
    resultTypes.push_back(value.getType());
  }
  func::ReturnOp::create(builder, fileLoc(), results);
  func.setType(builder.getFunctionType(argTypes, resultTypes));
  for (auto [i, output] : llvm::enumerate(graph.output()))
    func.setResultAttr(i, "attn.name", builder.getStringAttr(output.name()));
  // Where large weights came from: attn-externalize-weights with
  // external-data=true references these byte ranges instead of copying.
  if (!externalData.empty()) {
    SmallVector<NamedAttribute> ranges;
    for (auto &entry : externalData)
      ranges.push_back(builder.getNamedAttr(
          entry.getKey(),
          builder.getDictionaryAttr(
              {builder.getNamedAttr("file",
                                    builder.getStringAttr(entry.second.first)),
               builder.getNamedAttr(
                   "offset", builder.getI64IntegerAttr(entry.second.second))})));
    (*module)->setAttr("attn.external_data",
                       builder.getDictionaryAttr(ranges));
  }
  if (failed(mlir::verify(*module)))
    return failure();
  return module;
}

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

FailureOr<OwningOpRef<ModuleOp>>
mlir::attn::importOnnxModel(StringRef path, const OnnxImportOptions &options,
                            MLIRContext *context) {
  onnx::ModelProto model;
  std::string error;
  if (failed(loadModel(path, model, error))) {
    mlir::emitError(FileLineColLoc::get(context, path, 0, 0)) << error;
    return failure();
  }
  GraphImporter importer(context, model, path, options);
  return importer.run();
}

FailureOr<OwningOpRef<ModuleOp>>
mlir::attn::importOnnxModelFromBuffer(StringRef bytes, StringRef path,
                                      const OnnxImportOptions &options,
                                      MLIRContext *context) {
  onnx::ModelProto model;
  std::string error;
  if (failed(parseModel(bytes, path, model, error))) {
    mlir::emitError(FileLineColLoc::get(context, path, 0, 0)) << error;
    return failure();
  }
  GraphImporter importer(context, model, path, options);
  return importer.run();
}

FailureOr<SmallVector<OnnxInputInfo>>
mlir::attn::listOnnxInputs(StringRef path, MLIRContext *context) {
  onnx::ModelProto model;
  std::string error;
  if (failed(loadModel(path, model, error))) {
    mlir::emitError(FileLineColLoc::get(context, path, 0, 0)) << error;
    return failure();
  }
  llvm::StringSet<> initializers;
  for (const onnx::TensorProto &init : model.graph().initializer())
    initializers.insert(init.name());
  SmallVector<OnnxInputInfo> inputs;
  for (const onnx::ValueInfoProto &input : model.graph().input()) {
    if (initializers.contains(input.name()))
      continue;
    OnnxInputInfo info;
    info.name = input.name();
    const onnx::TypeProto &type = input.type();
    std::optional<DType> dtype =
        type.has_tensor_type() ? dtypeFromOnnx(type.tensor_type().elem_type())
                               : std::nullopt;
    info.dtype = dtype ? dtypeName(*dtype).str() : "unknown";
    if (type.has_tensor_type() && type.tensor_type().has_shape()) {
      for (const auto &dim : type.tensor_type().shape().dim()) {
        if (dim.has_dim_value())
          info.dims.push_back(std::to_string(dim.dim_value()));
        else if (dim.has_dim_param())
          info.dims.push_back(dim.dim_param());
        else
          info.dims.push_back("?");
      }
    } else {
      info.dims.push_back("...");
    }
    inputs.push_back(std::move(info));
  }
  return inputs;
}
