//===- MicrosoftAttentionOps.cpp - ORT's GroupQueryAttention and MHA ------===//
//
// The documented core of ONNX Runtime's com.microsoft GroupQueryAttention
// and MultiHeadAttention, as attn.attention with explicit query/KV head
// counts:
//
//  * GroupQueryAttention: separate or packed QKV, a BNSH KV cache written at
//    each sequence's position (seqlens_k), causal masking from that
//    position, local windows, softcap, attention_bias and rotary embedding.
//    A prompt becomes attn.attention with per-row key lengths; decode and
//    chunks after a past become attn.decode with per-row positions
//    (seqlens_k + 1 - S), local_window_size W becomes window(W - 1, 0).
//    smooth_softmax, head_sink and output_qk are not supported.
//  * MultiHeadAttention: 3-D or BNSH keys/values, packed QKV/KV, the bias
//    input, key_padding_mask (lengths or [B, T] with mask_filter_value),
//    attention_bias, past/present and unidirectional. past_sequence_length,
//    cache_indirection and the qk output are not supported.
//
//===----------------------------------------------------------------------===//

#include "AttentionBuilder.h"
#include "ImportContext.h"
#include "LinalgBuilders.h"
#include "RotaryBuilder.h"
#include "ShapeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn::onnx_import;

namespace {

const StringRef kDimNames[] = {"batch", "heads", "sequence length",
                               "head size"};

/// The spec's operands and head counts, and its scale: the node's `scale`,
/// or 1/sqrt(headSize) when it is absent or 0 (ORT's default).
AttentionSpec specOf(NodeContext &ctx, Value q, Value k, Value v,
                     int64_t qHeads, int64_t kvHeads, int64_t headSize) {
  AttentionSpec spec;
  spec.query = q;
  spec.key = k;
  spec.value = v;
  spec.qHeads = qHeads;
  spec.kvHeads = kvHeads;
  std::optional<float> scale = ctx.attrFloat("scale");
  spec.scale = scale && *scale != 0.0f ? double(*scale)
                                       : 1.0 / std::sqrt(double(headSize));
  return spec;
}

/// x[..., offset : offset + size] on the last dim.
Value sliceLast(OpBuilder &b, Location loc, Value x, int64_t offset,
                int64_t size) {
  ArrayRef<int64_t> shape = shapeOf(x);
  SmallVector<OpFoldResult> offsets, sizes, strides;
  SmallVector<int64_t> outShape(shape);
  outShape.back() = size;
  for (size_t d = 0; d < shape.size(); ++d) {
    offsets.push_back(b.getIndexAttr(d + 1 == shape.size() ? offset : 0));
    sizes.push_back(b.getIndexAttr(outShape[d]));
    strides.push_back(b.getIndexAttr(1));
  }
  return tensor::ExtractSliceOp::create(
      b, loc, RankedTensorType::get(outShape, elementTypeOf(x)), x, offsets,
      sizes, strides);
}

/// x[..., index, :] of a packed [..., n, H] tensor, as [..., H].
Value unpack(OpBuilder &b, Location loc, Value x, int64_t index) {
  ArrayRef<int64_t> shape = shapeOf(x);
  int64_t rank = shape.size();
  SmallVector<OpFoldResult> offsets, sizes, strides;
  SmallVector<int64_t> outShape(shape);
  outShape[rank - 2] = 1;
  for (int64_t d = 0; d < rank; ++d) {
    offsets.push_back(b.getIndexAttr(d == rank - 2 ? index : 0));
    sizes.push_back(b.getIndexAttr(outShape[d]));
    strides.push_back(b.getIndexAttr(1));
  }
  Value slice = tensor::ExtractSliceOp::create(
      b, loc, RankedTensorType::get(outShape, elementTypeOf(x)), x, offsets,
      sizes, strides);
  SmallVector<int64_t> squeezed(shape.begin(), shape.end() - 2);
  squeezed.push_back(shape.back());
  return buildReshape(b, loc, slice, squeezed);
}

/// Fails with an error naming the first of `inputs` (index, name) that the
/// node has and whose element type is not the query's `dtype`: each of them
/// enters the query's arithmetic (ORT's kernels take one type T for all).
LogicalResult
expectQueryType(NodeContext &ctx, DType dtype,
                ArrayRef<std::pair<unsigned, StringRef>> inputs) {
  for (auto [index, name] : inputs)
    if (ctx.hasInput(index) && ctx.input(index)->dtype != dtype)
      return ctx.emitError()
             << "needs " << name << " of the query's type "
             << dtypeName(dtype) << ", not "
             << dtypeName(ctx.input(index)->dtype);
  return success();
}

Value addBias(OpBuilder &b, Location loc, Value x, Value bias) {
  return buildElementwise(
      b, loc, {x, bias}, shapeOf(x), elementTypeOf(x),
      [](OpBuilder &nb, Location l, ValueRange args) -> Value {
        return arith::AddFOp::create(nb, l, args[0], args[1]);
      });
}

//===----------------------------------------------------------------------===//
// GroupQueryAttention
//===----------------------------------------------------------------------===//

LogicalResult importGroupQueryAttention(NodeContext &ctx) {
  if (failed(ctx.checkArity(1, 12)))
    return failure();
  std::optional<int64_t> numHeads = ctx.attrInt("num_heads"),
                         kvHeads = ctx.attrInt("kv_num_heads");
  if (!numHeads || !kvHeads || *numHeads <= 0 || *kvHeads <= 0)
    return ctx.emitError() << "needs positive num_heads and kv_num_heads";
  // Bounded so that num_heads + 2 * kv_num_heads cannot overflow.
  if (*numHeads > kMaxTensorElements || *kvHeads > kMaxTensorElements)
    return ctx.emitError() << "has num_heads = " << *numHeads
                           << " and kv_num_heads = " << *kvHeads
                           << ", beyond 2^40";
  if (*numHeads % *kvHeads != 0)
    return ctx.emitError() << "has num_heads = " << *numHeads
                           << " and kv_num_heads = " << *kvHeads
                           << "; num_heads must be a multiple of kv_num_heads";
  if (ctx.attrInt("smooth_softmax", 0) || ctx.hasInput(11) ||
      ctx.attrInt("qk_output", 0) || ctx.hasOutput(3))
    return ctx.emitError() << "uses smooth_softmax, head_sink or output_qk, "
                              "which are not supported";
  if (!ctx.hasInput(5) || !ctx.hasInput(6))
    return ctx.emitError() << "needs seqlens_k and total_sequence_length";
  const ImportedValue *query = ctx.input(0);
  DType dtype = query->dtype;
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    return ctx.emitError() << "does not support element type "
                           << dtypeName(dtype);
  if (failed(expectQueryType(ctx, dtype,
                             {{1, "key"},
                              {2, "value"},
                              {3, "past_key"},
                              {4, "past_value"}})))
    return failure();
  if (query->rank() != 3)
    return ctx.emitError() << "needs a 3-D query, not "
                           << formatShape(query->shape);
  OpBuilder &b = ctx.builder();
  Location loc = ctx.loc;
  int64_t n = *numHeads, kvh = *kvHeads;
  int64_t batch = query->shape[0], seq = query->shape[1];
  Value q = ctx.value(0), k, v;
  int64_t headSize;
  if (!ctx.hasInput(1)) {
    // Packed QKV: [B, S, (N + 2 * kvh) * H].
    if (query->shape[2] % (n + 2 * kvh) != 0)
      return ctx.emitError()
             << "has a packed QKV of hidden size " << query->shape[2]
             << ", not a multiple of "
             << "num_heads + 2 * kv_num_heads = " << n + 2 * kvh;
    headSize = query->shape[2] / (n + 2 * kvh);
    k = sliceLast(b, loc, q, n * headSize, kvh * headSize);
    v = sliceLast(b, loc, q, (n + kvh) * headSize, kvh * headSize);
    q = sliceLast(b, loc, q, 0, n * headSize);
  } else {
    if (!ctx.hasInput(2))
      return ctx.emitError() << "has a key but no value";
    if (query->shape[2] % n != 0)
      return ctx.emitError()
             << "num_heads = " << n << " does not divide the query hidden size "
             << query->shape[2];
    headSize = query->shape[2] / n;
    for (unsigned i : {1u, 2u})
      if (failed(expectShape(ctx, i == 1 ? "key" : "value", ctx.input(i)->shape,
                             {batch, seq, kvh * headSize},
                             {"batch", "sequence length", "hidden size"})))
        return failure();
    k = ctx.value(1);
    v = ctx.value(2);
  }
  q = splitHeads(b, loc, q, n);
  k = splitHeads(b, loc, k, kvh);
  v = splitHeads(b, loc, v, kvh);

  // The cache length: the past buffer, grown to total_sequence_length.
  FailureOr<SmallVector<int64_t>> totalIn =
      ctx.constantInts(6, "total_sequence_length");
  if (failed(totalIn))
    return failure();
  if (totalIn->size() != 1)
    return ctx.emitError() << "needs a scalar total_sequence_length";
  int64_t total = (*totalIn)[0];
  int64_t past = 0;
  if (ctx.hasInput(3) != ctx.hasInput(4))
    return ctx.emitError() << "needs both past_key and past_value, or neither";
  if (ctx.hasInput(3)) {
    if (failed(expectShape(ctx, "past_key", ctx.input(3)->shape,
                           {batch, kvh, -1, headSize}, kDimNames)) ||
        failed(expectShape(ctx, "past_value", ctx.input(4)->shape,
                           {batch, kvh, ctx.input(3)->shape[2], headSize},
                           kDimNames)))
      return failure();
    past = ctx.input(3)->shape[2];
  }
  int64_t cacheLen = std::max(past, total);
  if (total < seq)
    return ctx.emitError() << "has total_sequence_length " << total
                           << " shorter than the " << seq << " new tokens";
  const ImportedValue *seqlens = ctx.input(5);
  if (seqlens->dtype != DType::I32 && seqlens->dtype != DType::I64)
    return ctx.emitError() << "needs seqlens_k of type int32 or int64, got "
                           << dtypeName(seqlens->dtype);
  if (failed(expectShape(ctx, "seqlens_k", seqlens->shape, {batch}, {"batch"})))
    return failure();

  // Per batch: valid keys len[b] = seqlens_k[b] + 1; the new tokens start at
  // pos[b] = len[b] - S, or 0 for a first prompt (S == total).
  bool firstPrompt = seq == total;
  Type i64 = b.getI64Type();
  Value lens = buildElementwise(
      b, loc, ctx.value(5), {batch}, i64,
      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        Value x = convertScalar(nb, l, args[0], i64);
        return arith::AddIOp::create(nb, l, x, scalarConstant(nb, l, i64, 1));
      });
  Value pos = buildElementwise(
      b, loc, lens, {batch}, i64,
      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        if (firstPrompt)
          return scalarConstant(nb, l, i64, 0);
        Value p = arith::SubIOp::create(nb, l, args[0],
                                        scalarConstant(nb, l, i64, seq));
        return arith::MaxSIOp::create(nb, l, p, scalarConstant(nb, l, i64, 0));
      });

  if (ctx.attrInt("do_rotary", 0)) {
    if (!ctx.hasInput(7) || !ctx.hasInput(8))
      return ctx.emitError() << "has do_rotary but no cos_cache/sin_cache";
    const ImportedValue *cosIn = ctx.input(7);
    if (cosIn->rank() != 2 || ctx.input(8)->shape != cosIn->shape ||
        cosIn->dtype != dtype)
      return ctx.emitError() << "needs 2-D cos_cache and sin_cache of the "
                                "query's type";
    int64_t rotDim = 2 * cosIn->shape[1];
    if (rotDim > headSize)
      return ctx.emitError() << "has rotary caches for " << rotDim
                             << " dims, more than the head size " << headSize;
    Value positions;
    if (ctx.hasInput(9)) {
      if (failed(expectShape(ctx, "position_ids", ctx.input(9)->shape,
                             {batch, seq}, {"batch", "sequence length"})))
        return failure();
      positions = ctx.value(9);
    } else {
      positions = buildIndexedElementwise(
          b, loc, {buildReshape(b, loc, pos, {batch, 1})}, {batch, seq}, i64,
          [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
            Value s = arith::IndexCastOp::create(nb, l, i64, args[2]);
            return arith::AddIOp::create(nb, l, args[0], s);
          });
    }
    RotarySpec spec;
    spec.headSize = headSize;
    spec.rotaryDim = rotDim;
    spec.interleaved = ctx.attrInt("rotary_interleaved", 0) != 0;
    spec.cosCache = ctx.value(7);
    spec.sinCache = ctx.value(8);
    spec.positions = positions;
    spec.input = q;
    q = buildRotaryEmbedding(b, loc, spec);
    spec.input = k;
    k = buildRotaryEmbedding(b, loc, spec);
  }

  // attention_bias: added to the scores of [B|1, N|1, S, cacheLen].
  Value bias;
  if (ctx.hasInput(10)) {
    const ImportedValue *biasIn = ctx.input(10);
    if (!isFloat(biasIn->dtype) || biasIn->rank() != 4 ||
        (biasIn->shape[0] != 1 && biasIn->shape[0] != batch) ||
        (biasIn->shape[1] != 1 && biasIn->shape[1] != n) ||
        biasIn->shape[2] != seq || biasIn->shape[3] != cacheLen)
      return ctx.emitError()
             << "has attention_bias of shape " << formatShape(biasIn->shape)
             << "; expected [batch or 1, num_heads or 1, " << seq << ", "
             << cacheLen << "]";
    bias = buildCast(b, loc, ctx.value(10), elementTypeOf(q));
  }

  AttentionSpec spec = specOf(ctx, q, k, v, n, kvh, headSize);
  spec.softcap = ctx.attrFloat("softcap", 0.0f);
  spec.causalOffset = 0;
  // local_window_size W: the query at p sees the W keys [p - W + 1, p].
  int64_t window = ctx.attrInt("local_window_size", -1);
  if (window > 0) {
    spec.windowLeft = window - 1;
    spec.windowRight = 0;
  }

  // The past buffer as a cache of cacheLen positions (0 past the past).
  Value pastK = ctx.hasInput(3) ? ctx.value(3) : Value();
  Value pastV = ctx.hasInput(4) ? ctx.value(4) : Value();
  auto buildCache = [&](Value fresh, Value old) {
    if (old && past == cacheLen)
      return old;
    SmallVector<int64_t> shape = {batch, kvh, cacheLen, headSize};
    Type elementType = elementTypeOf(fresh);
    return buildIndexedElementwise(
        b, loc, {}, shape, elementType,
        [&](OpBuilder &nb, Location l, ValueRange idx) -> Value {
          Value zero = scalarConstant(nb, l, elementType, 0.0);
          if (!old || past == 0)
            return zero;
          Value t = idx[2];
          Value last = arith::ConstantIndexOp::create(nb, l, past - 1);
          Value tSafe = arith::MinSIOp::create(nb, l, t, last);
          Value fromOld = tensor::ExtractOp::create(
              nb, l, old, ValueRange{idx[0], idx[1], tSafe, idx[3]});
          Value inPast = arith::CmpIOp::create(
              nb, l, arith::CmpIPredicate::sle, t, last);
          return arith::SelectOp::create(nb, l, inPast, fromOld, zero);
        });
  };
  Value cacheK = buildCache(k, pastK), cacheV = buildCache(v, pastV);

  Value y, presentK, presentV;
  if (firstPrompt) {
    // A (possibly right-padded) prompt: causal attention over its own keys,
    // key j < len[b]; present = the new keys at [0, S) over the past. The
    // append is one attn.decode at position 0 that needs no attention, so
    // it stays a copy: insert the new rows into the cache.
    spec.kvLens = lens;
    if (bias)
      spec.mask = sliceLast(b, loc, bias, 0, seq);
    y = buildAttentionOp(b, loc, spec, "onnx-gqa");
    auto insert = [&](Value fresh, Value cache) -> Value {
      SmallVector<OpFoldResult> offsets(4, b.getIndexAttr(0)),
          strides(4, b.getIndexAttr(1)), sizes;
      for (int64_t d : shapeOf(fresh))
        sizes.push_back(b.getIndexAttr(d));
      return tensor::InsertSliceOp::create(b, loc, fresh, cache, offsets,
                                           sizes, strides);
    };
    presentK = insert(k, cacheK);
    presentV = insert(v, cacheV);
  } else {
    // Decode or a chunk after a past: each batch row appends at its own
    // position pos[b] = len[b] - S and attends over [0, len[b]) -- one
    // attn.decode with per-row positions, the caches updated in place.
    spec.mask = bias;
    SmallVector<Value> results =
        buildDecodeOp(b, loc, spec, pos, cacheK, cacheV, "onnx-gqa");
    y = results[0];
    presentK = results[1];
    presentV = results[2];
  }
  ctx.setOutput(0, mergeHeads(b, loc, y), dtype);
  ctx.setOutput(1, presentK, dtype);
  ctx.setOutput(2, presentV, dtype);
  return success();
}

