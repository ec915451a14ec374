//===- DecodeFusion.cpp - fused incremental decode in attn-compile --------===//

#include "DecodeFusion.h"

#include "attn/Conversion/ExportEntryPoint/ExportEntryPoint.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Import/OnnxImporter.h"
#include "attn/Runtime/Npz.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
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
    if (!StringRef(StringRef(in.name).lower()).contains("past") || in.dims.size() < 3 ||
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
    if (in.name == "attention_mask" && in.dims.size() == 2 &&
        isSymbolic(in.dims[1]) && !options.dims.count(in.dims[1]) &&
        !options.inputShapes.count(in.name))
      options.dims[in.dims[1]] = maxSeq;
  return std::optional<DecodeFusionPlan>(std::move(plan));
}

LogicalResult mlir::attn::compile::fuseDecode(ModuleOp module,
                                              const DecodeFusionPlan &plan,
                                              std::string &error) {
  PassManager pm(module.getContext());
  std::string parseError;
  llvm::raw_string_ostream os(parseError);
  if (failed(parsePassPipeline("attn-fuse-decode,canonicalize,cse",
                               pm, os))) {
    error = "attn-fuse-decode: " + parseError;
    return failure();
  }
  if (failed(pm.run(module))) {
    error = "fusing the incremental decode failed";
    return failure();
  }
  FailureOr<func::FuncOp> entry = attn::findEntryFunction(module, "");
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
  SmallVector<AttentionOp> source, target;
  from.walk([&](AttentionOp op) { source.push_back(op); });
  to.walk([&](AttentionOp op) { target.push_back(op); });
  if (source.size() != target.size()) {
    error = "calibration: the calibration-sized model has " +
            std::to_string(source.size()) + " attention ops, the compiled "
            "one " + std::to_string(target.size());
    return failure();
  }
  for (auto [src, dst] : llvm::zip(source, target)) {
    if (src.getQHeads() != dst.getQHeads() ||
        src.getKvHeads() != dst.getKvHeads()) {
      error = "calibration: attention ops of the calibration-sized and the "
              "compiled model do not correspond";
      return failure();
    }
    for (NamedAttribute attr : src->getDiscardableAttrs())
      if (attr.getName().getValue().starts_with("attn.share_"))
        dst->setAttr(attr.getName(), attr.getValue());
  }
  return success();
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
