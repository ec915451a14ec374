//===- AttnOps.cpp - attn op verifiers and interfaces ---------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"

namespace {

/// Checks the operand shapes shared by `attn.attention` and `attn.decode`.
/// Every message names the operand and the dimension at fault.
class ShapeChecker {
public:
  explicit ShapeChecker(Operation *op) : op(op) {}

  LogicalResult rank4(StringRef name, Value v, StringRef layout) {
    auto type = cast<ShapedType>(v.getType());
    if (type.getRank() == 4)
      return success();
    return op->emitOpError() << "'" << name << "' must have rank 4 (" << layout
                             << "), got rank " << type.getRank();
  }

  /// `name`'s dimension `dim` must equal `expected` (when both are static).
  LogicalResult dimIs(StringRef name, Value v, unsigned dim, int64_t expected,
                      StringRef what) {
    int64_t actual = cast<ShapedType>(v.getType()).getDimSize(dim);
    if (ShapedType::isDynamic(actual) || ShapedType::isDynamic(expected) ||
        actual == expected)
      return success();
    return op->emitOpError() << "'" << name << "' dimension " << dim << " ("
                             << what << ") is " << actual << ", expected "
                             << expected;
  }

  /// query [B, Hq, Sq, D], key [B, Hkv, L, D], value [B, Hkv, L, Dv] and
  /// init [B, Hq, Sq, Dv] agree, with `length` naming L in messages.
  LogicalResult headShapes(Value q, Value k, Value v, Value o, int64_t qHeads,
                           int64_t kvHeads, StringRef length) {
    auto dim = [](Value x, unsigned d) {
      return cast<ShapedType>(x.getType()).getDimSize(d);
    };
    int64_t b = dim(q, 0), sq = dim(q, 2), d = dim(q, 3);
    int64_t l = dim(k, 2), dv = dim(v, 3);
    return success(
        succeeded(dimIs("query", q, 1, qHeads, "query heads")) &&
        succeeded(dimIs("key", k, 0, b, "batch")) &&
        succeeded(dimIs("key", k, 1, kvHeads, "key/value heads")) &&
        succeeded(dimIs("key", k, 3, d, "head size")) &&
        succeeded(dimIs("value", v, 0, b, "batch")) &&
        succeeded(dimIs("value", v, 1, kvHeads, "key/value heads")) &&
        succeeded(dimIs("value", v, 2, l, length)) &&
        succeeded(dimIs("init", o, 0, b, "batch")) &&
        succeeded(dimIs("init", o, 1, qHeads, "query heads")) &&
        succeeded(dimIs("init", o, 2, sq, "query length")) &&
        succeeded(dimIs("init", o, 3, dv, "value head size")));
  }

  LogicalResult sameElementType(StringRef name, Value v, Value ref) {
    Type a = cast<ShapedType>(v.getType()).getElementType();
    Type b = cast<ShapedType>(ref.getType()).getElementType();
    if (a == b)
      return success();
    return op->emitOpError() << "'" << name << "' element type " << a
                             << " does not match 'query' element type " << b;
  }

  /// The mask broadcasts to [B, Hq, Sq, keyLen] from rank 2, 3 or 4.
  LogicalResult mask(Value mask, ArrayRef<int64_t> full) {
    auto type = cast<ShapedType>(mask.getType());
    int64_t rank = type.getRank();
    if (rank < 2 || rank > 4)
      return op->emitOpError()
             << "'mask' must have rank 2, 3 or 4 (broadcastable to [B, Hq, "
                "Sq, Skv]), got rank "
             << rank;
    static const char *names[] = {"batch", "query heads", "query length",
                                  "key length"};
    for (int64_t d = 0; d < rank; ++d) {
      int64_t fullDim = 4 - rank + d;
      int64_t size = type.getDimSize(d);
      int64_t expected = full[fullDim];
      if (ShapedType::isDynamic(size) || ShapedType::isDynamic(expected) ||
          size == expected || (size == 1 && fullDim != 3))
        continue;
      return op->emitOpError()
             << "'mask' dimension " << d << " (" << names[fullDim] << ") is "
             << size << ", expected " << expected
             << (fullDim != 3 ? " or 1" : "");
    }
    return success();
  }

