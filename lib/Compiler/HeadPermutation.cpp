//===- HeadPermutation.cpp - --share-kv-grouping=similarity ---------------===//
//
// Finds an attention's constant Q, K, V and O projections (ProjectionHeads),
// checks that nothing else reads them, and reorders their head blocks by
// copying the constants' bytes (exact for every element type).
//
//===----------------------------------------------------------------------===//

#include "attn/Compiler/HeadPermutation.h"

#include "attn/Calibration/HeadGrouping.h"
#include "attn/Compiler/AttentionSamples.h"
#include "attn/Compiler/CompileReport.h"
#include "attn/Compiler/KVCalibration.h"
#include "attn/Dialect/Attn/Transforms/ProjectionHeads.h"
#include "attn/Support/ConstantBytes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/Parallel.h"

#include <cstring>
#include <numeric>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// An attention's projections, as found.
struct AttentionHeads {
  HeadProjection q, k, v;
  OutputProjection o;
};

/// The ops of a head projection's chain from its matmul to the operand.
void chainOps(const HeadProjection &p, SmallVectorImpl<Operation *> &ops) {
  ops.push_back(p.matmul);
  if (p.biasAdd)
    ops.push_back(p.biasAdd);
  if (p.split)
    ops.push_back(p.split);
  ops.push_back(p.heads);
  ops.append(p.steps.begin(), p.steps.end());
}

std::optional<AttentionHeads> findHeads(AttentionOp op, std::string &why) {
  int64_t hq = op.getQHeads(), hkv = op.getKvHeads();
  if (op.getNumResults() != 1) {
    why = "the attention has more than one result";
    return std::nullopt;
  }
  if (Value mask = op.getMask()) {
    auto type = cast<ShapedType>(mask.getType());
    if (type.getRank() >= 3 && type.getDimSize(type.getRank() - 3) != 1) {
      why = "its mask varies over the heads";
      return std::nullopt;
    }
  }
  if (op.getKey() == op.getValue() || op.getQuery() == op.getKey() ||
      op.getQuery() == op.getValue()) {
    why = "two of its operands are one value";
    return std::nullopt;
  }
  std::optional<HeadProjection> q = matchHeadProjection(op.getQuery()),
                                k = matchHeadProjection(op.getKey()),
                                v = matchHeadProjection(op.getValue());
  if (!q || !k || !v) {
    why = std::string("its ") + (!q ? "Q" : !k ? "K" : "V") +
          " projection is not a constant-weight projection split into heads";
    return std::nullopt;
  }
  if (q->numHeads != hq || k->numHeads != hkv || v->numHeads != hkv) {
    why = "its projections' heads do not match the attention's";
    return std::nullopt;
  }
  std::optional<OutputProjection> o = matchOutputProjection(op.getResult(0));
  if (!o || o->heads != hq) {
    why = "no constant output projection reads its result alone";
    return std::nullopt;
  }
  // Nothing but the attention reads the chains; the chains share only a
  // fused projection (its matmul and bias), over distinct columns.
  SmallVector<Operation *> q1, k1, v1;
  chainOps(*q, q1);
  chainOps(*k, k1);
  chainOps(*v, v1);
  DenseSet<Operation *> own{op.getOperation()};
  for (auto *chain : {&q1, &k1, &v1})
    own.insert(chain->begin(), chain->end());
  for (auto *chain : {&q1, &k1, &v1})
    for (Operation *step : *chain)
      for (Value result : step->getResults())
        for (Operation *user : result.getUsers())
          if (!own.contains(user)) {
            why = "a projection's result has other users";
            return std::nullopt;
          }
  auto shared = [](ArrayRef<Operation *> a, ArrayRef<Operation *> b) {
    for (Operation *x : a.drop_front())
      if (llvm::is_contained(b, x) && !isa<linalg::LinalgOp>(x))
        return true;
    return false;
  };
  auto overlap = [](const HeadProjection &a, const HeadProjection &b) {
    if (a.matmul != b.matmul)
      return false;
    int64_t a0 = a.columnOffset, a1 = a0 + a.numHeads * a.headDim;
    int64_t b0 = b.columnOffset, b1 = b0 + b.numHeads * b.headDim;
    return a0 < b1 && b0 < a1;
  };
  if (shared(q1, k1) || shared(q1, v1) || shared(k1, v1) ||
      overlap(*q, *k) || overlap(*q, *v) || overlap(*k, *v)) {
    why = "its Q, K, V chains share steps or columns";
    return std::nullopt;
  }
  for (const HeadProjection *p : {&*q, &*k, &*v}) {
    linalg::LinalgOp add = p->biasAdd;
    if (add && (add.getDpsInputOperand(0)->get() == p->bias) ==
                   (add.getDpsInputOperand(1)->get() == p->bias)) {
      why = "a projection's bias is not one operand of its add";
      return std::nullopt;
    }
  }
  return AttentionHeads{*q, *k, *v, *o};
}

