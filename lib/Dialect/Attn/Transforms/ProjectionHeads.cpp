//===- ProjectionHeads.cpp - attention heads made by constant projections -===//

#include "attn/Dialect/Attn/Transforms/ProjectionHeads.h"

#include "LinalgMatchers.h"

#include "attn/Support/ConstantBytes.h"
#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/IRMapping.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace mlir::attn;

namespace {

const llvm::fltSemantics *semanticsOf(Type t) {
  auto f = dyn_cast<FloatType>(t);
  return f ? &f.getFloatSemantics() : nullptr;
}

/// A constant of `type` holding `values` (converted to its float type), as
/// a resource blob like the importer's weights.
Value makeConstant(OpBuilder &b, Location loc, RankedTensorType type,
                   ArrayRef<double> values) {
  const llvm::fltSemantics &sem = *semanticsOf(type.getElementType());
  unsigned bytes = llvm::APFloat::getSizeInBits(sem) / 8;
  std::vector<char> data(values.size() * bytes);
  for (auto [i, v] : llvm::enumerate(values)) {
    if (bytes == 4 && type.getElementType().isF32()) {
      float f = static_cast<float>(v); // to nearest even, as APFloat does
      std::memcpy(data.data() + i * 4, &f, 4);
      continue;
    }
    llvm::APFloat f(v);
    bool lost;
    f.convert(sem, llvm::APFloat::rmNearestTiesToEven, &lost);
    llvm::APInt bits = f.bitcastToAPInt();
    uint64_t word = bits.getZExtValue();
    std::memcpy(data.data() + i * bytes, &word, bytes); // little-endian
  }
  auto attr = DenseResourceElementsAttr::get(
      type, "share_kv",
      HeapAsmResourceBlob::allocateAndCopyWithAlign(ArrayRef<char>(data),
                                                    bytes));
  return arith::ConstantOp::create(b, loc, type, attr);
}

RankedTensorType withDim(Type t, unsigned axis, int64_t size) {
  auto type = cast<RankedTensorType>(t);
  SmallVector<int64_t> shape(type.getShape());
  shape[axis] = size;
  return RankedTensorType::get(shape, type.getElementType());
}

/// Whether the payload of elementwise `op` is linear in the block arguments
/// of the inputs in `chain` (the others are constants of the rewrite): it
/// yields a value built from them by negation, scaling by a non-chain value,
/// and sums of chain values.
bool linearIn(linalg::LinalgOp op, const llvm::SmallBitVector &chain) {
  Block *body = op.getBlock();
  DenseSet<Value> linear;
  for (unsigned i = 0; i < op.getNumDpsInputs(); ++i)
    if (chain.test(i))
      linear.insert(body->getArgument(i));
  for (unsigned i = op.getNumDpsInputs(); i < body->getNumArguments(); ++i)
    if (!body->getArgument(i).use_empty())
      return false; // reads its init
  for (Operation &inner : body->without_terminator()) {
    auto isLin = [&](Value v) { return linear.contains(v); };
    bool anyLinear = llvm::any_of(inner.getOperands(), isLin);
    if (!anyLinear)
      continue; // a constant of the rewrite
    bool ok = false;
    if (isa<arith::NegFOp>(inner))
      ok = true;
    else if (isa<arith::MulFOp>(inner))
      ok = isLin(inner.getOperand(0)) != isLin(inner.getOperand(1));
    else if (isa<arith::DivFOp>(inner))
      ok = isLin(inner.getOperand(0)) && !isLin(inner.getOperand(1));
    else if (isa<arith::AddFOp, arith::SubFOp>(inner))
      ok = isLin(inner.getOperand(0)) && isLin(inner.getOperand(1));
    if (!ok)
      return false;
    linear.insert(inner.getResult(0));
  }
  return linear.contains(body->getTerminator()->getOperand(0));
}

/// The backward walk from the operand to the head split.
struct Walk {
  HeadProjection &p;
  DenseMap<Value, std::pair<int64_t, int64_t>> axes; ///< head, D axis
  SmallVector<Value> sides;

  bool visit(Value v, int64_t h, int64_t d) {
    auto [it, inserted] = axes.try_emplace(v, h, d);
    if (!inserted)
      return it->second == std::make_pair(h, d);
    auto type = dyn_cast<RankedTensorType>(v.getType());
    if (!type || !type.hasStaticShape())
      return false;
    Operation *def = v.getDefiningOp();
    if (!def || def->getNumResults() != 1)
      return false;
    if (auto expand = dyn_cast<tensor::ExpandShapeOp>(def))
      return splitsHeads(expand, h, d);
    // Post-order: a step follows the steps it reads.
    if (!throughStep(def, type, h, d))
      return false;
    p.steps.push_back(def);
    return true;
  }

