//===- AttentionOps.cpp - ONNX Attention and ORT's attention ops ----------===//
//
// ONNX `Attention` (opsets 23-25) and com.microsoft `GroupQueryAttention` /
// `MultiHeadAttention` become `attn.attention` over [B, H, S, D] tensors,
// with the head split/merge of 3-D inputs, KV-cache concatenation and mask
// padding around it. Query and KV head counts stay explicit: K and V are
// never repeated per query head.
//
//===----------------------------------------------------------------------===//

#include "AttentionBuilder.h"
#include "ImportContext.h"
#include "LinalgBuilders.h"
#include "ShapeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn::onnx_import;

namespace {

/// Makes an attention mask the op accepts: rank 2-4, last dim padded to
/// `total` (with -inf or false, as ONNX's reference pads it), float masks in
/// the query's type, broadcastable to [B, Hq, Sq, total].
FailureOr<Value> prepareMask(NodeContext &ctx, unsigned input,
                             ArrayRef<int64_t> target, Type queryType) {
  const ImportedValue *m = ctx.input(input);
  if (!m)
    return Value();
  OpBuilder &b = ctx.builder();
  Location loc = ctx.loc;
  bool isBool = m->dtype == DType::Bool;
  if (!isBool && !isFloat(m->dtype))
    return ctx.emitError() << "needs a bool or float attn_mask, not "
                           << dtypeName(m->dtype);
  if (m->rank() < 1 || m->rank() > 4)
    return ctx.emitError() << "attn_mask has shape " << formatShape(m->shape)
                           << "; it must have rank 2, 3 or 4";
  Value mask = ctx.value(input);
  if (!isBool)
    mask = buildCast(b, loc, mask, queryType);
  SmallVector<int64_t> shape(m->shape);
  if (shape.size() == 1) {
    shape.insert(shape.begin(), 1);
    mask = buildReshape(b, loc, mask, shape);
  }
  int64_t total = target.back();
  if (shape.back() > total)
    return ctx.emitError() << "attn_mask has shape " << formatShape(m->shape)
                           << ", longer than the " << total
                           << " keys (past + new) in its last dimension";
  if (shape.back() < total) {
    SmallVector<int64_t> padShape(shape);
    padShape.back() = total - shape.back();
    double padValue = isBool ? 0.0 : -std::numeric_limits<double>::infinity();
    Value pad = filledTensor(b, loc, padShape, elementTypeOf(mask), padValue);
    mask = tensor::ConcatOp::create(b, loc, shape.size() - 1,
                                    ValueRange{mask, pad});
    shape.back() = total;
  }
  static const char *names[] = {"batch", "query heads", "query length"};
  for (size_t i = 0; i + 1 < shape.size(); ++i) {
    int64_t t = target[target.size() - shape.size() + i];
    if (shape[i] != 1 && shape[i] != t)
      return ctx.emitError()
             << "attn_mask of shape " << formatShape(m->shape)
             << " does not broadcast to [batch, query heads, query length, "
                "keys] = "
             << formatShape(target) << " (" << names[4 - shape.size() + i]
             << ")";
  }
  return mask;
}

/// Where query rows stand and which keys they see, for the rules that the
/// op's causal and window attributes cannot state: row i of batch b stands
/// at p = i + lens[b] - Sq with an external cache (`lens` set; ONNX opset
/// 24's per-batch frontier) or at p = i + `offset`; key j is kept iff
/// j <= p (`causal`), p - left <= j (`left`) and j <= p + right (`right`).
struct PositionRule {
  Value lens;
  int64_t offset = 0;
  bool causal = false;
  std::optional<int64_t> left, right;
};

/// `rule` as a mask over [B, 1 or the user mask's heads, Sq, T], intersected
/// with `userMask` (bool: and; float: -inf where the rule masks). `target`
/// is [B, Hq, Sq, T].
Value buildPositionMask(OpBuilder &b, Location loc, const PositionRule &rule,
                        Value userMask, ArrayRef<int64_t> target) {
  int64_t batch = target[0], sq = target[2], total = target[3];
  SmallVector<int64_t> shape = {batch, 1, sq, total};
  SmallVector<Value> inputs;
  if (rule.lens)
    inputs.push_back(buildReshape(b, loc, rule.lens, {batch, 1, 1, 1}));
  Type resultType = b.getI1Type();
  if (userMask) {
    ArrayRef<int64_t> m = shapeOf(userMask);
    // Broadcast the head dim of the user's mask into the result.
    if (m.size() >= 3 && m[m.size() - 3] != 1)
      shape[1] = m[m.size() - 3];
    inputs.push_back(userMask);
    resultType = elementTypeOf(userMask);
  }
  bool floatMask = !resultType.isInteger(1);
  return buildIndexedElementwise(
      b, loc, inputs, shape, resultType,
      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        unsigned n = inputs.size();
        Value i = args[n + 2], j = args[n + 3];
        auto constant = [&](int64_t c) {
          return arith::ConstantIndexOp::create(nb, l, c).getResult();
        };
        auto add = [&](Value x, Value y) {
          return arith::AddIOp::create(nb, l, x, y).getResult();
        };
        auto atMost = [&](Value x, Value y) {
          return arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sle, x, y)
              .getResult();
        };
        // Compared shifted by Sq so that nothing is negative: P = p + Sq.
        Value at = add(i, constant(sq + rule.offset));
        if (rule.lens)
          at = add(add(i, arith::IndexCastOp::create(nb, l, nb.getIndexType(),
                                                     args[0])),
                   constant(rule.offset));
        Value key = add(j, constant(sq));
        Value keep;
        auto both = [&](Value c) {
          keep = keep ? arith::AndIOp::create(nb, l, keep, c).getResult() : c;
        };
        if (rule.causal)
          both(atMost(key, at));
        if (rule.left)
          both(atMost(at, add(key, constant(*rule.left))));
        if (rule.right)
          both(atMost(key, add(at, constant(*rule.right))));
        if (!keep)
          keep = arith::ConstantIntOp::create(nb, l, 1, 1);
        if (!userMask)
          return keep;
        Value user = args[rule.lens ? 1 : 0];
        if (!floatMask)
          return arith::AndIOp::create(nb, l, keep, user);
        Value ninf = scalarConstant(nb, l, resultType,
                                    -std::numeric_limits<double>::infinity());
        return arith::SelectOp::create(nb, l, keep, user, ninf);
      });
}