  /// Tensor operands give results equal to the destinations; memref operands
  /// give none.
  LogicalResult semantics(ValueRange shaped, ValueRange inits,
                          TypeRange results) {
    bool anyTensor = llvm::any_of(
        shaped, [](Value v) { return isa<RankedTensorType>(v.getType()); });
    bool anyMemRef = llvm::any_of(
        shaped, [](Value v) { return isa<MemRefType>(v.getType()); });
    if (anyTensor && anyMemRef)
      return op->emitOpError()
             << "operands must be all tensors or all memrefs, not a mix";
    if (anyMemRef) {
      if (!results.empty())
        return op->emitOpError() << "on memrefs must have no results";
      return success();
    }
    if (results.size() != inits.size())
      return op->emitOpError() << "on tensors must have " << inits.size()
                               << " result(s), one per destination";
    for (auto [i, init, result] : llvm::enumerate(inits, results))
      if (init.getType() != result)
        return op->emitOpError() << "result " << i << " type " << result
                                 << " does not match its destination type "
                                 << init.getType();
    return success();
  }

  /// The head counts, scale and softcap of attn.attention / attn.decode.
  template <typename OpTy>
  LogicalResult attributes(OpTy op) {
    std::optional<double> softcap;
    if (auto attr = op.getSoftcapAttr())
      softcap = attr.getValueAsDouble();
    return attributes(op.getQHeads(), op.getKvHeads(),
                      op.getScale().convertToDouble(), softcap);
  }

  LogicalResult attributes(int64_t qHeads, int64_t kvHeads, double scale,
                           std::optional<double> softcap) {
    if (qHeads <= 0 || kvHeads <= 0)
      return op->emitOpError() << "head counts must be positive, got heads("
                               << qHeads << ", " << kvHeads << ")";
    if (qHeads % kvHeads != 0)
      return op->emitOpError() << "q_heads (" << qHeads
                               << ") must be a multiple of kv_heads ("
                               << kvHeads << ")";
    if (!std::isfinite(scale))
      return op->emitOpError() << "scale must be finite";
    if (softcap && !(*softcap > 0.0 && std::isfinite(*softcap)))
      return op->emitOpError() << "softcap must be positive and finite";
    return success();
  }

  /// `window(left, right)`: both sides given together, each -1 (unbounded)
  /// or a non-negative key count, and at least one side bounded.
  LogicalResult window(IntegerAttr left, IntegerAttr right) {
    if (!left && !right)
      return success();
    if (!left || !right)
      return op->emitOpError()
             << "needs both window_left and window_right, or neither";
    for (auto [name, attr] : {std::pair<StringRef, IntegerAttr>{"left", left},
                              {"right", right}})
      if (attr.getInt() < -1)
        return op->emitOpError()
               << "window " << name << " must be -1 (unbounded) or >= 0, got "
               << attr.getInt();
    if (left.getInt() < 0 && right.getInt() < 0)
      return op->emitOpError() << "window(-1, -1) bounds nothing; drop it";
    return success();
  }

