//===- RotaryEmbeddingOps.cpp - ONNX RotaryEmbedding ----------------------===//
//
// RotaryEmbedding (opset 23) as one linalg.generic over the output: each
// element reads its rotation partner, the cos/sin cache entry of its
// position, and mixes them; dims past rotary_embedding_dim pass through.
//
//===----------------------------------------------------------------------===//

#include "ImportContext.h"
#include "LinalgBuilders.h"
#include "RotaryBuilder.h"
#include "ShapeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::attn::onnx_import;

namespace {

LogicalResult importRotaryEmbedding(NodeContext &ctx) {
  if (failed(ctx.checkArity(3, 4)))
    return failure();
  const ImportedValue *x = ctx.input(0), *cosIn = ctx.input(1),
                      *sinIn = ctx.input(2), *pos = ctx.input(3);
  if (!isFloat(x->dtype) || cosIn->dtype != x->dtype ||
      sinIn->dtype != x->dtype)
    return ctx.emitError() << "needs float input and caches of one type";
  int64_t rank = x->rank();
  if (rank != 3 && rank != 4)
    return ctx.emitError() << "needs a 3-D or 4-D input, not "
                           << formatShape(x->shape);
  // Layout: 4-D is [B, H, S, D]; 3-D is [B, S, H*D] with num_heads.
  int64_t batch = x->shape[0], seq = rank == 4 ? x->shape[2] : x->shape[1];
  int64_t headSize;
  if (rank == 4) {
    headSize = x->shape[3];
  } else {
    int64_t heads = ctx.attrInt("num_heads", 0);
    if (heads <= 0 || x->shape[2] % heads != 0)
      return ctx.emitError() << "needs num_heads dividing the hidden size "
                             << x->shape[2] << " for a 3-D input";
    headSize = x->shape[2] / heads;
  }
  int64_t rotDim = ctx.attrInt("rotary_embedding_dim", 0);
  if (rotDim == 0)
    rotDim = headSize;
  if (rotDim < 0 || rotDim > headSize || rotDim % 2 != 0)
    return ctx.emitError() << "has rotary_embedding_dim " << rotDim
                           << " for head size " << headSize;
  int64_t half = rotDim / 2;
  bool interleaved = ctx.attrInt("interleaved", 0) != 0;
  if (cosIn->shape != sinIn->shape)
    return ctx.emitError() << "has cos_cache " << formatShape(cosIn->shape)
                           << " and sin_cache " << formatShape(sinIn->shape);
  if (pos) {
    if (pos->dtype != DType::I64 && pos->dtype != DType::I32)
      return ctx.emitError() << "needs integer position_ids";
    if (pos->shape != SmallVector<int64_t>{batch, seq} || cosIn->rank() != 2 ||
        cosIn->shape[1] != half)
      return ctx.emitError()
             << "with position_ids " << formatShape(pos->shape)
             << " needs them [batch, sequence] = " << formatShape({batch, seq})
             << " and caches [positions, " << half << "], not "
             << formatShape(cosIn->shape);
  } else if (cosIn->shape != SmallVector<int64_t>{batch, seq, half}) {
    return ctx.emitError() << "without position_ids needs caches [batch, "
                              "sequence, rotary_dim / 2] = "
                           << formatShape({batch, seq, half}) << ", not "
                           << formatShape(cosIn->shape);
  }
  RotarySpec spec;
  spec.input = ctx.value(0);
  spec.headSize = headSize;
  spec.rotaryDim = rotDim;
  spec.interleaved = interleaved;
  spec.cosCache = ctx.value(1);
  spec.sinCache = ctx.value(2);
  spec.positions = pos ? ctx.value(3) : Value();
  Value result = buildRotaryEmbedding(ctx.builder(), ctx.loc, spec);
  ctx.setOutput(0, result, x->dtype);
  return success();
}

} // namespace