/// Replaces the constant `operand` (rank 1 or 2) by a copy whose blocks of
/// `block` entries along `axis`, from `offset` on, are reordered: new block
/// j is old block perm[j]. A byte copy: exact for any element type.
void permuteBlocks(OpOperand &operand, unsigned axis, int64_t offset,
                   int64_t block, ArrayRef<int64_t> perm) {
  Value old = operand.get();
  auto cst = old.getDefiningOp<arith::ConstantOp>();
  auto attr = cast<ElementsAttr>(cst.getValue());
  std::optional<ConstantBytes> bytes = getConstantBytes(attr);
  if (bytes->splat)
    return; // every block is the same
  auto type = cast<RankedTensorType>(old.getType());
  int64_t w = bytes->elementBytes;
  int64_t rows = type.getRank() == 2 ? type.getDimSize(0) : 1;
  int64_t cols = type.getRank() == 2 ? type.getDimSize(1) : type.getDimSize(0);
  if (type.getRank() == 1)
    axis = 1;
  std::vector<char> data(bytes->data.begin(), bytes->data.end());
  auto source = [&](int64_t x) {
    int64_t rel = x - offset;
    if (rel < 0 || rel >= int64_t(perm.size()) * block)
      return x;
    return offset + perm[rel / block] * block + rel % block;
  };
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      int64_t sr = axis == 0 ? source(r) : r, sc = axis == 1 ? source(c) : c;
      std::memcpy(data.data() + (r * cols + c) * w,
                  bytes->data.data() + (sr * cols + sc) * w, w);
    }
  OpBuilder b(operand.getOwner());
  auto blob = DenseResourceElementsAttr::get(
      type, "share_kv_grouping",
      HeapAsmResourceBlob::allocateAndCopyWithAlign(ArrayRef<char>(data),
                                                    alignof(uint64_t)));
  operand.set(arith::ConstantOp::create(b, cst.getLoc(), type, blob));
  if (cst->use_empty())
    cst->erase();
}

void permuteProjection(const HeadProjection &p, ArrayRef<int64_t> perm) {
  permuteBlocks(*p.weight, p.weightColumnAxis, p.columnOffset, p.headDim,
                perm);
  if (p.biasAdd) {
    linalg::LinalgOp add = p.biasAdd;
    for (OpOperand *in : add.getDpsInputOperands())
      if (in->get() == p.bias) {
        permuteBlocks(*in, 0, p.columnOffset, p.headDim, perm);
        break;
      }
  }
}

bool isIdentity(ArrayRef<int64_t> perm) {
  for (auto [i, p] : llvm::enumerate(perm))
    if (int64_t(i) != p)
      return false;
  return true;
}

} // namespace

bool compile::canPermuteHeads(AttentionOp op, std::string &why, bool *rotary) {
  std::optional<AttentionHeads> heads = findHeads(op, why);
  if (heads && rotary)
    *rotary = heads->k.actsAlongD;
  return heads.has_value();
}

LogicalResult compile::permuteAttentionHeads(AttentionOp op,
                                             ArrayRef<int64_t> perm,
                                             std::string &why) {
  int64_t hq = op.getQHeads(), hkv = op.getKvHeads(), g = hq / hkv;
  if (int64_t(perm.size()) != hkv) {
    why = "the permutation does not match the KV heads";
    return failure();
  }
  std::optional<AttentionHeads> heads = findHeads(op, why);
  if (!heads)
    return failure();
  if (isIdentity(perm))
    return success();
  SmallVector<int64_t> queryPerm(hq);
  for (int64_t j = 0; j < hkv; ++j)
    for (int64_t t = 0; t < g; ++t)
      queryPerm[j * g + t] = perm[j] * g + t;
  // One at a time: a fused projection's weight is read again after each.
  permuteProjection(heads->q, queryPerm);
  permuteProjection(heads->k, perm);
  permuteProjection(heads->v, perm);
  permuteBlocks(*heads->o.weight, heads->o.weightRowAxis, 0,
                heads->o.valueDim, queryPerm);
  return success();
}