  /// A per-batch-row operand: rank 1 with B elements.
  LogicalResult perRow(StringRef name, Value v, int64_t batch) {
    if (cast<ShapedType>(v.getType()).getRank() != 1)
      return op->emitOpError() << "'" << name << "' must have rank 1 ([B])";
    return dimIs(name, v, 0, batch, "batch");
  }

private:
  Operation *op;
};

int64_t dim(Value v, unsigned d) {
  return cast<ShapedType>(v.getType()).getDimSize(d);
}

/// Declares reads of every shaped input and read+write of every memref
/// destination.
void addEffects(
    ArrayRef<OpOperand *> inputs, MutableOperandRange inits,
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  for (OpOperand *input : inputs)
    if (isa<MemRefType>(input->get().getType()))
      effects.emplace_back(MemoryEffects::Read::get(), input,
                           SideEffects::DefaultResource::get());
  for (OpOperand &init : inits) {
    if (!isa<MemRefType>(init.get().getType()))
      continue;
    effects.emplace_back(MemoryEffects::Read::get(), &init,
                         SideEffects::DefaultResource::get());
    effects.emplace_back(MemoryEffects::Write::get(), &init,
                         SideEffects::DefaultResource::get());
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::verify() {
  ShapeChecker check(*this);
  if (failed(check.attributes(*this)))
    return failure();
  if (IntegerAttr offset = getCausalOffsetAttr(); offset && offset.getInt() < 0)
    return emitOpError() << "causal offset must be non-negative, got "
                         << offset.getInt();
  Value q = getQuery(), k = getKey(), v = getValue(), o = getInit();
  if (failed(check.rank4("query", q, "[B, Hq, Sq, D]")) ||
      failed(check.rank4("key", k, "[B, Hkv, Skv, D]")) ||
      failed(check.rank4("value", v, "[B, Hkv, Skv, Dv]")) ||
      failed(check.rank4("init", o, "[B, Hq, Sq, Dv]")))
    return failure();
  int64_t b = dim(q, 0), sq = dim(q, 2), skv = dim(k, 2);
  if (failed(check.headShapes(q, k, v, o, getQHeads(), getKvHeads(),
                              "key length")))
    return failure();
  if (failed(check.sameElementType("key", k, q)) ||
      failed(check.sameElementType("value", v, q)) ||
      failed(check.sameElementType("init", o, q)))
    return failure();
  if (Value mask = getMask())
    if (failed(check.mask(mask, {b, static_cast<int64_t>(getQHeads()), sq, skv})))
      return failure();
  if (Value lens = getKvSeqLens())
    if (failed(check.perRow("kv_seq_lens", lens, b)))
      return failure();
  if (failed(check.window(getWindowLeftAttr(), getWindowRightAttr())))
    return failure();
  return check.semantics(getOperands(), ValueRange{o}, getResultTypes());
}

void AttentionOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  addEffects(getDpsInputOperands(), getDpsInitsMutable(), effects);
}

//===----------------------------------------------------------------------===//
// DecodeOp
//===----------------------------------------------------------------------===//

/// The rules a block table adds: the page pools agree with each other
/// (num_pages, page_size), the table is [B, max_pages], and the positions are
/// per row.
static LogicalResult verifyPagedCaches(DecodeOp op, ShapeChecker &check,
                                       int64_t batch) {
  Value table = op.getBlockTable(), kc = op.getKeyCache();
  Value vc = op.getValueCache();
  if (!op.getPositions())
    return op.emitOpError() << "with a 'block_table' needs per-row "
                               "'positions' ([B]), not one 'position'";
  if (cast<ShapedType>(table.getType()).getRank() != 2)
    return op.emitOpError() << "'block_table' must have rank 2 ([B, "
                               "max_pages]), got rank "
                            << cast<ShapedType>(table.getType()).getRank();
  if (failed(check.dimIs("block_table", table, 0, batch, "batch")) ||
      failed(check.dimIs("value_cache", vc, 0, dim(kc, 0),
                         "number of pages, as in 'key_cache'")) ||
      failed(check.dimIs("value_cache", vc, 2, dim(kc, 2),
                         "page size, as in 'key_cache'")))
    return failure();
  if (dim(kc, 2) == 0)
    return op.emitOpError() << "page size ('key_cache' dimension 2) must be "
                               "positive";
  return success();
}

int64_t DecodeOp::getCacheCapacity() {
  int64_t length = getKeyCacheType().getDimSize(2);
  if (!isPaged())
    return length;
  int64_t pages = cast<ShapedType>(getBlockTable().getType()).getDimSize(1);
  if (ShapedType::isDynamic(pages) || ShapedType::isDynamic(length))
    return ShapedType::kDynamic;
  return pages * length;
}

/// The caches' element types and scales: both caches of one type; 8-bit
/// caches (int8 / fp8 E4M3) need `cache_scales`, two f32 [B, Hkv] tensors,
/// and float caches take none.
static LogicalResult verifyCacheTypes(DecodeOp op) {
  Type kt = op.getKeyCacheType().getElementType();
  Type vt = op.getValueCacheType().getElementType();
  if (kt != vt)
    return op.emitOpError() << "key_cache and value_cache must have one "
                               "element type, got "
                            << kt << " and " << vt;
  bool quantized = isQuantizedCacheType(kt);
  Value ks = op.getKeyScale(), vs = op.getValueScale();
  if (bool(ks) != bool(vs))
    return op.emitOpError() << "needs both 'key_scale' and 'value_scale' or "
                               "neither";
  if (quantized && !ks)
    return op.emitOpError() << "has " << kt
                            << " caches, which need 'cache_scales' (f32 "
                               "[B, Hkv])";
  if (!quantized && ks)
    return op.emitOpError() << "has " << kt
                            << " caches: 'cache_scales' are only for i8 or "
                               "f8E4M3FN caches";
  if (!ks)
    return success();
  int64_t b = dim(op.getQuery(), 0), h = op.getKvHeads();
  for (auto [name, scale] : {std::pair<StringRef, Value>{"key_scale", ks},
                             {"value_scale", vs}}) {
    auto type = cast<ShapedType>(scale.getType());
    auto fits = [](int64_t have, int64_t want) {
      return ShapedType::isDynamic(have) || ShapedType::isDynamic(want) ||
             have == want;
    };
    if (type.getRank() != 2 || !fits(type.getDimSize(0), b) ||
        !fits(type.getDimSize(1), h))
      return op.emitOpError()
             << "'" << name << "' must be [B, Hkv] = [" << b << ", " << h
             << "] (one scale per batch row and KV head), got " << type;
  }
  return success();
}

/// `tree_mask`: [Sn, Sn] or [B (or 1), Sn, Sn] over the new tokens, which
/// are also the queries (Sq == Sn).
static LogicalResult verifyTreeMask(DecodeOp op, ShapeChecker &check) {
  Value tree = op.getTreeMask();
  auto type = cast<ShapedType>(tree.getType());
  int64_t rank = type.getRank();
  if (rank != 2 && rank != 3)
    return op.emitOpError() << "'tree_mask' must have rank 2 ([Sn, Sn]) or 3 "
                               "([B, Sn, Sn]), got rank "
                            << rank;
  int64_t b = dim(op.getQuery(), 0), sq = dim(op.getQuery(), 2);
  int64_t sn = dim(op.getKey(), 2);
  if (!ShapedType::isDynamic(sq) && !ShapedType::isDynamic(sn) && sq != sn)
    return op.emitOpError() << "with a 'tree_mask' needs one query row per "
                               "new token (Sq == Sn), got Sq = "
                            << sq << " and Sn = " << sn;
  if (rank == 3 && type.getDimSize(0) != 1 &&
      failed(check.dimIs("tree_mask", tree, 0, b, "batch")))
    return failure();
  if (failed(check.dimIs("tree_mask", tree, rank - 2, sn,
                         "new query rows")) ||
      failed(check.dimIs("tree_mask", tree, rank - 1, sn, "new tokens")))
    return failure();
  return success();
}

/// `ring`: the caches hold the last W = Smax positions of a causal window
/// bounded on the left (window(L, 0)); W >= L + Sq keeps every key a query
/// of the step may see in the ring after the append.
static LogicalResult verifyRing(DecodeOp op) {
  if (op.isPaged())
    return op.emitOpError() << "'ring' caches cannot be paged ('block_table')";
  if (op.getMask())
    return op.emitOpError() << "'ring' caches take no 'mask' (it would span "
                               "the unbounded positions); use 'tree_mask' "
                               "over the new tokens";
  if (!op.getCausal())
    return op.emitOpError() << "'ring' caches need 'causal'";
  std::optional<int64_t> left = op.getWindowLeftBound();
  if (!left)
    return op.emitOpError() << "'ring' caches need a window bounded on the "
                               "left, window(L, 0) with L >= 0";
  if (op.getWindowRightAttr().getInt() != 0)
    return op.emitOpError() << "'ring' caches need window(L, 0), got right "
                               "bound "
                            << op.getWindowRightAttr().getInt();
  int64_t w = op.getKeyCacheType().getDimSize(2);
  int64_t sq = op.getQueryType().getDimSize(2);
  if (ShapedType::isDynamic(w) || ShapedType::isDynamic(sq))
    return op.emitOpError() << "'ring' caches need static cache and query "
                               "lengths (to check W >= L + Sq)";
  if (w < *left + sq)
    return op.emitOpError() << "'ring' cache of " << w
                            << " slots is shorter than the window plus the "
                               "queries, L + Sq = "
                            << *left << " + " << sq << " = " << *left + sq;
  return success();
}

// The latent (MLA) form: key_cache [B, 1, Smax, r] is the latent and
// value_cache [B, 1, Smax, rope] the rotary key; key row t is
// [latent[t], rope[t]] and value row t is latent[t]. Checked instead of the
// plain key/value shape rules, which assume one cache per side.
static LogicalResult verifyLatent(DecodeOp op, ShapeChecker &check) {
  int64_t r = op.getLatentAttr().getInt();
  if (r <= 0)
    return op.emitOpError() << "'latent' rank must be positive, got " << r;
  if (op.getKvHeads() != 1)
    return op.emitOpError() << "'latent' caches are shared by every query "
                               "head: needs one key/value head, got "
                            << op.getKvHeads();
  if (op.isPaged() || op.getKeyScale() || op.isRing() || op.getTreeMask())
    return op.emitOpError() << "'latent' caches are not supported with "
                               "paged, 8-bit or ring caches or a tree mask";
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  Value o = op.getInit(), kc = op.getKeyCache(), vc = op.getValueCache();
  int64_t b = dim(q, 0), sq = dim(q, 2), sn = dim(k, 2);
  int64_t rope = dim(vc, 3);
  if (failed(check.dimIs("key_cache", kc, 3, r, "latent rank")) ||
      failed(check.dimIs("key", k, 3, r, "latent rank")))
    return failure();
  if (!ShapedType::isDynamic(rope) && !ShapedType::isDynamic(dim(q, 3)) &&
      dim(q, 3) != r + rope)
    return op.emitOpError() << "'latent' query's head size must be the "
                               "latent rank plus the rotary size, "
                            << r << " + " << rope << " = " << r + rope
                            << ", got " << dim(q, 3);
  int64_t smax = dim(kc, 2);
  if (failed(check.dimIs("query", q, 1, op.getQHeads(), "query heads")) ||
      failed(check.dimIs("key", k, 0, b, "batch")) ||
      failed(check.dimIs("key", k, 1, 1, "key/value heads")) ||
      failed(check.dimIs("value", v, 0, b, "batch")) ||
      failed(check.dimIs("value", v, 1, 1, "key/value heads")) ||
      failed(check.dimIs("value", v, 2, sn, "new key count")) ||
      failed(check.dimIs("value", v, 3, rope, "rotary size")) ||
      failed(check.dimIs("init", o, 0, b, "batch")) ||
      failed(check.dimIs("init", o, 1, op.getQHeads(), "query heads")) ||
      failed(check.dimIs("init", o, 2, sq, "query length")) ||
      failed(check.dimIs("init", o, 3, r, "latent rank")) ||
      failed(check.dimIs("key_cache", kc, 0, b, "batch")) ||
      failed(check.dimIs("key_cache", kc, 1, 1, "key/value heads")) ||
      failed(check.dimIs("value_cache", vc, 0, b, "batch")) ||
      failed(check.dimIs("value_cache", vc, 1, 1, "key/value heads")) ||
      failed(check.dimIs("value_cache", vc, 2, smax, "cache length")))
    return failure();
  return success();
}

LogicalResult DecodeOp::verify() {
  ShapeChecker check(*this);
  if (failed(check.attributes(*this)))
    return failure();
  Value q = getQuery(), k = getKey(), v = getValue(), o = getInit();
  Value kc = getKeyCache(), vc = getValueCache();
  if (failed(check.rank4("query", q, "[B, Hq, Sq, D]")) ||
      failed(check.rank4("key", k, "[B, Hkv, Sn, D]")) ||
      failed(check.rank4("value", v, "[B, Hkv, Sn, Dv]")) ||
      failed(check.rank4("init", o, "[B, Hq, Sq, Dv]")) ||
      failed(check.rank4("key_cache", kc,
                         isPaged() ? "[num_pages, Hkv, page_size, D]"
                                   : "[B, Hkv, Smax, D]")) ||
      failed(check.rank4("value_cache", vc,
                         isPaged() ? "[num_pages, Hkv, page_size, Dv]"
                                   : "[B, Hkv, Smax, Dv]")))
    return failure();
  int64_t b = dim(q, 0), sq = dim(q, 2), d = dim(q, 3);
  int64_t sn = dim(k, 2), dv = dim(v, 3);
  if (isLatent() && failed(verifyLatent(*this, check)))
    return failure();
  if (isPaged() && failed(verifyPagedCaches(*this, check, b)))
    return failure();
  int64_t smax = getCacheCapacity();
  if (!isLatent() &&
      (failed(check.headShapes(q, k, v, o, getQHeads(), getKvHeads(),
                               "new key count")) ||
      failed(check.dimIs("key_cache", kc, 1, getKvHeads(), "key/value heads")) ||
      failed(check.dimIs("key_cache", kc, 3, d, "head size")) ||
      failed(check.dimIs("value_cache", vc, 1, getKvHeads(),
                         "key/value heads")) ||
      failed(check.dimIs("value_cache", vc, 3, dv, "value head size"))))
    return failure();
  if (!isPaged() && !isLatent() &&
      (failed(check.dimIs("key_cache", kc, 0, b, "batch")) ||
       failed(check.dimIs("value_cache", vc, 0, b, "batch")) ||
       failed(check.dimIs("value_cache", vc, 2, smax, "cache length"))))
    return failure();
  if (!ShapedType::isDynamic(sn) && !ShapedType::isDynamic(smax) && sn > smax)
    return emitOpError() << "'key' appends " << sn
                         << " positions, more than the cache holds (" << smax
                         << ")";
  for (auto [name, val] :
       {std::pair<StringRef, Value>{"key", k}, {"value", v}, {"init", o}})
    if (failed(check.sameElementType(name, val, q)))
      return failure();
  if (failed(verifyCacheTypes(*this)))
    return failure();
  // The paged append and reads do not quantise yet.
  if (isPaged() && getKeyScale())
    return emitOpError() << "8-bit caches are not supported with a "
                            "'block_table' yet";
  if (Value mask = getMask())
    if (failed(check.mask(mask, {b, static_cast<int64_t>(getQHeads()), sq, smax})))
      return failure();
  if (bool(getPosition()) == bool(getPositions()))
    return emitOpError() << "needs exactly one of 'position' (one index for "
                            "the batch) and 'positions' ([B], one per row)";
  if (Value positions = getPositions())
    if (failed(check.perRow("positions", positions, b)))
      return failure();
  if (failed(check.window(getWindowLeftAttr(), getWindowRightAttr())))
    return failure();
  if (getTreeMask() && failed(verifyTreeMask(*this, check)))
    return failure();
  if (isRing() && failed(verifyRing(*this)))
    return failure();
  return check.semantics(getOperands(), getDpsInits(),
                         getResultTypes());
}

void DecodeOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  addEffects(getDpsInputOperands(), getDpsInitsMutable(), effects);
}