/// ONNX Attention: Y through attn.attention, the KV cache outputs, and the
/// optional qk_matmul_output from materialised scores.
LogicalResult importOnnxAttention(NodeContext &ctx) {
  if (failed(ctx.checkArity(3, 7)))
    return failure();
  const ImportedValue *qIn = ctx.input(0), *kIn = ctx.input(1),
                      *vIn = ctx.input(2);
  DType dtype = qIn->dtype;
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    return ctx.emitError() << "supports float32, float16 and bfloat16, not "
                           << dtypeName(dtype);
  if (kIn->dtype != dtype || vIn->dtype != dtype)
    return ctx.emitError() << "needs Q, K and V of one type; got "
                           << dtypeName(dtype) << ", " << dtypeName(kIn->dtype)
                           << ", " << dtypeName(vIn->dtype);
  int64_t rank = qIn->rank();
  if ((rank != 3 && rank != 4) || kIn->rank() != rank || vIn->rank() != rank)
    return ctx.emitError() << "needs Q, K and V all 3-D or all 4-D; got "
                           << formatShape(qIn->shape) << ", "
                           << formatShape(kIn->shape) << ", "
                           << formatShape(vIn->shape);
  OpBuilder &b = ctx.builder();
  Location loc = ctx.loc;
  std::optional<int64_t> qHeadsAttr = ctx.attrInt("q_num_heads"),
                         kvHeadsAttr = ctx.attrInt("kv_num_heads");
  int64_t batch = qIn->shape[0];
  Value q = ctx.value(0), k = ctx.value(1), v = ctx.value(2);
  int64_t qHeads, kvHeads;
  if (rank == 3) {
    if (!qHeadsAttr || !kvHeadsAttr)
      return ctx.emitError()
             << "needs q_num_heads and kv_num_heads for 3-D inputs";
    qHeads = *qHeadsAttr;
    kvHeads = *kvHeadsAttr;
    if (qHeads <= 0 || kvHeads <= 0)
      return ctx.emitError() << "has non-positive head counts";
    auto checkSplit = [&](StringRef name, const ImportedValue *x, int64_t heads,
                          StringRef attr) -> LogicalResult {
      if (x->shape[2] % heads != 0)
        return ctx.emitError()
               << attr << " = " << heads << " does not divide the hidden size "
               << x->shape[2] << " of " << name;
      return success();
    };
    if (failed(checkSplit("Q", qIn, qHeads, "q_num_heads")) ||
        failed(checkSplit("K", kIn, kvHeads, "kv_num_heads")) ||
        failed(checkSplit("V", vIn, kvHeads, "kv_num_heads")))
      return failure();
    q = splitHeads(b, loc, q, qHeads);
    k = splitHeads(b, loc, k, kvHeads);
    v = splitHeads(b, loc, v, kvHeads);
  } else {
    qHeads = qIn->shape[1];
    kvHeads = kIn->shape[1];
    if (qHeadsAttr && *qHeadsAttr != qHeads)
      return ctx.emitError() << "has q_num_heads = " << *qHeadsAttr
                             << " but Q has " << qHeads << " heads";
    if (kvHeadsAttr && *kvHeadsAttr != kvHeads)
      return ctx.emitError() << "has kv_num_heads = " << *kvHeadsAttr
                             << " but K has " << kvHeads << " heads";
  }
  ArrayRef<int64_t> qs = shapeOf(q), ks = shapeOf(k);
  int64_t sq = qs[2], headDim = qs[3], skv = ks[2];
  static const StringRef dimNames[] = {"batch", "heads", "sequence length",
                                       "head size"};
  if (kvHeads == 0 || qHeads % kvHeads != 0)
    return ctx.emitError() << "has " << qHeads << " query heads and " << kvHeads
                           << " key/value heads; the query heads must be a "
                              "multiple of the key/value heads";
  if (failed(
          expectShape(ctx, "K", ks, {batch, kvHeads, -1, headDim}, dimNames)) ||
      failed(expectShape(ctx, "V", shapeOf(v), {batch, kvHeads, skv, -1},
                         dimNames)))
    return failure();
  int64_t vHeadDim = shapeOf(v)[3];

  // KV cache: present = concat(past, new) on the sequence dimension.
  int64_t past = 0;
  if (ctx.hasInput(4) != ctx.hasInput(5))
    return ctx.emitError() << "needs both past_key and past_value, or neither";
  if (ctx.hasInput(4)) {
    const ImportedValue *pk = ctx.input(4), *pv = ctx.input(5);
    if (pk->dtype != dtype || pv->dtype != dtype)
      return ctx.emitError()
             << "needs past_key/past_value of type " << dtypeName(dtype);
    FailureOr<int64_t> prepended = prependPast(
        ctx, b, loc, 4, batch, kvHeads, headDim, vHeadDim, dimNames, k, v);
    if (failed(prepended))
      return failure();
    past = *prepended;
  }
  int64_t total = past + skv;

  AttentionSpec spec;
  spec.query = q;
  spec.key = k;
  spec.value = v;
  spec.qHeads = qHeads;
  spec.kvHeads = kvHeads;
  // Exporters hand GQA to Attention after repeat_kv (Expand + Reshape of
  // the KV heads); reading the KV heads before the copy keeps the true head
  // count in the op and K/V unreplicated.
  if (past == 0) {
    auto peeledK = peelRepeatKV(b, loc, k), peeledV = peelRepeatKV(b, loc, v);
    if (peeledK && peeledV && peeledK->second == peeledV->second &&
        kvHeads % peeledK->second == 0) {
      spec.key = peeledK->first;
      spec.value = peeledV->first;
      spec.kvHeads = kvHeads / peeledK->second;
    }
  }
  std::optional<float> scale = ctx.attrFloat("scale");
  spec.scale = scale ? double(*scale) : 1.0 / std::sqrt(double(headDim));
  if (ctx.attrInt("is_causal", 0))
    spec.causalOffset = past;
  spec.softcap = ctx.attrFloat("softcap", 0.0f);
  FailureOr<Value> mask =
      prepareMask(ctx, 3, {batch, qHeads, sq, total}, elementTypeOf(q));
  if (failed(mask))
    return failure();
  spec.mask = *mask;
  if (ctx.hasInput(6)) {
    const ImportedValue *lens = ctx.input(6);
    if (lens->dtype != DType::I64 && lens->dtype != DType::I32)
      return ctx.emitError() << "needs an int64 nonpad_kv_seqlen, not "
                             << dtypeName(lens->dtype);
    if (failed(expectShape(ctx, "nonpad_kv_seqlen", lens->shape, {batch},
                           dimNames)))
      return failure();
    spec.kvLens = ctx.value(6);
  }

  // Opset 25 windows (onnx/onnx#8108): the query at p = offset + i sees
  // keys [p - left_window_size, p + right_window_size], -1 unbounded.
  int64_t left = ctx.attrInt("left_window_size", -1);
  int64_t right = ctx.attrInt("right_window_size", -1);
  if (left < -1 || right < -1)
    return ctx.emitError() << "has left_window_size " << left
                           << " and right_window_size " << right
                           << "; each must be -1 (unbounded) or >= 0";
  PositionRule rule;
  if (left >= 0)
    rule.left = left;
  if (right >= 0)
    rule.right = right;
  bool window = rule.left || rule.right;

  // The offset is the past length (or 0), and attn's causal(N) and
  // window(left, right) state it. An external cache (nonpad_kv_seqlen
  // without past_key, ONNX opset 24, onnx/onnx#8068) moves it per batch to
  // nonpad_kv_seqlen[b] - Sq, which one static offset cannot say: the
  // frontier and the window become part of the mask. So does a non-causal
  // window whose left side ends before the past (attn's window stands at i
  // without causal, so a past shifts the bounds to left - past, right + past,
  // and left - past must not be negative).
  if (spec.kvLens && !ctx.hasInput(4) && (spec.causalOffset || window)) {
    rule.lens = spec.kvLens;
    rule.causal = spec.causalOffset.has_value();
    spec.mask =
        buildPositionMask(b, loc, rule, spec.mask, {batch, qHeads, sq, total});
    spec.causalOffset.reset();
  } else if (window && !spec.causalOffset && past > 0) {
    if (rule.left && *rule.left < past) {
      rule.offset = past;
      spec.mask = buildPositionMask(b, loc, rule, spec.mask,
                                    {batch, qHeads, sq, total});
    } else {
      if (rule.left)
        spec.windowLeft = *rule.left - past;
      if (rule.right)
        spec.windowRight = *rule.right + past;
    }
  } else {
    spec.windowLeft = rule.left;
    spec.windowRight = rule.right;
  }

  int64_t mode = ctx.attrInt("qk_matmul_output_mode", 0);
  if (mode < 0 || mode > 3)
    return ctx.emitError() << "has an unknown qk_matmul_output_mode " << mode;
  // softmax_precision can only ask for more precision than the inputs have:
  // the op and the decomposed scores compute the softmax in f32 already.

  // Softcap comes before the mask, in the op and in ONNX since
  // onnx/onnx#7867 (the reference of onnx <= 1.20 added the mask first,
  // which let masked keys through at -softcap), so Y is always the op.
  Value y = buildAttentionOp(b, loc, spec, "onnx-attention");
  if (rank == 3)
    y = mergeHeads(b, loc, y);
  ctx.setOutput(0, y, dtype);
  ctx.setOutput(1, k, dtype);
  ctx.setOutput(2, v, dtype);
  if (ctx.hasOutput(3)) {
    // The scores only exist when asked for. Modes follow the computation
    // order (onnx/onnx#7913): 0 Q K^T * scale, 1 after softcap, 2 after the
    // mask, 3 after softmax.
    DecomposedAttention scores = buildDecomposedAttention(b, loc, spec);
    Value qk = mode == 0   ? scores.scaled
               : mode == 1 ? scores.capped
               : mode == 2 ? scores.biased
                           : scores.weights;
    ctx.setOutput(3, buildCast(b, loc, qk, elementTypeOf(q)), dtype);
  }
  return success();
}

} // namespace

void mlir::attn::onnx_import::registerAttentionOps(OpRegistry &registry) {
  registry.add("", "Attention", importOnnxAttention);
}