  bool throughStep(Operation *def, RankedTensorType type, int64_t h,
                   int64_t d) {
    if (auto transpose = dyn_cast<linalg::TransposeOp>(def)) {
      ArrayRef<int64_t> perm = transpose.getPermutation();
      return visit(transpose.getInput(), perm[h], perm[d]);
    }
    if (auto slice = dyn_cast<tensor::ExtractSliceOp>(def))
      return throughSlice(slice, h, d);
    if (auto concat = dyn_cast<tensor::ConcatOp>(def)) {
      int64_t dim = concat.getDim();
      if (dim == h)
        return false;
      if (dim == d) {
        p.actsAlongD = true;
        auto inputs = concat.getInputs();
        if (inputs.size() != 2 ||
            cast<ShapedType>(inputs[0].getType()).getDimSize(d) * 2 !=
                type.getDimSize(d))
          p.rotateHalf = false;
      }
      for (Value in : concat.getInputs())
        if (!visit(in, h, d))
          return false;
      return true;
    }
    if (auto generic = dyn_cast<linalg::GenericOp>(def))
      return throughElementwise(generic, h, d);
    return false;
  }

  /// [..., H * D, ...] -> [..., H, D, ...] with H, D the last two of their
  /// group: the columns of head r are [r D, (r + 1) D).
  bool splitsHeads(tensor::ExpandShapeOp expand, int64_t h, int64_t d) {
    if (d != h + 1)
      return false;
    for (auto [g, group] : llvm::enumerate(expand.getReassociationIndices())) {
      if (!llvm::is_contained(group, h))
        continue;
      if (group.size() < 2 || group[group.size() - 2] != h ||
          group.back() != d)
        return false;
      if (p.heads && p.heads != expand)
        return false;
      p.heads = expand;
      p.resultColumnAxis = g; // of the source, for now
      auto shape = expand.getResultType().getShape();
      p.numHeads = shape[h];
      p.headDim = shape[d];
      return true;
    }
    return false;
  }

  bool throughSlice(tensor::ExtractSliceOp slice, int64_t h, int64_t d) {
    auto src = slice.getSourceType();
    if (slice.getResultType().getRank() != src.getRank() ||
        !slice.hasUnitStride() ||
        llvm::any_of(slice.getStaticOffsets(), ShapedType::isDynamic) ||
        llvm::any_of(slice.getStaticSizes(), ShapedType::isDynamic))
      return false;
    ArrayRef<int64_t> offsets = slice.getStaticOffsets(),
                      sizes = slice.getStaticSizes();
    if (offsets[h] != 0 || sizes[h] != src.getDimSize(h))
      return false;
    if (offsets[d] != 0 || sizes[d] != src.getDimSize(d)) {
      p.actsAlongD = true;
      int64_t half = src.getDimSize(d) / 2;
      if (sizes[d] != half || (offsets[d] != 0 && offsets[d] != half) ||
          src.getDimSize(d) % 2 != 0)
        p.rotateHalf = false;
    }
    return visit(slice.getSource(), h, d);
  }

