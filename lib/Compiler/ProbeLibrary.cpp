//===- ProbeLibrary.cpp - calibration probes as loaded libraries ----------===//

#include "attn/Compiler/ProbeLibrary.h"

#include "attn/Compiler/CompileReport.h"
#include "attn/Compiler/KVCalibration.h"

#include "attn-c/Runtime.h"
#include "attn/Dialect/Attn/Transforms/ProjectionHeads.h"
#include "attn/Support/ConstantBytes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"

#include <cstring>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::compile;

ProbeLibrary::~ProbeLibrary() { release(); }

void ProbeLibrary::release() {
  if (model)
    attnModelFree(model);
  model = nullptr;
  if (!path.empty()) {
    llvm::sys::fs::remove(path);
    llvm::sys::fs::remove(path + ".params"); // its weights, if any
  }
  path.clear();
}

LogicalResult ProbeLibrary::build(ModuleOp probe, BuildLibrary buildLibrary,
                                  std::string &error) {
  release();
  SmallString<128> libraryPath;
  if (llvm::sys::fs::createTemporaryFile("attn-calibration", "so",
                                         libraryPath)) {
    error = "calibration: cannot create a temporary file";
    return failure();
  }
  path = libraryPath.str().str();
  if (failed(buildLibrary(probe, path)))
    return failure();
  // Mapped, not copied into huge pages: a probe runs a few calibration
  // batches, whose products reuse each weight many times, and the copy's
  // huge pages (compacted on demand) cost ~3 s of SmolLM2-135M's ~56 s
  // calibration at 16 x 64 tokens (bench/RESULTS.md, 2026-12-05).
  model = attnModelLoadWith(path.c_str(), ATTN_PARAMS_LOAD_MAP);
  if (!model) {
    error = std::string("calibration: ") + attnGetLastError();
    return failure();
  }
  return success();
}

LogicalResult
ProbeLibrary::run(const std::vector<::attn::rt::Array> &inputs,
                  std::map<std::string, ::attn::rt::Array> &outputs,
                  std::string &error) const {
  if (!model) {
    error = "calibration: the probe library is not loaded";
    return failure();
  }
  std::vector<const void *> in;
  for (int32_t i = 0; i < attnModelGetNumInputs(model); ++i) {
    AttnTensorInfo info;
    attnModelGetInputInfo(model, i, &info);
    auto it = llvm::find_if(inputs, [&](const ::attn::rt::Array &a) {
      return a.name == info.name;
    });
    if (it == inputs.end() || it->data.size() != info.num_bytes ||
        static_cast<int>(it->dtype) != static_cast<int>(info.dtype)) {
      error = std::string("calibration inputs: '") + info.name +
              "' is missing or has the wrong dtype or size";
      return failure();
    }
    in.push_back(it->data.data());
  }
  std::vector<void *> out;
  for (int32_t i = 0; i < attnModelGetNumOutputs(model); ++i) {
    AttnTensorInfo info;
    attnModelGetOutputInfo(model, i, &info);
    ::attn::rt::Array &a = outputs[info.name];
    a.name = info.name;
    a.dtype = static_cast<::attn::rt::DType>(info.dtype);
    a.shape.assign(info.shape, info.shape + info.rank);
    a.data.resize(info.num_bytes);
    out.push_back(a.data.data());
  }
  if (attnModelRun(model, in.data(), out.data(), nullptr) != ATTN_OK) {
    error = std::string("calibration run: ") + attnGetLastError();
    return failure();
  }
  return success();
}

LogicalResult mlir::attn::compile::projectionWeightsToArguments(
    func::FuncOp entry, ArrayRef<AttentionOp> shared,
    std::vector<::attn::rt::Array> &weights, std::string &error) {
  llvm::SetVector<Value> constants;
  for (AttentionOp op : shared) {
    std::optional<HeadProjection> q = matchHeadProjection(op.getQuery());
    std::optional<HeadProjection> k = matchHeadProjection(op.getKey());
    std::optional<HeadProjection> v = matchHeadProjection(op.getValue());
    std::optional<OutputProjection> o = matchOutputProjection(op.getResult(0));
    if (!q || !k || !v || !o) {
      error = "calibration: a converted attention of the probe at " +
              locationName(op.getLoc()) +
              " lost its constant-weight projections";
      return failure();
    }
    for (const HeadProjection *p : {&*q, &*k, &*v}) {
      constants.insert(p->weight->get());
      if (p->bias)
        constants.insert(p->bias);
    }
    constants.insert(o->weight->get());
  }
  MLIRContext *ctx = entry.getContext();
  OpBuilder b(ctx);
  int64_t index = 0;
  for (Value value : constants) {
    auto cst = value.getDefiningOp<arith::ConstantOp>();
    auto attr = cst ? dyn_cast<ElementsAttr>(cst.getValue()) : nullptr;
    std::optional<ConstantBytes> bytes =
        attr ? getConstantBytes(attr) : std::nullopt;
    Type element = attr ? attr.getElementType() : Type();
    if (!bytes || !(element.isF32() || element.isF16() || element.isBF16())) {
      error = "calibration: a projection weight of the probe is not a "
              "readable f32, f16 or bf16 constant";
      return failure();
    }
    ::attn::rt::Array a;
    a.name = llvm::formatv("__probe_weight_{0}", index++).str();
    a.dtype = element.isF32()   ? ::attn::rt::DType::F32
              : element.isF16() ? ::attn::rt::DType::F16
                                : ::attn::rt::DType::BF16;
    auto type = cast<ShapedType>(attr.getType());
    a.shape.assign(type.getShape().begin(), type.getShape().end());
    size_t size = bytes->numBytes(attr.getNumElements());
    a.data.resize(size);
    for (size_t at = 0; at < size; at += bytes->splat ? bytes->elementBytes
                                                      : size)
      std::memcpy(a.data.data() + at, bytes->data.data(),
                  bytes->splat ? bytes->elementBytes : size);
    unsigned arg = entry.getNumArguments();
    if (failed(entry.insertArgument(
            arg, value.getType(),
            b.getDictionaryAttr(
                b.getNamedAttr("attn.name", b.getStringAttr(a.name))),
            cst.getLoc()))) {
      error = "calibration: cannot add an argument to the probe";
      return failure();
    }
    value.replaceAllUsesWith(entry.getArgument(arg));
    cst.erase();
    weights.push_back(std::move(a));
  }
  return success();
}

