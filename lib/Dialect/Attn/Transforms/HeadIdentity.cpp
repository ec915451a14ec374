//===- HeadIdentity.cpp - prove key/value heads identical -----------------===//
//
// A dimension of a tensor is seen as [heads, block] (flattened). Heads are
// identical within groups when every op on the way from constants treats
// each index of that dimension alike: linalg ops iterating it with a plain
// parallel loop, reshapes that keep it outermost, slices that leave it whole.
//
//===----------------------------------------------------------------------===//

#include "HeadIdentity.h"

#include "attn/Support/ConstantBytes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"

#include <cstring>

using namespace mlir;

namespace {

struct Prover {
  int64_t group;

  /// Heads of `dim` of `v`, as [H, block], equal within groups.
  bool identical(Value v, int64_t dim, int64_t block, int depth) {
    if (depth > 64)
      return false;
    auto type = dyn_cast<RankedTensorType>(v.getType());
    if (!type || !type.hasStaticShape() ||
        type.getDimSize(dim) % (block * group) != 0)
      return false;
    ElementsAttr values;
    if (matchPattern(v, m_Constant(&values)))
      return constantIdentical(values, dim, block);
    Operation *op = v.getDefiningOp();
    if (!op)
      return false;
    if (isa<linalg::FillOp, tensor::EmptyOp>(op))
      return true;
    if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
      return throughLinalg(linalgOp, cast<OpResult>(v), dim, block, depth);
    if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op))
      return throughExpand(expand, dim, block, depth);
    if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op)) {
      ReassociationIndices group =
          collapse.getReassociationIndices()[dim];
      auto srcType = collapse.getSrcType();
      // Only unit dims may join the head dim.
      int64_t kept = -1;
      for (int64_t d : group)
        if (srcType.getDimSize(d) != 1) {
          if (kept >= 0)
            return false;
          kept = d;
        }
      return kept < 0 ||
             identical(collapse.getSrc(), kept, block, depth + 1);
    }
    if (auto concat = dyn_cast<tensor::ConcatOp>(op)) {
      if (static_cast<int64_t>(concat.getDim()) == dim)
        return false;
      return llvm::all_of(concat.getInputs(), [&](Value in) {
        return identical(in, dim, block, depth + 1);
      });
    }
    if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op)) {
      if (slice.getSourceType().getRank() != type.getRank() ||
          slice.isDynamicOffset(dim) || slice.getStaticOffset(dim) != 0)
        return false;
      if (slice.getSourceType().getDimSize(dim) != type.getDimSize(dim) ||
          slice.getStaticStride(dim) != 1)
        return false;
      return identical(slice.getSource(), dim, block, depth + 1);
    }
    if (isa<arith::ConstantOp>(op))
      return false;
    return false;
  }

  bool throughLinalg(linalg::LinalgOp op, OpResult result, int64_t dim,
                     int64_t block, int depth) {
    AffineMap outMap =
        op.getMatchingIndexingMap(op.getDpsInitOperand(result.getResultNumber()));
    auto loopExpr = dyn_cast<AffineDimExpr>(outMap.getResult(dim));
    if (!loopExpr ||
        op.getIteratorTypesArray()[loopExpr.getPosition()] !=
            utils::IteratorType::parallel)
      return false;
    unsigned loop = loopExpr.getPosition();
    for (OpOperand &operand : op->getOpOperands()) {
      // A destination that is never read cannot distinguish heads.
      if (op.isDpsInit(&operand) && !op.payloadUsesValueFromOperand(&operand))
        continue;
      AffineMap map = op.getMatchingIndexingMap(&operand);
      for (auto [pos, expr] : llvm::enumerate(map.getResults())) {
        if (!expr.isFunctionOfDim(loop))
          continue;
        if (expr != getAffineDimExpr(loop, op.getContext()) ||
            !identical(operand.get(), pos, block, depth + 1))
          return false;
      }
    }
    // Payloads that read the loop index could tell heads apart.
    bool readsIndex = false;
    op.getBlock()->walk([&](linalg::IndexOp index) {
      readsIndex |= index.getDim() == loop;
    });
    return !readsIndex;
  }

  /// [.., H*D, ..] -> [.., H, D, ..]: heads of the split dim are blocks of
  /// D * block elements of the source dim.
  bool throughExpand(tensor::ExpandShapeOp expand, int64_t dim, int64_t block,
                     int depth) {
    auto groups = expand.getReassociationIndices();
    auto resultType = expand.getResultType();
    for (auto [srcDim, group] : llvm::enumerate(groups)) {
      auto it = llvm::find(group, dim);
      if (it == group.end())
        continue;
      int64_t inner = block;
      for (auto after = std::next(it); after != group.end(); ++after)
        inner *= resultType.getDimSize(*after);
      for (auto before = group.begin(); before != it; ++before)
        if (resultType.getDimSize(*before) != 1)
          return false;
      return identical(expand.getSrc(), srcDim, inner, depth + 1);
    }
    return false;
  }

  bool constantIdentical(ElementsAttr values, int64_t dim, int64_t block) {
    // Weights may be `dense_resource` blobs: compare their bytes (floats
    // compare bitwise, as attribute equality does).
    std::optional<attn::ConstantBytes> bytes = attn::getConstantBytes(values);
    auto dense = dyn_cast<DenseElementsAttr>(values);
    if (!bytes && !dense)
      return false;
    if ((bytes && bytes->splat) || (dense && dense.isSplat()))
      return true;
    auto type = cast<ShapedType>(values.getType());
    int64_t stride = 1;
    for (int64_t d = type.getRank() - 1; d > dim; --d)
      stride *= type.getDimSize(d);
    int64_t size = type.getDimSize(dim);
    SmallVector<Attribute> flat;
    if (!bytes)
      flat.assign(dense.getValues<Attribute>().begin(),
                  dense.getValues<Attribute>().end());
    auto equal = [&](int64_t i, int64_t j) {
      if (!bytes)
        return flat[i] == flat[j];
      int64_t w = bytes->elementBytes;
      return std::memcmp(bytes->data.data() + i * w,
                         bytes->data.data() + j * w, size_t(w)) == 0;
    };
    for (int64_t i = 0, e = values.getNumElements(); i < e; ++i) {
      int64_t c = (i / stride) % size;
      int64_t head = c / block, offset = c % block;
      int64_t first = head / group * group;
      if (head == first)
        continue;
      int64_t j = i + (first * block + offset - c) * stride;
      if (!equal(i, j))
        return false;
    }
    return true;
  }
};

} // namespace

bool mlir::attn::headsAreIdentical(Value x, int64_t group) {
  return Prover{group}.identical(x, /*dim=*/1, /*block=*/1, 0);
}