  /// An elementwise op, linear in the inputs that vary over the heads;
  /// the others (RoPE's tables) are broadcast over them.
  bool throughElementwise(linalg::GenericOp op, int64_t h, int64_t d) {
    if (op.getNumDpsInits() != 1 ||
        op.getNumLoops() != op.getNumParallelLoops() ||
        !op.getIndexingMapsArray().back().isIdentity())
      return false;
    llvm::SmallBitVector chain(op.getNumDpsInputs());
    SmallVector<Value> chainInputs;
    for (OpOperand *in : op.getDpsInputOperands()) {
      AffineMap map = op.getMatchingIndexingMap(in);
      if (map.isFunctionOfDim(h)) {
        if (!map.isIdentity() ||
            cast<ShapedType>(in->get().getType()).getShape() !=
                cast<ShapedType>(op.getResultTypes()[0]).getShape())
          return false;
        chain.set(in->getOperandNumber());
        chainInputs.push_back(in->get());
      } else {
        if (map.isFunctionOfDim(d))
          p.actsAlongD = true;
        sides.push_back(in->get());
      }
    }
    if (chainInputs.empty() || !linearIn(op, chain))
      return false;
    for (Value in : chainInputs)
      if (!visit(in, h, d))
        return false;
    return true;
  }
};

/// x @ W: a zero-initialised contraction with one n and one k loop, no
/// batch loop and any number of m loops (the [B, S, d] @ [d, N] of an
/// importer), W the operand indexed by n and k only.
struct WeightContraction {
  linalg::LinalgOp op;
  unsigned n, k;
  OpOperand *lhs, *rhs;
};
std::optional<WeightContraction> matchWeightContraction(Value result) {
  auto op = result.getDefiningOp<linalg::LinalgOp>();
  if (!op || !op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op->getNumResults() != 1 ||
      !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  std::optional<double> init =
      match::splatValue(op.getDpsInitOperand(0)->get());
  if (!init || *init != 0.0)
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->n.size() != 1 || dims->k.size() != 1 ||
      !dims->batch.empty() || dims->m.empty())
    return std::nullopt;
  WeightContraction c{op, dims->n[0], dims->k[0], nullptr, nullptr};
  for (OpOperand *operand : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(operand);
    bool readsM = llvm::any_of(dims->m, [&](unsigned m) {
      return map.isFunctionOfDim(m);
    });
    if (readsM && !map.isFunctionOfDim(c.n))
      c.lhs = operand;
    else if (!readsM && map.isFunctionOfDim(c.n) &&
             map.getNumResults() == 2)
      c.rhs = operand;
  }
  if (!c.lhs || !c.rhs)
    return std::nullopt;
  return c;
}

/// Finds the projection above the head split: [slice] [bias add] matmul.
bool matchProjection(HeadProjection &p) {
  Value src = p.heads.getSrc();
  unsigned axis = p.resultColumnAxis;
  int64_t columns = p.numHeads * p.headDim;
  if (cast<ShapedType>(src.getType()).getDimSize(axis) != columns)
    return false;
  if (auto slice = src.getDefiningOp<tensor::ExtractSliceOp>()) {
    auto type = slice.getSourceType();
    ArrayRef<int64_t> offsets = slice.getStaticOffsets(),
                      sizes = slice.getStaticSizes();
    if (!slice.hasUnitStride() || slice.getResultType().getRank() != type.getRank())
      return false;
    for (int64_t i = 0; i < type.getRank(); ++i) {
      if (i == int64_t(axis))
        continue;
      if (offsets[i] != 0 || sizes[i] != type.getDimSize(i))
        return false;
    }
    if (ShapedType::isDynamic(offsets[axis]))
      return false;
    p.split = slice;
    p.columnOffset = offsets[axis];
    src = slice.getSource();
  }
  auto add = src.getDefiningOp<linalg::GenericOp>();
  if (add && add.getNumLoops() == add.getNumParallelLoops()) {
    if (add.getNumDpsInputs() != 2 || add.getNumDpsInits() != 1 ||
        !add.getIndexingMapsArray().back().isIdentity())
      return false;
    Block *body = add.getBlock();
    auto sum = dyn_cast<arith::AddFOp>(body->getTerminator()->getOperand(0)
                                           .getDefiningOp());
    if (!sum || &body->front() != sum.getOperation())
      return false;
    for (int main = 0; main < 2; ++main) {
      OpOperand *m = add.getDpsInputOperand(main),
                 *c = add.getDpsInputOperand(1 - main);
      AffineMap cm = add.getMatchingIndexingMap(c);
      if (!add.getMatchingIndexingMap(m).isIdentity() ||
          !c->get().getDefiningOp<arith::ConstantOp>() ||
          cm.getNumResults() != 1 || !cm.getResult(0).isFunctionOfDim(axis) ||
          !isa<AffineDimExpr>(cm.getResult(0)))
        continue;
      p.bias = c->get();
      p.biasAdd = add;
      src = m->get();
      break;
    }
    if (!p.bias)
      return false;
  }
  std::optional<WeightContraction> c = matchWeightContraction(src);
  if (!c)
    return false;
  linalg::LinalgOp mm = c->op;
  AffineMap out = mm.getIndexingMapsArray().back();
  if (axis >= out.getNumResults() || out.getResult(axis) !=
                                         getAffineDimExpr(c->n, mm.getContext()))
    return false;
  Value weight = c->rhs->get();
  auto wType = dyn_cast<RankedTensorType>(weight.getType());
  if (!wType || wType.getRank() != 2 || !weight.getDefiningOp<arith::ConstantOp>() ||
      !semanticsOf(wType.getElementType()))
    return false;
  AffineMap wm = mm.getMatchingIndexingMap(c->rhs);
  p.weightColumnAxis =
      wm.getResult(0) == getAffineDimExpr(c->n, mm.getContext()) ? 0 : 1;
  p.matmul = mm;
  p.weight = c->rhs;
  p.inputWidth = wType.getDimSize(1 - p.weightColumnAxis);
  return p.columnOffset + columns <= wType.getDimSize(p.weightColumnAxis);
}

/// A 2x2 rotation-and-scale per plane (i, i + D/2): [[a, -b], [b, a]].
bool isPlaneComplex(ArrayRef<double> m, int64_t d) {
  int64_t half = d / 2;
  double scale = 0;
  for (double x : m)
    scale = std::max(scale, std::abs(x));
  double tol = 1e-9 * std::max(scale, 1e-300);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) {
      bool inPlane = j == i || j == (i + half) % d;
      if (!inPlane && std::abs(m[i * d + j]) > tol)
        return false;
    }
  for (int64_t i = 0; i < half; ++i) {
    double a = m[i * d + i], b = m[(i + half) * d + i];
    if (std::abs(m[(i + half) * d + i + half] - a) > tol ||
        std::abs(m[i * d + i + half] + b) > tol)
      return false;
  }
  return true;
}