Value mlir::attn::onnx_import::buildRotaryEmbedding(OpBuilder &b, Location loc,
                                                    const RotarySpec &spec) {
  Value input = spec.input, cosCache = spec.cosCache, sinCache = spec.sinCache;
  Value positions = spec.positions;
  ArrayRef<int64_t> shape = shapeOf(input);
  int64_t rank = shape.size(), headSize = spec.headSize;
  int64_t rotDim = spec.rotaryDim, half = rotDim / 2;
  bool interleaved = spec.interleaved;
  int64_t maxPos = positions ? shapeOf(cosCache)[0] : 0;
  Type elementType = elementTypeOf(input);
  Type f = cast<FloatType>(elementType).getWidth() < 32 ? b.getF32Type()
                                                        : elementType;
  Value result = buildIndexedElementwise(
      b, loc, {}, shape, elementType,
      [&](OpBuilder &nb, Location nloc, ValueRange idx) -> Value {
        Location loc = nloc;
        auto c = [&](int64_t v) -> Value {
          return arith::ConstantIndexOp::create(nb, loc, v);
        };
        // Batch, sequence and in-head coordinate of this element.
        Value bi = idx[0], si = rank == 4 ? idx[2] : idx[1];
        Value last = idx[rank - 1];
        Value d =
            rank == 4
                ? last
                : Value(arith::RemUIOp::create(nb, loc, last, c(headSize)));
        Value headBase = arith::SubIOp::create(nb, loc, last, d);
        Value self = tensor::ExtractOp::create(nb, loc, input, idx);
        // Partner element and cache column.
        Value isFirst, partnerD, col;
        if (interleaved) {
          Value parity = arith::RemUIOp::create(nb, loc, d, c(2));
          isFirst = arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::eq,
                                          parity, c(0));
          partnerD = arith::SelectOp::create(
              nb, loc, isFirst, arith::AddIOp::create(nb, loc, d, c(1)),
              arith::SubIOp::create(nb, loc, d, c(1)));
          col = arith::DivUIOp::create(nb, loc, d, c(2));
        } else {
          isFirst = arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::ult, d,
                                          c(half));
          partnerD = arith::SelectOp::create(
              nb, loc, isFirst, arith::AddIOp::create(nb, loc, d, c(half)),
              arith::SubIOp::create(nb, loc, d, c(half)));
          col = arith::SelectOp::create(
              nb, loc, isFirst, d, arith::SubIOp::create(nb, loc, d, c(half)));
        }
        Value rotated = arith::CmpIOp::create(
            nb, loc, arith::CmpIPredicate::ult, d, c(rotDim));
        // Keep indices in bounds for the pass-through dims too.
        Value safeD = arith::SelectOp::create(nb, loc, rotated, partnerD, d);
        Value safeCol = arith::SelectOp::create(nb, loc, rotated, col, c(0));
        SmallVector<Value> partnerIdx(idx);
        partnerIdx[rank - 1] = arith::AddIOp::create(nb, loc, headBase, safeD);
        Value partner = tensor::ExtractOp::create(nb, loc, input, partnerIdx);
        SmallVector<Value> cacheIdx;
        if (positions) {
          Value p =
              tensor::ExtractOp::create(nb, loc, positions, ValueRange{bi, si});
          p = arith::IndexCastOp::create(nb, loc, nb.getIndexType(), p);
          p = arith::MaxSIOp::create(nb, loc, p, c(0));
          p = arith::MinSIOp::create(nb, loc, p, c(maxPos - 1));
          cacheIdx = {p, safeCol};
        } else {
          cacheIdx = {bi, si, safeCol};
        }
        Value cs = convertScalar(
            nb, loc, tensor::ExtractOp::create(nb, loc, cosCache, cacheIdx), f);
        Value sn = convertScalar(
            nb, loc, tensor::ExtractOp::create(nb, loc, sinCache, cacheIdx), f);
        Value xs = convertScalar(nb, loc, self, f);
        Value xp = convertScalar(nb, loc, partner, f);
        // first:  x1 cos - x2 sin  (self = x1, partner = x2)
        // second: x1 sin + x2 cos  (self = x2, partner = x1)
        Value first = arith::SubFOp::create(
            nb, loc, arith::MulFOp::create(nb, loc, xs, cs),
            arith::MulFOp::create(nb, loc, xp, sn));
        Value second = arith::AddFOp::create(
            nb, loc, arith::MulFOp::create(nb, loc, xp, sn),
            arith::MulFOp::create(nb, loc, xs, cs));
        Value out = arith::SelectOp::create(nb, loc, isFirst, first, second);
        out = convertScalar(nb, loc, out, elementType);
        return arith::SelectOp::create(nb, loc, rotated, out, self);
      });
  return result;
}

void mlir::attn::onnx_import::registerRotaryEmbeddingOps(OpRegistry &registry) {
  registry.add("", "RotaryEmbedding", importRotaryEmbedding);
}
