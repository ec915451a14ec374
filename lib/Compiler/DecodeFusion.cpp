//===- DecodeFusion.cpp - detect and check a fused decode step ----------===//

#include "attn/Compiler/DecodeFusion.h"
#include "attn/Compiler/KVCalibration.h"

#include "attn/Conversion/ExportEntryPoint/ExportEntryPoint.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Import/OnnxImporter.h"
#include "attn/Runtime/Npz.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn::compile;

namespace {

bool isSymbolic(StringRef dim) {
  return !dim.empty() && dim != "?" && !llvm::all_of(dim, llvm::isDigit);
}

} // namespace

FailureOr<std::optional<DecodeFusionPlan>>
mlir::attn::compile::planDecodeFusion(const std::string &path, int64_t maxSeq,
                                      ImportOptions &options,
                                      MLIRContext &context,
                                      std::string &error) {
  FailureOr<SmallVector<OnnxInputInfo>> inputs =
      listOnnxInputs(path, &context);
  if (failed(inputs)) {
    error = "cannot import '" + path + "'";
    return failure();
  }
  DecodeFusionPlan plan;
  plan.maxSeq = maxSeq;
  for (const OnnxInputInfo &in : *inputs) {
    if (!StringRef(in.name).contains_insensitive(kPastNameMarker) ||
        in.dims.size() < 3 ||
        options.inputShapes.count(in.name))
      continue;
    const std::string &dim = in.dims[in.dims.size() - 2];
    if (!isSymbolic(dim) || options.dims.count(dim))
      continue;
    if (!plan.pastDim.empty() && plan.pastDim != dim) {
      error = "cannot fuse the decode of '" + path + "': past inputs '" +
              plan.pastInputs.front() + "' and '" + in.name +
              "' have different symbolic lengths ('" + plan.pastDim +
              "' and '" + dim + "'); bind them with --dim or give "
              "--no-fuse-decode";
      return failure();
    }
    plan.pastDim = dim;
    plan.pastInputs.push_back(in.name);
  }
  if (plan.pastDim.empty())
    return std::optional<DecodeFusionPlan>();
  options.dims[plan.pastDim] = maxSeq - 1;
  for (const OnnxInputInfo &in : *inputs)
    if (in.name == kRoleAttentionMask && in.dims.size() == 2 &&
        isSymbolic(in.dims[1]) && !options.dims.count(in.dims[1]) &&
        !options.inputShapes.count(in.name))
      options.dims[in.dims[1]] = maxSeq;
  return std::optional<DecodeFusionPlan>(std::move(plan));
}

LogicalResult mlir::attn::compile::checkDecodeFusion(
    ModuleOp module, const DecodeFusionPlan &plan, StringRef entryFunction,
    std::string &error) {
  FailureOr<func::FuncOp> entry =
      attn::findEntryFunction(module, entryFunction);
  if (failed(entry)) {
    error = "cannot choose the function whose decode to fuse";
    return failure();
  }
  for (const std::string &name : plan.pastInputs) {
    bool fused = false;
    for (unsigned i = 0, e = entry->getNumArguments(); i < e; ++i) {
      auto argName = entry->getArgAttrOfType<StringAttr>(i, kNameAttr);
      fused |= argName && argName.getValue() == name &&
               entry->getArgAttr(i, kTiedResultAttr);
    }
    if (!fused) {
      error = "cannot fuse the incremental decode: past input '" + name +
              "' does not feed a concat(past, new) -> attention whose "
              "result is the present output; compile with --no-fuse-decode "
              "and bind its length with --dim " + plan.pastDim + "=N";
      return failure();
    }
  }
  return success();
}

LogicalResult mlir::attn::compile::copySharingAttributes(ModuleOp from,
                                                         ModuleOp to,
                                                         std::string &error) {
  return copyAttentionAttributes(from, to, "attn.share_", error);
}

LogicalResult mlir::attn::compile::addInputShapesFromNpz(
    const std::string &path, ImportOptions &options, std::string &error) {
  std::vector<::attn::rt::Array> arrays;
  if (!::attn::rt::readNpz(path, arrays, error)) {
    error = "cannot read '" + path + "': " + error;
    return failure();
  }
  for (const ::attn::rt::Array &a : arrays)
    options.inputShapes[a.name] = a.shape;
  return success();
}
