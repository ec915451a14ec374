//===- TransposeMatVecWeights.cpp - constant weights in the kernels' layout ===//
//
// A projection x[M, K] x W with a constant W is stored in the layout that
// convert-contraction-to-vectors' kernel for its rows reads best:
// - few rows (a decode step; dot-rows): [N, K], each output element a dot
//   product over one contiguous row of W^T, which the dot-product form reads
//   as one long stream with the activations in L1 (DotMatVec.cpp says why
//   that beats streaming rows of W into partial outputs on AMD Zen 4);
// - many rows (a prefill; blocked-rows): [K, N], which the tiled kernel
//   reads in row blocks; an exported [N, K] weight (ONNX Gemm with transB)
//   otherwise has no vector kernel with that many rows.
// The transpose is done once, here, on the constant's bytes.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/WideningCopy.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/PatternMatch.h"

#include <cstring>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTRANSPOSEMATVECWEIGHTS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Constants of at least this many bytes become `dense_resource` blobs (as
/// the ONNX importer makes them); smaller ones stay `dense`.
constexpr size_t kResourceMinBytes = 4096;

bool isWeightFloat(Type t) { return t.isF32() || t.isF16() || t.isBF16(); }

/// The position of the loop `e` is, or -1.
int64_t dimOf(AffineExpr e) {
  auto d = dyn_cast<AffineDimExpr>(e);
  return d ? int64_t(d.getPosition()) : -1;
}

/// The layouts a contraction's 2-D weights can be read in.
enum class Layout { KN, NK };

/// What the pass needs to know of a contraction reading `operand` as its
/// 2-D weights: one n and one k loop, static ranges, the other input a
/// projected permutation not reading n, every other loop a row loop (read
/// by that input and the output).
struct WeightRead {
  Layout layout;     ///< (k, n) or (n, k)
  int64_t rows;      ///< the product of the row loops
  bool lhsKInnermost; ///< the other input's innermost index is k
  bool outNInnermost; ///< the output's innermost index is n
};

std::optional<WeightRead> weightRead(OpOperand &operand) {
  auto op = dyn_cast<linalg::LinalgOp>(operand.getOwner());
  if (!op || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !op.isDpsInput(&operand) || !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->n.size() != 1 || dims->k.size() != 1)
    return std::nullopt;
  int64_t n = dims->n[0], k = dims->k[0];
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return std::nullopt;
  AffineMap weights = op.getMatchingIndexingMap(&operand);
  if (weights.getNumResults() != 2)
    return std::nullopt;
  int64_t first = dimOf(weights.getResult(0)),
          second = dimOf(weights.getResult(1));
  WeightRead read;
  if (first == k && second == n)
    read.layout = Layout::KN;
  else if (first == n && second == k)
    read.layout = Layout::NK;
  else
    return std::nullopt;
  OpOperand *lhs = op.getDpsInputOperand(operand.getOperandNumber() == 0);
  AffineMap lhsMap = op.getMatchingIndexingMap(lhs);
  AffineMap outMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  if (!lhsMap.isProjectedPermutation() || lhsMap.getNumResults() == 0 ||
      lhsMap.isFunctionOfDim(n) || !outMap.isProjectedPermutation() ||
      outMap.getNumResults() == 0)
    return std::nullopt;
  read.lhsKInnermost = dimOf(lhsMap.getResults().back()) == k;
  read.outNInnermost = dimOf(outMap.getResults().back()) == n;
  read.rows = 1;
  for (auto [l, range] : llvm::enumerate(ranges)) {
    if (int64_t(l) == n || int64_t(l) == k)
      continue;
    if (!lhsMap.isFunctionOfDim(l) || !outMap.isFunctionOfDim(l))
      return std::nullopt;
    read.rows *= range;
  }
  return read;
}

/// The layout a read wants: [N, K] for at most `dotRows` rows with the
/// activations contiguous along k (the dot-product form); [K, N] for at
/// least `blockedRows` rows with the output contiguous along n (the
/// tiled kernel's row blocks); none otherwise.
std::optional<Layout> wantedLayout(const WeightRead &read, int64_t dotRows,
                                   int64_t blockedRows) {
  if (dotRows > 0 && read.rows <= dotRows && read.lhsKInnermost)
    return Layout::NK;
  if (blockedRows > 0 && read.rows >= blockedRows && read.outNInnermost)
    return Layout::KN;
  return std::nullopt;
}

/// An operand of an op (kept by number: generalising a named op replaces
/// it).
struct Use {
  Operation *op;
  unsigned operand;
};