//===----------------------------------------------------------------------===//
// MultiHeadAttention
//===----------------------------------------------------------------------===//

LogicalResult importMultiHeadAttention(NodeContext &ctx) {
  if (failed(ctx.checkArity(1, 10)))
    return failure();
  std::optional<int64_t> numHeads = ctx.attrInt("num_heads");
  if (!numHeads || *numHeads <= 0)
    return ctx.emitError() << "needs a positive num_heads";
  if (ctx.hasInput(8) || ctx.hasInput(9) || ctx.hasOutput(3))
    return ctx.emitError() << "uses past_sequence_length, cache_indirection "
                              "or the qk output, which are not supported";
  const ImportedValue *query = ctx.input(0);
  DType dtype = query->dtype;
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    return ctx.emitError() << "does not support element type "
                           << dtypeName(dtype);
  if (failed(expectQueryType(ctx, dtype,
                             {{1, "key"},
                              {2, "value"},
                              {3, "bias"},
                              {6, "past_key"},
                              {7, "past_value"}})))
    return failure();
  OpBuilder &b = ctx.builder();
  Location loc = ctx.loc;
  int64_t n = *numHeads, batch = query->shape[0], seq = query->shape[1];
  Value q = ctx.value(0), k, v;
  bool keyBNSH = false;
  if (query->rank() == 5) {
    // Packed QKV [B, S, N, 3, H].
    if (ctx.hasInput(1) || query->shape[2] != n || query->shape[3] != 3)
      return ctx.emitError() << "has a 5-D query " << formatShape(query->shape)
                             << " that is not packed QKV [B, S, N, 3, H]";
    Value packed = q;
    q = buildReshape(b, loc, unpack(b, loc, packed, 0),
                     {batch, seq, n * query->shape[4]});
    k = buildReshape(b, loc, unpack(b, loc, packed, 1),
                     {batch, seq, n * query->shape[4]});
    v = buildReshape(b, loc, unpack(b, loc, packed, 2),
                     {batch, seq, n * query->shape[4]});
  } else if (query->rank() == 3) {
    if (!ctx.hasInput(1))
      return ctx.emitError() << "needs a key";
    const ImportedValue *key = ctx.input(1);
    if (key->rank() == 5) {
      // Packed KV [B, L, N, 2, H].
      if (ctx.hasInput(2) || key->shape[2] != n || key->shape[3] != 2)
        return ctx.emitError() << "has a 5-D key " << formatShape(key->shape)
                               << " that is not packed KV [B, L, N, 2, H]";
      // The unpacking reshapes need the query's batch.
      if (failed(expectShape(ctx, "key", key->shape, {batch, -1, n, 2, -1},
                             {"batch", "key length", "heads", "2",
                              "head size"})))
        return failure();
      int64_t hidden = n * key->shape[4];
      k = buildReshape(b, loc, unpack(b, loc, ctx.value(1), 0),
                       {batch, key->shape[1], hidden});
      v = buildReshape(b, loc, unpack(b, loc, ctx.value(1), 1),
                       {batch, key->shape[1], hidden});
    } else {
      if (!ctx.hasInput(2))
        return ctx.emitError() << "has a key but no value";
      if (key->rank() != ctx.input(2)->rank() ||
          (key->rank() != 3 && key->rank() != 4))
        return ctx.emitError() << "needs 3-D or BNSH 4-D key and value";
      keyBNSH = key->rank() == 4;
      k = ctx.value(1);
      v = ctx.value(2);
    }
  } else {
    return ctx.emitError() << "needs a 3-D query, not "
                           << formatShape(query->shape);
  }
  int64_t hidden = shapeOf(q)[2];
  if (hidden % n != 0)
    return ctx.emitError() << "num_heads = " << n
                           << " does not divide the query hidden size "
                           << hidden;
  if (ctx.hasInput(3)) {
    // bias: [D_q + D_k + D_v], added to the projections.
    if (keyBNSH)
      return ctx.emitError() << "cannot add a bias to BNSH keys";
    int64_t dk = shapeOf(k)[2], dv = shapeOf(v)[2];
    const ImportedValue *bias = ctx.input(3);
    if (bias->rank() != 1 || bias->shape[0] != hidden + dk + dv)
      return ctx.emitError()
             << "has a bias of shape " << formatShape(bias->shape)
             << "; expected [" << hidden + dk + dv << "]";
    Value bv = ctx.value(3);
    q = addBias(b, loc, q, sliceLast(b, loc, bv, 0, hidden));
    k = addBias(b, loc, k, sliceLast(b, loc, bv, hidden, dk));
    v = addBias(b, loc, v, sliceLast(b, loc, bv, hidden + dk, dv));
  }
  int64_t headSize = hidden / n;
  q = splitHeads(b, loc, q, n);
  if (!keyBNSH) {
    if (shapeOf(k)[2] % n != 0 || shapeOf(v)[2] % n != 0)
      return ctx.emitError() << "num_heads = " << n
                             << " does not divide the key/value hidden size";
    k = splitHeads(b, loc, k, n);
    v = splitHeads(b, loc, v, n);
  }
  int64_t kvLen = shapeOf(k)[2];
  if (failed(expectShape(ctx, "key", shapeOf(k), {batch, n, -1, headSize},
                         kDimNames)) ||
      failed(expectShape(ctx, "value", shapeOf(v), {batch, n, kvLen, -1},
                         kDimNames)))
    return failure();

  int64_t past = 0;
  if (ctx.hasInput(6) != ctx.hasInput(7))
    return ctx.emitError() << "needs both past_key and past_value, or neither";
  if (ctx.hasInput(6)) {
    if (keyBNSH)
      return ctx.emitError() << "cannot append BNSH keys to a past";
    FailureOr<int64_t> prepended = prependPast(
        ctx, b, loc, 6, batch, n, headSize, shapeOf(v)[3], kDimNames, k, v);
    if (failed(prepended))
      return failure();
    past = *prepended;
  }
  int64_t total = past + kvLen;

  AttentionSpec spec = specOf(ctx, q, k, v, n, n, headSize);
  // Causal from the past: row i sees the past and new keys up to i. (ORT's
  // CPU kernel agrees for self-attention, where the new keys are the
  // queries; it has no consistent rule when their lengths differ.)
  if (ctx.attrInt("unidirectional", 0))
    spec.causalOffset = past;

  // key_padding_mask: lengths [B], or [B, T] of 1 (keep) / 0, which ORT
  // turns into mask_filter_value added to the score.
  Value mask;
  Type elementType = elementTypeOf(q);
  if (ctx.hasInput(4)) {
    const ImportedValue *kpm = ctx.input(4);
    if (!isInteger(kpm->dtype) && kpm->dtype != DType::Bool)
      return ctx.emitError() << "needs an integer key_padding_mask";
    if (kpm->shape == SmallVector<int64_t>{batch}) {
      spec.kvLens = ctx.value(4);
    } else if (kpm->shape == SmallVector<int64_t>{batch, total}) {
      double filter = ctx.attrFloat("mask_filter_value", -10000.0f);
      mask = buildElementwise(
          b, loc, buildReshape(b, loc, ctx.value(4), {batch, 1, 1, total}),
          {batch, 1, 1, total}, elementType,
          [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
            Value zero = scalarConstant(nb, l, args[0].getType(), 0);
            Value keep =
                args[0].getType().isInteger(1)
                    ? args[0]
                    : Value(arith::CmpIOp::create(
                          nb, l, arith::CmpIPredicate::ne, args[0], zero));
            return arith::SelectOp::create(
                nb, l, keep, scalarConstant(nb, l, elementType, 0.0),
                scalarConstant(nb, l, elementType, filter));
          });
    } else {
      return ctx.emitError()
             << "has key_padding_mask of shape " << formatShape(kpm->shape)
             << "; supported are [batch] and [batch, " << total << "]";
    }
  }
  if (ctx.hasInput(5)) {
    const ImportedValue *bias = ctx.input(5);
    if (!isFloat(bias->dtype) || bias->rank() != 4 ||
        (bias->shape[0] != 1 && bias->shape[0] != batch) ||
        (bias->shape[1] != 1 && bias->shape[1] != n) || bias->shape[2] != seq ||
        bias->shape[3] != total)
      return ctx.emitError()
             << "has attention_bias of shape " << formatShape(bias->shape)
             << "; expected [batch or 1, num_heads or 1, " << seq << ", "
             << total << "]";
    Value biasValue = buildCast(b, loc, ctx.value(5), elementType);
    if (mask) {
      FailureOr<SmallVector<int64_t>> shape =
          broadcastShapes(ctx, {shapeOf(mask), shapeOf(biasValue)});
      if (failed(shape))
        return failure();
      mask = buildElementwise(
          b, loc, {mask, biasValue}, *shape, elementType,
          [](OpBuilder &nb, Location l, ValueRange args) -> Value {
            return arith::AddFOp::create(nb, l, args[0], args[1]);
          });
    } else {
      mask = biasValue;
    }
  }
  spec.mask = mask;
  Value y = buildAttentionOp(b, loc, spec, "onnx-mha");
  ctx.setOutput(0, mergeHeads(b, loc, y), dtype);
  ctx.setOutput(1, k, dtype);
  ctx.setOutput(2, v, dtype);
  return success();
}

} // namespace

void mlir::attn::onnx_import::registerMicrosoftAttentionOps(
    OpRegistry &registry) {
  registry.add("com.microsoft", "GroupQueryAttention",
               importGroupQueryAttention);
  registry.add("com.microsoft", "MultiHeadAttention", importMultiHeadAttention);
}