/// Zero of the type's shape, the init of a rebuilt contraction.
Value zeroInit(OpBuilder &b, Location loc, RankedTensorType type) {
  Value zero =
      arith::ConstantOp::create(b, loc, b.getZeroAttr(type.getElementType()));
  Value empty = tensor::EmptyOp::create(b, loc, type.getShape(),
                                        type.getElementType());
  return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
}

/// A copy of the linalg `op` over `inputs`, writing a fresh tensor of
/// `type` (its init is never read: zero-filled for contractions).
Value cloneLinalg(OpBuilder &b, linalg::LinalgOp op, ArrayRef<Value> inputs,
                  RankedTensorType type, bool zeroFill) {
  Location loc = op.getLoc();
  Value init = zeroFill ? zeroInit(b, loc, type)
                        : tensor::EmptyOp::create(b, loc, type.getShape(),
                                                  type.getElementType())
                              .getResult();
  IRMapping map;
  for (auto [operand, value] : llvm::zip(op.getDpsInputOperands(), inputs))
    map.map(operand->get(), value);
  map.map(op.getDpsInitOperand(0)->get(), init);
  Operation *clone = b.clone(*op.getOperation(), map);
  clone->getResult(0).setType(type);
  return clone->getResult(0);
}

} // namespace

std::optional<std::vector<double>> mlir::attn::readConstant(Value v) {
  auto cst = v.getDefiningOp<arith::ConstantOp>();
  if (!cst)
    return std::nullopt;
  auto attr = dyn_cast<ElementsAttr>(cst.getValue());
  const llvm::fltSemantics *sem =
      attr ? semanticsOf(attr.getElementType()) : nullptr;
  if (!sem)
    return std::nullopt;
  std::optional<ConstantBytes> bytes = getConstantBytes(attr);
  if (!bytes)
    return std::nullopt;
  int64_t n = attr.getNumElements(), w = bytes->elementBytes;
  std::vector<double> out(n);
  if (attr.getElementType().isF32() && w == 4) {
    // The common case without APFloat (~20x faster: the joint calibration
    // reads every projection weight of the model several times).
    for (int64_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, bytes->data.data() + (bytes->splat ? 0 : i * 4), 4);
      out[i] = f;
    }
    return out;
  }
  for (int64_t i = 0; i < n; ++i) {
    uint64_t word = 0;
    std::memcpy(&word, bytes->data.data() + (bytes->splat ? 0 : i * w), w);
    llvm::APFloat f(*sem, llvm::APInt(w * 8, word));
    bool lost;
    f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
              &lost);
    out[i] = f.convertToDouble();
  }
  return out;
}