/// The uses of a weight constant the pass rewrites: contractions reading it
/// directly, and widening copies of it whose every use is one.
struct WeightUses {
  SmallVector<Use> direct;
  SmallVector<linalg::GenericOp> widenings;
};

/// The uses of `constant`, if every one is a contraction (directly or
/// through a widening copy) that wants the other layout than it reads.
/// Each use's map is swapped on its own, so a (square) weight that two
/// contractions read opposite ways is flipped for both.
std::optional<WeightUses> collectUses(arith::ConstantOp constant,
                                      int64_t dotRows, int64_t blockedRows) {
  auto wantsFlip = [&](OpOperand &use) {
    std::optional<WeightRead> read = weightRead(use);
    std::optional<Layout> wanted =
        read ? wantedLayout(*read, dotRows, blockedRows) : std::nullopt;
    return wanted && *wanted != read->layout;
  };
  WeightUses uses;
  for (OpOperand &use : constant->getUses()) {
    if (wantsFlip(use)) {
      uses.direct.push_back({use.getOwner(), use.getOperandNumber()});
      continue;
    }
    auto copy = dyn_cast<linalg::GenericOp>(use.getOwner());
    if (!copy || !isWideningCopy(copy) || !copy.isDpsInput(&use) ||
        copy->getResult(0).use_empty() ||
        !llvm::all_of(copy->getResult(0).getUses(), wantsFlip))
      return std::nullopt;
    uses.widenings.push_back(copy);
  }
  if (uses.direct.empty() && uses.widenings.empty())
    return std::nullopt;
  return uses;
}

/// The row-major bytes of `value` ([rows, cols] of `elementBytes` each),
/// or none (a blob already released, a splat).
std::optional<ArrayRef<char>> rawBytes(ElementsAttr value) {
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    return blob->getData();
  }
  auto dense = dyn_cast<DenseElementsAttr>(value);
  if (!dense || dense.isSplat())
    return std::nullopt;
  return dense.getRawData();
}

/// `value` ([K, N]) transposed into an attribute of `type` ([N, K]).
ElementsAttr transposed(ElementsAttr value, ArrayRef<char> bytes,
                        RankedTensorType type) {
  int64_t rows = value.getShapedType().getDimSize(0);
  int64_t cols = value.getShapedType().getDimSize(1);
  size_t width = type.getElementTypeBitWidth() / 8;
  size_t size = size_t(rows * cols) * width;
  AsmResourceBlob blob = HeapAsmResourceBlob::allocate(size, width);
  MutableArrayRef<char> out = blob.getMutableData();
  // Blocks of 32 x 32 elements: both sides stay in cache lines.
  constexpr int64_t kBlock = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock)
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock)
      for (int64_t r = r0; r < std::min(rows, r0 + kBlock); ++r)
        for (int64_t c = c0; c < std::min(cols, c0 + kBlock); ++c)
          std::memcpy(out.data() + (c * rows + r) * width,
                      bytes.data() + (r * cols + c) * width, width);
  if (size < kResourceMinBytes)
    return DenseElementsAttr::getFromRawBuffer(type, blob.getData());
  std::string key = "transposed";
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value))
    key = (resource.getRawHandle().getKey() + "_t").str();
  return DenseResourceElementsAttr::get(type, key, std::move(blob));
}

/// Has the contraction `use` names read `weights` (the transpose of that
/// operand's value) through its map with the two results swapped; a named
/// op (linalg.matmul) is generalised first.
void readTransposed(RewriterBase &rewriter, Use use, Value weights) {
  auto generic = dyn_cast<linalg::GenericOp>(use.op);
  if (!generic) {
    rewriter.setInsertionPoint(use.op);
    FailureOr<linalg::GenericOp> general =
        linalg::generalizeNamedOp(rewriter, cast<linalg::LinalgOp>(use.op));
    assert(succeeded(general) && "a named contraction generalises");
    generic = *general;
  }
  OpOperand &operand = generic->getOpOperand(use.operand);
  AffineMap old = generic.getMatchingIndexingMap(&operand);
  AffineMap map = AffineMap::get(old.getNumDims(), 0,
                                 {old.getResult(1), old.getResult(0)},
                                 rewriter.getContext());
  SmallVector<Attribute> maps(generic.getIndexingMaps().getValue());
  maps[use.operand] = AffineMapAttr::get(map);
  rewriter.modifyOpInPlace(generic, [&] {
    operand.set(weights);
    generic.setIndexingMapsAttr(rewriter.getArrayAttr(maps));
  });
}

