//===- RaiseAttentionMasks.cpp - masks of raised attention ----------------===//

#include "RaiseAttentionMasks.h"

#include "attn/Support/ConstantBytes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <algorithm>
#include <cstring>
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using match::Step;

namespace {

/// Places a mask operand of the score op (3 or 4 loops) in the 4-D space.
std::optional<Mask4> place(const Step &step, ArrayRef<int64_t> outShape,
                           int64_t keyLength) {
  auto type = cast<ShapedType>(step.side.getType());
  AffineMap map = step.sideMap;
  unsigned loops = map.getNumDims();
  if (!type.hasStaticShape() || (loops != 3 && loops != 4))
    return std::nullopt;
  Mask4 mask{step.side, {1, 1, 1, 1}, step.kind == Step::BoolMask,
             step.keepWhenTrue};
  int64_t previous = -1;
  for (auto [p, expr] : llvm::enumerate(map.getResults())) {
    int64_t size = type.getDimSize(p);
    if (auto cst = dyn_cast<AffineConstantExpr>(expr)) {
      if (cst.getValue() != 0 || size != 1)
        return std::nullopt;
      continue;
    }
    auto dim = dyn_cast<AffineDimExpr>(expr);
    if (!dim || static_cast<int64_t>(dim.getPosition()) <= previous)
      return std::nullopt;
    previous = dim.getPosition();
    unsigned l = dim.getPosition() + (loops == 3 ? 1 : 0);
    if (loops == 3 && dim.getPosition() == 0) {
      if (size != outShape[0] * outShape[1])
        return std::nullopt;
      mask.shape[0] = outShape[0];
      mask.shape[1] = outShape[1];
      continue;
    }
    mask.shape[l] = size;
  }
  int64_t full[4] = {outShape[0], outShape[1], outShape[2], keyLength};
  for (unsigned l = 0; l < 4; ++l)
    if (mask.shape[l] != 1 && mask.shape[l] != full[l])
      return std::nullopt;
  if (mask.shape[3] != keyLength)
    return std::nullopt;
  return mask;
}

/// Whether an additive mask value keeps (0) or masks (-inf, or a large
/// negative number as exporters write it) a score; std::nullopt otherwise.
std::optional<bool> additiveKeeps(const APFloat &v) {
  if (v.isZero())
    return true;
  if (v.isNegative() &&
      (v.isInfinity() || v.convertToDouble() <= -1.0e4))
    return false;
  return std::nullopt;
}

/// The keep flags of a constant mask, row-major: from a DenseElementsAttr,
/// or from the blob of a dense_resource (the importer keeps initializers of
/// 4 KiB or more as such blobs).
std::optional<SmallVector<bool>> keepFlags(const Mask4 &mask) {
  ElementsAttr attr;
  if (!matchPattern(mask.value, m_Constant(&attr)))
    return std::nullopt;
  SmallVector<bool> keep;
  keep.reserve(attr.getNumElements());
  if (auto values = dyn_cast<DenseElementsAttr>(attr)) {
    if (mask.isBool) {
      for (bool v : values.getValues<bool>())
        keep.push_back(v == mask.keepWhenTrue);
      return keep;
    }
    for (APFloat v : values.getValues<APFloat>()) {
      std::optional<bool> k = additiveKeeps(v);
      if (!k)
        return std::nullopt;
      keep.push_back(*k);
    }
    return keep;
  }
  std::optional<ConstantBytes> bytes = getConstantBytes(attr);
  if (!bytes || bytes->splat)
    return std::nullopt;
  Type element = attr.getElementType();
  unsigned bits = bytes->elementBytes * 8;
  for (int64_t i = 0, e = attr.getNumElements(); i < e; ++i) {
    uint64_t raw = 0;
    std::memcpy(&raw, bytes->data.data() + i * bytes->elementBytes,
                bytes->elementBytes);
    if (mask.isBool) {
      // A boolean stored a byte per element: nonzero is true.
      if (!element.isInteger(8))
        return std::nullopt;
      keep.push_back((raw != 0) == mask.keepWhenTrue);
      continue;
    }
    auto floatType = dyn_cast<FloatType>(element);
    if (!floatType)
      return std::nullopt;
    std::optional<bool> k =
        additiveKeeps(APFloat(floatType.getFloatSemantics(), APInt(bits, raw)));
    if (!k)
      return std::nullopt;
    keep.push_back(*k);
  }
  return keep;
}

/// A causal mask, possibly banded: keep(i, j) == (j <= i + offset) and,
/// with a window, j >= i + offset - windowLeft.
struct CausalBand {
  int64_t offset;
  std::optional<int64_t> windowLeft;
};

/// The causal band of a constant mask that depends only on (i, j):
/// exporters spell a causal mask as j <= i + o and a sliding window
/// (Mistral, Gemma-2, Qwen2) as that and j > i + o - W, which is o and
/// W - 1. std::nullopt when the mask has another shape.
std::optional<CausalBand> causalBandOf(const Mask4 &mask,
                                       int64_t queryLength) {
  if (mask.shape[0] != 1 || mask.shape[1] != 1 ||
      mask.shape[2] != queryLength)
    return std::nullopt;
  int64_t rows = mask.shape[2], cols = mask.shape[3];
  std::optional<SmallVector<bool>> flags = keepFlags(mask);
  if (!flags || int64_t(flags->size()) != rows * cols || rows == 0)
    return std::nullopt;
  ArrayRef<bool> keep = *flags;
  // Row 0 ends at the offset (every row is nonempty in either shape).
  ArrayRef<bool> first = keep.take_front(cols);
  const bool *last = std::find(first.rbegin(), first.rend(), true).base();
  if (last == first.begin())
    return std::nullopt;
  CausalBand band{int64_t(last - first.begin()) - 1, std::nullopt};
  // The band's left edge shows in the first row whose first key is past 0.
  for (int64_t i = 0; i < rows && !band.windowLeft; ++i) {
    ArrayRef<bool> row = keep.slice(i * cols, cols);
    int64_t firstKept = std::find(row.begin(), row.end(), true) - row.begin();
    if (firstKept > 0 && firstKept < cols)
      band.windowLeft = i + band.offset - firstKept;
  }
  if (band.windowLeft && *band.windowLeft < 0)
    return std::nullopt;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      bool inBand = j <= i + band.offset &&
                    (!band.windowLeft || j >= i + band.offset - *band.windowLeft);
      if (keep[i * cols + j] != inBand)
        return std::nullopt;
    }
  return band;
}