std::optional<HeadProjection> mlir::attn::matchHeadProjection(Value operand) {
  auto type = dyn_cast<RankedTensorType>(operand.getType());
  if (!type || type.getRank() != 4 || !type.hasStaticShape())
    return std::nullopt;
  HeadProjection p;
  p.operand = operand;
  Walk walk{p, decltype(Walk::axes)(), {}};
  if (!walk.visit(operand, 1, 3) || !p.heads ||
      p.numHeads != type.getDimSize(1) || p.headDim != type.getDimSize(3) ||
      !matchProjection(p))
    return std::nullopt;
  // The tables the steps read must not come from the projection itself
  // (a norm over the head, which is not linear).
  SetVector<Operation *> forward;
  getForwardSlice(p.matmul.getOperation(), &forward);
  for (Value side : walk.sides)
    if (Operation *def = side.getDefiningOp(); def && forward.contains(def))
      return std::nullopt;
  return p;
}

bool mlir::attn::mapsCommute(const HeadProjection &p, ArrayRef<double> maps) {
  if (maps.empty() || !p.actsAlongD)
    return true;
  if (!p.rotateHalf || p.headDim % 2 != 0)
    return false;
  int64_t dd = p.headDim * p.headDim;
  for (int64_t h = 0; h < p.numHeads; ++h)
    if (!isPlaneComplex(maps.slice(h * dd, dd), p.headDim))
      return false;
  return true;
}