LogicalResult compile::groupKVHeads(
    ModuleOp module, ModuleOp other, int64_t newHeads, bool pooled,
    const std::string &calibrationPath,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::vector<HeadGroupingRecord> &records, std::string &error) {
  auto pick = [&](ModuleOp m) {
    SmallVector<AttentionOp> ops;
    m.walk([&](AttentionOp op) {
      if (op.getNumResults() == 1 && int64_t(op.getKvHeads()) > newHeads)
        ops.push_back(op);
    });
    return ops;
  };
  SmallVector<AttentionOp> ops = pick(module), others;
  if (other) {
    others = pick(other);
    if (others.size() != ops.size()) {
      error = "--share-kv-grouping: the calibration-sized and the compiled "
              "model have different attentions";
      return failure();
    }
  }
  SmallVector<AttentionOp> scored;
  SmallVector<size_t> scoredIndex;
  size_t first = records.size();
  for (auto [i, op] : llvm::enumerate(ops)) {
    HeadGroupingRecord r;
    r.name = locationName(op.getLoc());
    int64_t hkv = op.getKvHeads();
    int64_t g = newHeads > 0 && hkv % newHeads == 0 ? hkv / newHeads : 0;
    for (int64_t n = 0; g && n < newHeads; ++n) {
      r.groups.emplace_back(g);
      std::iota(r.groups.back().begin(), r.groups.back().end(), n * g);
    }
    std::string why;
    if (g == 0)
      r.fallback = "its KV heads are not a multiple of --share-kv";
    else if (newHeads == 1)
      r.fallback = "one group";
    else if (hkv > 64)
      r.fallback = "more than 64 KV heads";
    else if (!canPermuteHeads(op, why))
      r.fallback = why;
    else if (other && !canPermuteHeads(others[i], why))
      r.fallback = why + " (in the compiled model)";
    else if (other && (others[i].getQHeads() != op.getQHeads() ||
                       others[i].getKvHeads() != op.getKvHeads()))
      r.fallback = "the compiled model's attention differs";
    if (r.fallback.empty()) {
      scored.push_back(op);
      scoredIndex.push_back(i);
    }
    records.push_back(std::move(r));
  }
  if (scored.empty())
    return success();
  std::vector<::attn::calib::AttentionSample> samples;
  if (failed(probeAttentionSamples(
          module, scored, SampleParts{/*queries=*/false, /*bias=*/true},
          calibrationPath, buildLibrary, samples, error)))
    return failure();
  std::vector<::attn::calib::PartitionSearch> found(scored.size());
  llvm::parallelFor(0, scored.size(), [&](size_t s) {
    const ::attn::calib::AttentionSample &sample = samples[s];
    ::attn::calib::HeadSimilarity similarity(
        sample, /*rotaryPlanes=*/true,
        pooled ? ::attn::calib::GroupCost::Pooled
               : ::attn::calib::GroupCost::Subspace);
    int64_t g = sample.kvHeads / newHeads;
    found[s] = ::attn::calib::searchPartition(
        sample.kvHeads, g,
        [&](uint64_t mask) { return similarity.groupCost(mask); });
  });
  for (auto [s, op] : llvm::enumerate(scored)) {
    HeadGroupingRecord &r = records[first + scoredIndex[s]];
    r.groups = found[s].groups;
    r.cost = found[s].cost;
    r.neighboursCost = found[s].neighboursCost;
    r.exhaustive = found[s].exhaustive;
    r.costKind = pooled ? "pooled"
                 : samples[s].headDim % 2 == 0 ? "rotary-planes"
                                               : "subspace";
    SmallVector<int64_t> perm;
    for (const std::vector<int64_t> &group : r.groups)
      perm.append(group.begin(), group.end());
    std::string why;
    if (failed(permuteAttentionHeads(op, perm, why)) ||
        (other &&
         failed(permuteAttentionHeads(others[scoredIndex[s]], perm, why)))) {
      error = "--share-kv-grouping: reordering the heads of " + r.name +
              " failed after the check: " + why;
      return failure();
    }
  }
  return success();
}