/// The mask as an operand of attn.attention: as it is when its shape is
/// the 4-D shape without leading 1s, else reshaped to rank 4.
Value asOperand(OpBuilder &b, Location loc, const Mask4 &mask) {
  auto type = cast<RankedTensorType>(mask.value.getType());
  ArrayRef<int64_t> shape(mask.shape);
  if (type.getShape() == shape)
    return mask.value;
  while (shape.size() > 2 && shape.front() == 1)
    shape = shape.drop_front();
  if (type.getShape() == shape)
    return mask.value;
  auto target = RankedTensorType::get(mask.shape, type.getElementType());
  SmallVector<int64_t> dims(mask.shape.begin(), mask.shape.end());
  Value shapeValue = arith::ConstantOp::create(
      b, loc, DenseIntElementsAttr::get(
                  RankedTensorType::get({4}, b.getI64Type()), dims));
  return tensor::ReshapeOp::create(b, loc, target, mask.value, shapeValue);
}

/// One additive f32 mask equal to the sum of `masks` (a boolean mask adds
/// 0 where it keeps and -inf where it masks).
Value combine(OpBuilder &b, Location loc, ArrayRef<Mask4> masks) {
  SmallVector<int64_t> shape(4, 1);
  for (const Mask4 &m : masks)
    for (unsigned l = 0; l < 4; ++l)
      shape[l] = std::max(shape[l], m.shape[l]);
  MLIRContext *ctx = b.getContext();
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (const Mask4 &m : masks) {
    auto type = cast<RankedTensorType>(m.value.getType());
    Value four = m.value;
    if (type.getRank() != 4 || type.getShape() != ArrayRef(m.shape)) {
      auto target = RankedTensorType::get(m.shape, type.getElementType());
      SmallVector<int64_t> dims(m.shape.begin(), m.shape.end());
      Value shapeValue = arith::ConstantOp::create(
          b, loc, DenseIntElementsAttr::get(
                      RankedTensorType::get({4}, b.getI64Type()), dims));
      four = tensor::ReshapeOp::create(b, loc, target, m.value, shapeValue);
    }
    inputs.push_back(four);
    SmallVector<AffineExpr> exprs;
    for (unsigned l = 0; l < 4; ++l)
      exprs.push_back(m.shape[l] == 1 && shape[l] != 1
                          ? getAffineConstantExpr(0, ctx)
                          : getAffineDimExpr(l, ctx));
    maps.push_back(AffineMap::get(4, 0, exprs, ctx));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(4, ctx));
  Value init = tensor::EmptyOp::create(b, loc, shape, b.getF32Type());
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value zero = arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(0.0));
        Value minusInf = arith::ConstantOp::create(
            nb, nl,
            nb.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
        Value sum = zero;
        for (auto [m, arg] : llvm::zip(masks, args.drop_back())) {
          Value term = arg;
          if (m.isBool)
            term = m.keepWhenTrue
                       ? arith::SelectOp::create(nb, nl, arg, zero, minusInf)
                       : arith::SelectOp::create(nb, nl, arg, minusInf, zero);
          else if (!arg.getType().isF32())
            term = arith::ExtFOp::create(nb, nl, nb.getF32Type(), arg);
          sum = arith::AddFOp::create(nb, nl, sum, term);
        }
        linalg::YieldOp::create(nb, nl, sum);
      });
  return generic->getResult(0);
}

} // namespace

std::optional<MaskPlan> mlir::attn::planMasks(ArrayRef<Step> steps,
                                              ArrayRef<int64_t> outShape,
                                              int64_t keyLength) {
  MaskPlan plan;
  for (const Step &step : steps) {
    std::optional<Mask4> mask = place(step, outShape, keyLength);
    if (!mask)
      return std::nullopt;
    if (!plan.causalOffset)
      if (std::optional<CausalBand> band = causalBandOf(*mask, outShape[2])) {
        plan.causalOffset = band->offset;
        plan.windowLeft = band->windowLeft;
        continue;
      }
    plan.masks.push_back(*mask);
  }
  return plan;
}

Value mlir::attn::buildMask(OpBuilder &b, Location loc, const MaskPlan &plan) {
  ArrayRef<Mask4> masks = plan.masks;
  if (masks.empty())
    return Value();
  if (masks.size() == 1 && (!masks[0].isBool || masks[0].keepWhenTrue))
    return asOperand(b, loc, masks[0]);
  return combine(b, loc, masks);
}