Value mlir::attn::rebuildHeadProjection(OpBuilder &b, const HeadProjection &p,
                                        int64_t newHeads,
                                        ArrayRef<double> weights,
                                        ArrayRef<double> maps,
                                        ArrayRef<double> weight,
                                        ArrayRef<double> fittedBias) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointAfterValue(p.operand);
  tensor::ExpandShapeOp heads = p.heads;
  linalg::LinalgOp biasAdd = p.biasAdd;
  Location loc = heads.getLoc();
  int64_t hd = p.headDim, g = p.numHeads / newHeads, in = p.inputWidth;
  unsigned col = p.weightColumnAxis;
  auto wType = cast<RankedTensorType>(p.weight->get().getType());
  // A fitted weight replaces the combination of the old columns: those are
  // read for the bias only.
  bool fitted = !weight.empty();
  std::vector<double> w;
  if (!fitted)
    w = *readConstant(p.weight->get());
  int64_t wCols = wType.getDimSize(col);
  auto at = [&](int64_t row, int64_t column) -> double {
    return col == 1 ? w[row * wCols + column] : w[column * in + row];
  };
  auto mapOf = [&](int64_t r, int64_t i, int64_t j) -> double {
    if (maps.empty())
      return i == j ? 1.0 : 0.0;
    return maps[(r * hd + i) * hd + j];
  };
  // new column n D + i = sum_r weights[r] sum_j maps[r][i][j] column r D + j
  int64_t newCols = newHeads * hd;
  std::vector<double> nw(in * newCols, 0.0), row(hd);
  std::optional<std::vector<double>> bias;
  if (p.bias)
    bias = readConstant(p.bias);
  std::vector<double> nb(newCols, 0.0);
  for (int64_t n = 0; n < newHeads; ++n)
    for (int64_t r = n * g; r < (n + 1) * g; ++r) {
      double wr = weights.empty() ? 1.0 / g : weights[r];
      int64_t base = p.columnOffset + r * hd;
      for (int64_t i = 0; i < hd; ++i)
        for (int64_t j = 0; j < hd; ++j) {
          double m = wr * mapOf(r, i, j);
          if (m == 0.0)
            continue;
          int64_t c = n * hd + i;
          for (int64_t k = 0; !fitted && k < in; ++k) {
            double v = m * at(k, base + j);
            if (col == 1)
              nw[k * newCols + c] += v;
            else
              nw[c * in + k] += v;
          }
          if (bias)
            nb[c] += m * (*bias)[base + j];
        }
    }
  if (!weight.empty()) {
    for (int64_t c = 0; c < newCols; ++c)
      for (int64_t k = 0; k < in; ++k)
        (col == 1 ? nw[k * newCols + c] : nw[c * in + k]) = weight[c * in + k];
    if (!fittedBias.empty())
      nb.assign(fittedBias.begin(), fittedBias.end());
  }
  Value newWeight = makeConstant(b, loc, withDim(wType, col, newCols), nw);

  // The projection and its bias, computing the new columns only.
  linalg::LinalgOp mm = p.matmul;
  SmallVector<Value> inputs;
  for (OpOperand *operand : mm.getDpsInputOperands())
    inputs.push_back(operand == p.weight ? newWeight : operand->get());
  Value projected = cloneLinalg(
      b, mm, inputs, withDim(mm->getResult(0).getType(), p.resultColumnAxis,
                             newCols),
      /*zeroFill=*/true);
  if (biasAdd) {
    auto biasType = cast<RankedTensorType>(p.bias.getType());
    Value newBias = makeConstant(
        b, loc, RankedTensorType::get({newCols}, biasType.getElementType()),
        nb);
    SmallVector<Value> addInputs;
    for (OpOperand *operand : biasAdd.getDpsInputOperands())
      addInputs.push_back(operand->get() == p.bias ? newBias : projected);
    projected = cloneLinalg(b, biasAdd, addInputs,
                            cast<RankedTensorType>(projected.getType()),
                            /*zeroFill=*/false);
  }
  // The head axis of the split is the one before the last of the column
  // group (checked by the matcher).
  ReassociationIndices columnGroup =
      heads.getReassociationIndices()[p.resultColumnAxis];
  int64_t splitHead = columnGroup[columnGroup.size() - 2];

  IRMapping rebuilt;
  rebuilt.map(heads.getResult(),
              tensor::ExpandShapeOp::create(
                  b, loc, withDim(heads.getResultType(), splitHead, newHeads),
                  projected, heads.getReassociationIndices())
                  .getResult());
  // The steps, in order, each over the rebuilt values of its inputs with
  // the head dimension shrunk: its axis in every step's value.
  DenseMap<Value, int64_t> headAxes{{heads.getResult(), splitHead}};
  for (Operation *step : p.steps) {
    auto lookup = [&](Value v) { return rebuilt.lookupOrDefault(v); };
    Value result;
    int64_t axis = -1;
    if (auto t = dyn_cast<linalg::TransposeOp>(step)) {
      ArrayRef<int64_t> perm = t.getPermutation();
      int64_t inAxis = headAxes.lookup(t.getInput());
      axis = llvm::find(perm, inAxis) - perm.begin();
      auto type = withDim(t->getResult(0).getType(), axis, newHeads);
      Value empty = tensor::EmptyOp::create(b, t.getLoc(), type.getShape(),
                                            type.getElementType());
      result = linalg::TransposeOp::create(b, t.getLoc(), lookup(t.getInput()),
                                           empty, perm)
                   ->getResult(0);
    } else if (auto s = dyn_cast<tensor::ExtractSliceOp>(step)) {
      axis = headAxes.lookup(s.getSource());
      SmallVector<OpFoldResult> sizes = s.getMixedSizes();
      sizes[axis] = b.getIndexAttr(newHeads);
      result = tensor::ExtractSliceOp::create(b, s.getLoc(),
                                              lookup(s.getSource()),
                                              s.getMixedOffsets(), sizes,
                                              s.getMixedStrides());
    } else if (auto c = dyn_cast<tensor::ConcatOp>(step)) {
      axis = headAxes.lookup(c.getInputs()[0]);
      SmallVector<Value> ins;
      for (Value v : c.getInputs())
        ins.push_back(lookup(v));
      result = tensor::ConcatOp::create(b, c.getLoc(), c.getDim(), ins);
    } else {
      auto generic = cast<linalg::GenericOp>(step);
      SmallVector<Value> ins;
      for (OpOperand *operand : generic.getDpsInputOperands()) {
        ins.push_back(lookup(operand->get()));
        if (headAxes.count(operand->get()))
          axis = headAxes.lookup(operand->get());
      }
      result = cloneLinalg(b, generic, ins,
                           withDim(generic->getResult(0).getType(), axis,
                                   newHeads),
                           /*zeroFill=*/false);
    }
    headAxes[step->getResult(0)] = axis;
    rebuilt.map(step->getResult(0), result);
  }
  return rebuilt.lookupOrDefault(p.operand);
}