bool mlir::attn::compile::sameProgram(ModuleOp a, ModuleOp b) {
  SmallVector<Operation *> left, right;
  a->walk<WalkOrder::PreOrder>([&](Operation *op) { left.push_back(op); });
  b->walk<WalkOrder::PreOrder>([&](Operation *op) { right.push_back(op); });
  if (left.size() != right.size())
    return false;
  DenseMap<Value, Value> values;
  DenseMap<Block *, Block *> blocks;
  auto sameAttributes = [](Operation *x, Operation *y) {
    auto informative = [](NamedAttribute attr) {
      return attr.getName().getValue() == "attn.kv_projections";
    };
    auto xs = llvm::make_filter_range(
        x->getAttrs(), [&](NamedAttribute n) { return !informative(n); });
    auto ys = llvm::make_filter_range(
        y->getAttrs(), [&](NamedAttribute n) { return !informative(n); });
    // Uniqued attributes: equal values are the same attribute.
    return llvm::equal(xs, ys);
  };
  for (auto [x, y] : llvm::zip(left, right)) {
    if (x->getName() != y->getName() ||
        x->getNumOperands() != y->getNumOperands() ||
        x->getNumResults() != y->getNumResults() ||
        x->getNumRegions() != y->getNumRegions() ||
        x->getNumSuccessors() != y->getNumSuccessors() ||
        !sameAttributes(x, y))
      return false;
    for (auto [u, v] : llvm::zip(x->getOperands(), y->getOperands())) {
      auto it = values.find(u);
      if (it == values.end() || it->second != v)
        return false;
    }
    for (auto [u, v] : llvm::zip(x->getSuccessors(), y->getSuccessors())) {
      auto it = blocks.find(u);
      if (it == blocks.end() || it->second != v)
        return false;
    }
    for (auto [u, v] : llvm::zip(x->getResults(), y->getResults())) {
      if (u.getType() != v.getType())
        return false;
      values[u] = v;
    }
    for (auto [r, s] : llvm::zip(x->getRegions(), y->getRegions())) {
      if (r.getBlocks().size() != s.getBlocks().size())
        return false;
      for (auto [p, q] : llvm::zip(r, s)) {
        if (p.getNumArguments() != q.getNumArguments())
          return false;
        blocks[&p] = &q;
        for (auto [u, v] : llvm::zip(p.getArguments(), q.getArguments())) {
          if (u.getType() != v.getType())
            return false;
          values[u] = v;
        }
      }
    }
  }
  return true;
}

LogicalResult ReusableProbe::run(
    ModuleOp probe, ArrayRef<AttentionOp> shared,
    const std::vector<::attn::rt::Array> &inputs, BuildLibrary buildLibrary,
    std::map<std::string, ::attn::rt::Array> &outputs, std::string &error) {
  func::FuncOp entry = probeEntry(probe);
  std::vector<::attn::rt::Array> all(inputs);
  if (!entry ||
      failed(projectionWeightsToArguments(entry, shared, all, error)))
    return failure();
  lastReused = compiled && library.loaded() && sameProgram(*compiled, probe);
  lastAhead = lastReused && ahead;
  ahead = false;
  if (!lastReused) {
    // The build lowers `probe` in place: keep the program it was.
    compiled = probe.clone();
    if (failed(library.build(probe, buildLibrary, error)))
      return failure();
  }
  return library.run(all, outputs, error);
}

LogicalResult ReusableProbe::prepare(ModuleOp probe,
                                     ArrayRef<AttentionOp> shared,
                                     BuildLibrary buildLibrary,
                                     std::string &error) {
  func::FuncOp entry = probeEntry(probe);
  std::vector<::attn::rt::Array> weights;
  if (!entry ||
      failed(projectionWeightsToArguments(entry, shared, weights, error)))
    return failure();
  compiled = probe.clone();
  if (failed(library.build(probe, buildLibrary, error))) {
    compiled = nullptr;
    return failure();
  }
  ahead = true;
  return success();
}