/// A widening copy of `source` ([N, K]) into f32, like `like`.
Value widen(RewriterBase &rewriter, linalg::GenericOp like, Value source) {
  auto type = cast<RankedTensorType>(source.getType());
  Type wide = cast<RankedTensorType>(like->getResult(0).getType())
                  .getElementType();
  Location loc = like.getLoc();
  Value init =
      tensor::EmptyOp::create(rewriter, loc, type.getShape(), wide);
  AffineMap identity = rewriter.getMultiDimIdentityMap(2);
  auto copy = linalg::GenericOp::create(
      rewriter, loc, TypeRange{init.getType()}, ValueRange{source},
      ValueRange{init}, ArrayRef<AffineMap>{identity, identity},
      SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
      [&](OpBuilder &b, Location l, ValueRange args) {
        linalg::YieldOp::create(
            b, l, ValueRange{arith::ExtFOp::create(b, l, wide, args[0])});
      });
  return copy->getResult(0);
}

/// How many attributes of `module`'s operations refer to each blob.
llvm::DenseMap<DialectResourceBlobManager::BlobEntry *, int64_t>
countBlobReferences(ModuleOp module) {
  llvm::DenseMap<DialectResourceBlobManager::BlobEntry *, int64_t> counts;
  module->walk([&](Operation *op) {
    op->getAttrDictionary().walk([&](DenseResourceElementsAttr value) {
      ++counts[value.getRawHandle().getResource()];
    });
  });
  return counts;
}

struct AttnTransposeMatVecWeightsPass
    : attn::impl::AttnTransposeMatVecWeightsBase<
          AttnTransposeMatVecWeightsPass> {
  using Base::Base;
  void runOnOperation() override {
    if (dotRows < 1 && blockedRows < 1)
      return;
    SmallVector<arith::ConstantOp> constants;
    getOperation().walk([&](arith::ConstantOp c) {
      auto type = dyn_cast<RankedTensorType>(c.getType());
      if (type && type.getRank() == 2 && type.hasStaticShape() &&
          isWeightFloat(type.getElementType()) &&
          isa<ElementsAttr>(c.getValue()))
        constants.push_back(c);
    });
    IRRewriter rewriter(&getContext());
    // With release-replaced, a replaced constant's blob is freed as soon as
    // nothing else refers to it (a blob another constant shares keeps its
    // data), so the original weights and their transposed copies are not
    // all in memory at once. Blobs are the context's: only for a module that
    // shares them with no other. SmolLM2-135M's decode step on Zen 4: peak
    // compile RSS 1.30 -> 0.78 GB, what it is with no transposes (freeing
    // the blobs only at the end of the pass gave 1.18 GB).
    llvm::DenseMap<DialectResourceBlobManager::BlobEntry *, int64_t>
        references;
    if (releaseReplaced)
      references = countBlobReferences(getOperation());
    for (arith::ConstantOp constant : constants) {
      std::optional<WeightUses> uses =
          collectUses(constant, dotRows, blockedRows);
      if (!uses)
        continue;
      auto value = cast<ElementsAttr>(constant.getValue());
      std::optional<ArrayRef<char>> bytes = rawBytes(value);
      if (!bytes)
        continue;
      auto type = cast<RankedTensorType>(constant.getType());
      auto flipped = RankedTensorType::get(
          {type.getDimSize(1), type.getDimSize(0)}, type.getElementType());
      rewriter.setInsertionPoint(constant);
      Value weights = arith::ConstantOp::create(
          rewriter, constant.getLoc(), flipped,
          transposed(value, *bytes, flipped));
      for (Use use : uses->direct)
        readTransposed(rewriter, use, weights);
      for (linalg::GenericOp copy : uses->widenings) {
        rewriter.setInsertionPoint(copy);
        Value wide = widen(rewriter, copy, weights);
        SmallVector<Use> readers;
        for (OpOperand &use : copy->getResult(0).getUses())
          readers.push_back({use.getOwner(), use.getOperandNumber()});
        for (Use use : readers)
          readTransposed(rewriter, use, wide);
        rewriter.eraseOp(copy);
      }
      rewriter.eraseOp(constant);
      auto resource = dyn_cast<DenseResourceElementsAttr>(value);
      if (releaseReplaced && resource) {
        DialectResourceBlobManager::BlobEntry *blob =
            resource.getRawHandle().getResource();
        if (--references[blob] == 0)
          blob->setBlob(AsmResourceBlob());
      }
    }
  }
};

} // namespace