std::optional<OutputProjection>
mlir::attn::matchOutputProjection(Value result) {
  if (!result.hasOneUse())
    return std::nullopt;
  auto transpose = dyn_cast<linalg::TransposeOp>(*result.getUsers().begin());
  if (!transpose || transpose.getPermutation() != ArrayRef<int64_t>{0, 2, 1, 3} ||
      !transpose->getResult(0).hasOneUse())
    return std::nullopt;
  auto collapse =
      dyn_cast<tensor::CollapseShapeOp>(*transpose->getResult(0).getUsers().begin());
  if (!collapse || collapse.getReassociationIndices().size() != 3 ||
      collapse.getReassociationIndices()[2] != ReassociationIndices{2, 3} ||
      !collapse.getResult().hasOneUse())
    return std::nullopt;
  Operation *user = *collapse.getResult().getUsers().begin();
  if (user->getNumResults() != 1)
    return std::nullopt;
  std::optional<WeightContraction> c =
      matchWeightContraction(user->getResult(0));
  if (!c || c->lhs->get() != collapse.getResult())
    return std::nullopt;
  linalg::LinalgOp mm = c->op;
  AffineMap lm = mm.getMatchingIndexingMap(c->lhs);
  if (lm.getNumResults() != 3 ||
      lm.getResult(2) != getAffineDimExpr(c->k, mm.getContext()))
    return std::nullopt;
  Value weight = c->rhs->get();
  auto wType = dyn_cast<RankedTensorType>(weight.getType());
  if (!wType || wType.getRank() != 2 ||
      !weight.getDefiningOp<arith::ConstantOp>() ||
      !semanticsOf(wType.getElementType()))
    return std::nullopt;
  AffineMap wm = mm.getMatchingIndexingMap(c->rhs);
  OutputProjection p;
  p.matmul = mm;
  p.weight = c->rhs;
  p.weightRowAxis =
      wm.getResult(0) == getAffineDimExpr(c->k, mm.getContext()) ? 0 : 1;
  auto rType = cast<ShapedType>(result.getType());
  p.heads = rType.getDimSize(1);
  p.valueDim = rType.getDimSize(3);
  p.outputWidth = wType.getDimSize(1 - p.weightRowAxis);
  if (wType.getDimSize(p.weightRowAxis) != p.heads * p.valueDim)
    return std::nullopt;
  return p;
}

void mlir::attn::replaceOutputWeight(OpBuilder &b, const OutputProjection &p,
                                     ArrayRef<double> weight) {
  OpBuilder::InsertionGuard guard(b);
  linalg::LinalgOp mm = p.matmul;
  b.setInsertionPoint(mm);
  auto wType = cast<RankedTensorType>(p.weight->get().getType());
  int64_t rows = p.heads * p.valueDim, cols = p.outputWidth;
  std::vector<double> stored(weight.begin(), weight.end());
  if (p.weightRowAxis == 1)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        stored[c * rows + r] = weight[r * cols + c];
  p.weight->set(makeConstant(b, mm.getLoc(), wType, stored));
}

void mlir::attn::foldOutputMaps(OpBuilder &b, const OutputProjection &p,
                                ArrayRef<double> maps) {
  std::vector<double> w = *readConstant(p.weight->get());
  int64_t rows = p.heads * p.valueDim, cols = p.outputWidth, dv = p.valueDim;
  auto at = [&](int64_t r, int64_t c) {
    return p.weightRowAxis == 0 ? w[r * cols + c] : w[c * rows + r];
  };
  std::vector<double> folded(rows * cols, 0.0);
  for (int64_t h = 0; h < p.heads; ++h)
    for (int64_t i = 0; i < dv; ++i)
      for (int64_t j = 0; j < dv; ++j) {
        double m = maps[(h * dv + i) * dv + j];
        if (m == 0.0)
          continue;
        for (int64_t c = 0; c < cols; ++c)
          folded[(h * dv + j) * cols + c] += m * at(h * dv + i, c);
      }
  replaceOutputWeight(b, p, folded);
}

void mlir::attn::eraseUnusedSteps(ArrayRef<const HeadProjection *> rebuilt) {
  SetVector<Operation *> candidates;
  for (const HeadProjection *p : rebuilt) {
    for (Operation *step : llvm::reverse(p->steps))
      candidates.insert(step);
    candidates.insert(p->heads);
    if (p->split)
      candidates.insert(p->split);
  }
  // Until nothing changes: chains may share steps, in any order.
  DenseSet<Operation *> erased;
  for (bool changed = true; changed;) {
    changed = false;
    for (Operation *op : candidates)
      if (!erased.contains(op) && op->use_empty()) {
        erased.insert(op);
        op->erase();
        changed = true;
      }
  }
}

void mlir::attn::narrowFusedProjection(OpBuilder &b, const HeadProjection &p) {
  linalg::LinalgOp mm = p.matmul, biasAdd = p.biasAdd;
  Value fused = biasAdd ? biasAdd->getResult(0) : mm->getResult(0);
  unsigned axis = p.resultColumnAxis;
  auto fusedType = cast<RankedTensorType>(fused.getType());
  // The columns the remaining slices read, in order.
  SmallVector<tensor::ExtractSliceOp> slices;
  for (Operation *user : fused.getUsers()) {
    auto slice = dyn_cast<tensor::ExtractSliceOp>(user);
    if (!slice || !slice.hasUnitStride() ||
        ShapedType::isDynamic(slice.getStaticOffsets()[axis]) ||
        ShapedType::isDynamic(slice.getStaticSizes()[axis]))
      return;
    slices.push_back(slice);
  }
  if (slices.empty() || (biasAdd && !mm->getResult(0).hasOneUse()))
    return;
  int64_t total = fusedType.getDimSize(axis);
  std::vector<bool> used(total, false);
  for (tensor::ExtractSliceOp slice : slices)
    for (int64_t c = 0; c < slice.getStaticSizes()[axis]; ++c)
      used[slice.getStaticOffsets()[axis] + c] = true;
  SmallVector<int64_t> keep, newIndex(total, -1);
  for (int64_t c = 0; c < total; ++c)
    if (used[c]) {
      newIndex[c] = keep.size();
      keep.push_back(c);
    }
  if (int64_t(keep.size()) == total)
    return;
  // A slice stays one slice only if its columns stay contiguous, which
  // they do: kept columns keep their order.
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointAfterValue(fused);
  Location loc = mm.getLoc();
  auto wType = cast<RankedTensorType>(p.weight->get().getType());
  std::vector<double> w = *readConstant(p.weight->get());
  unsigned col = p.weightColumnAxis;
  int64_t cols = wType.getDimSize(col), in = wType.getDimSize(1 - col),
          n = keep.size();
  std::vector<double> nw(in * n);
  for (int64_t k = 0; k < in; ++k)
    for (int64_t j = 0; j < n; ++j) {
      if (col == 1)
        nw[k * n + j] = w[k * cols + keep[j]];
      else
        nw[j * in + k] = w[keep[j] * in + k];
    }
  Value weight = makeConstant(b, loc, withDim(wType, col, n), nw);
  SmallVector<Value> inputs;
  for (OpOperand *operand : mm.getDpsInputOperands())
    inputs.push_back(operand == p.weight ? weight : operand->get());
  Value result = cloneLinalg(b, mm, inputs,
                             withDim(mm->getResult(0).getType(), axis, n),
                             /*zeroFill=*/true);
  if (biasAdd) {
    std::vector<double> bias = *readConstant(p.bias), nb(n);
    for (int64_t j = 0; j < n; ++j)
      nb[j] = bias[keep[j]];
    auto biasType = cast<RankedTensorType>(p.bias.getType());
    Value newBias = makeConstant(
        b, loc, RankedTensorType::get({n}, biasType.getElementType()), nb);
    SmallVector<Value> addInputs;
    for (OpOperand *operand : biasAdd.getDpsInputOperands())
      addInputs.push_back(operand->get() == p.bias ? newBias : result);
    result = cloneLinalg(b, biasAdd, addInputs,
                         cast<RankedTensorType>(result.getType()),
                         /*zeroFill=*/false);
  }
  for (tensor::ExtractSliceOp slice : slices) {
    b.setInsertionPoint(slice);
    SmallVector<OpFoldResult> offsets = slice.getMixedOffsets();
    offsets[axis] = b.getIndexAttr(newIndex[slice.getStaticOffsets()[axis]]);
    Value narrowed = tensor::ExtractSliceOp::create(
        b, slice.getLoc(), slice.getResultType(), result, offsets,
        slice.getMixedSizes(), slice.getMixedStrides());
    slice.getResult().replaceAllUsesWith(narrowed);
    slice.erase();
  }
}

std::vector<double> mlir::attn::denseDoubles(Attribute attr) {
  std::vector<double> out;
  auto dense = dyn_cast_or_null<DenseElementsAttr>(attr);
  if (!dense)
    return out;
  // f32 and f64 read directly, not through APFloat (the same values; the
  // joint fit's weights, 22M f32 entries on SmolLM2-135M, are read for
  // each probe and the rewrite).
  Type type = dense.getElementType();
  if (type.isF32()) {
    auto values = dense.getValues<float>();
    out.assign(values.begin(), values.end());
    return out;
  }
  if (type.isF64()) {
    auto values = dense.getValues<double>();
    out.assign(values.begin(), values.end());
    return out;
  }
  for (APFloat v : dense.getValues<APFloat>())
    out.push_back(v.convertToDouble());
  return out;
}
