//===- ScatterOps.cpp - ONNX ScatterND, GatherElements, TensorScatter -----===//
//
// Multi-head latent attention exports (DeepSeek-V2/V3 from transformers)
// assemble the query from its rotary and non-rotary parts by slice
// assignment, which the TorchScript exporter writes as ScatterND; routing
// and index bookkeeping use GatherElements. TensorScatter (opset 24) writes
// a step's keys or values into a fixed-size KV cache, which Attention then
// reads with nonpad_kv_seqlen.
//
// ScatterND is built as one linalg.generic over the output with the update
// positions as reduction dims: each output element folds, in update order,
// every update whose index tuple names it. That keeps ONNX Runtime's
// in-order semantics for duplicate indices (last write wins for "none",
// accumulation for add/mul/max/min), never writes out of bounds, and stays
// on linalg so the CPU pipeline lowers it like every other importer op. The
// cost is |output| x |update positions|, small for the slice assignments
// exporters emit.
//
//===----------------------------------------------------------------------===//

#include "ImportContext.h"
#include "LinalgBuilders.h"
#include "ShapeUtils.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::attn::onnx_import;

namespace {

enum class Reduction { None, Add, Mul, Max, Min };

FailureOr<Reduction> scatterReduction(NodeContext &ctx) {
  std::string name = ctx.attrString("reduction", "none");
  Reduction red;
  int64_t since;
  if (name == "none")
    red = Reduction::None, since = 11;
  else if (name == "add")
    red = Reduction::Add, since = 16;
  else if (name == "mul")
    red = Reduction::Mul, since = 16;
  else if (name == "max")
    red = Reduction::Max, since = 18;
  else if (name == "min")
    red = Reduction::Min, since = 18;
  else
    return ctx.emitError() << "has unknown reduction '" << name
                           << "' (expected none, add, mul, max or min)";
  if (ctx.opset < since)
    return ctx.emitError() << "reduction '" << name << "' needs opset "
                           << since << " or later, the model uses opset "
                           << ctx.opset;
  return red;
}

/// acc (op) x for one of the reductions; `x` replaces `acc` for None.
Value combine(OpBuilder &b, Location loc, Reduction red, Value acc, Value x) {
  bool isFloat = isa<FloatType>(acc.getType());
  switch (red) {
  case Reduction::None:
    return x;
  case Reduction::Add:
    return isFloat ? arith::AddFOp::create(b, loc, acc, x).getResult()
                   : arith::AddIOp::create(b, loc, acc, x).getResult();
  case Reduction::Mul:
    return isFloat ? arith::MulFOp::create(b, loc, acc, x).getResult()
                   : arith::MulIOp::create(b, loc, acc, x).getResult();
  case Reduction::Max:
    // maxnumf: ONNX Runtime's std::max-based kernel keeps the non-NaN side
    // when one operand is NaN only in one order, so NaN inputs are not part
    // of the contract; maxnum is the defined choice.
    return isFloat ? arith::MaxNumFOp::create(b, loc, acc, x).getResult()
                   : arith::MaxSIOp::create(b, loc, acc, x).getResult();
  case Reduction::Min:
    return isFloat ? arith::MinNumFOp::create(b, loc, acc, x).getResult()
                   : arith::MinSIOp::create(b, loc, acc, x).getResult();
  }
  llvm_unreachable("reduction");
}

/// Constant indices are range-checked at import time: ONNX leaves
/// out-of-range indices undefined, and a clear error beats a silent clamp.
LogicalResult checkConstantIndices(NodeContext &ctx, unsigned input,
                                   ArrayRef<int64_t> dims, int64_t stride) {
  const ImportedValue *v = ctx.input(input);
  if (!v->isConstant())
    return success();
  SmallVector<int64_t> values = v->constant->toInts();
  for (size_t n = 0; n < values.size(); ++n) {
    int64_t dim = dims[n % stride];
    if (values[n] < -dim || values[n] >= dim)
      return ctx.emitError() << "index " << values[n] << " (element " << n
                             << " of the indices) is out of range for a "
                                "dimension of size "
                             << dim;
  }
  return success();
}

/// ScatterND(data, indices[..., k], updates): output = data, then for each
/// index position u (row-major), output[indices[u]] (op)= updates[u].
LogicalResult importScatterND(NodeContext &ctx) {
  if (failed(ctx.checkArity(3, 3)))
    return failure();
  FailureOr<Reduction> red = scatterReduction(ctx);
  if (failed(red))
    return failure();
  const ImportedValue *data = ctx.input(0), *indices = ctx.input(1),
                      *updates = ctx.input(2);
  if (indices->dtype != DType::I64)
    return ctx.emitError() << "needs int64 indices, not "
                           << dtypeName(indices->dtype);
  if (updates->dtype != data->dtype)
    return ctx.emitError() << "has updates of type "
                           << dtypeName(updates->dtype) << " for data of type "
                           << dtypeName(data->dtype);
  int64_t r = data->rank(), q = indices->rank();
  if (r < 1 || q < 1)
    return ctx.emitError() << "needs data and indices of rank >= 1, got "
                           << r << " and " << q;
  int64_t k = indices->shape[q - 1];
  if (k < 1 || k > r)
    return ctx.emitError() << "indices address " << k
                           << " dims of a rank-" << r << " tensor";
  // updates.shape = indices.shape[:-1] + data.shape[k:]
  SmallVector<int64_t> want(indices->shape.begin(), indices->shape.end() - 1);
  want.append(data->shape.begin() + k, data->shape.end());
  if (ArrayRef<int64_t>(updates->shape) != ArrayRef<int64_t>(want)) {
    auto diag = ctx.emitError() << "needs updates of shape [";
    llvm::interleaveComma(want, diag);
    diag << "] (indices' leading dims, then data's dims after " << k
         << "), got [";
    llvm::interleaveComma(updates->shape, diag);
    return diag << "]";
  }
  if (failed(checkConstantIndices(
          ctx, 1, ArrayRef<int64_t>(data->shape).take_front(k), k)))
    return failure();

  OpBuilder &b = ctx.builder();
  MLIRContext *mctx = ctx.getContext();
  Value init = ctx.value(0), idx = ctx.value(1), upd = ctx.value(2);
  int64_t lead = q - 1, loops = r + lead;
  // Loop dims: d0..d{r-1} the output, d{r}..d{r+lead-1} the update position.
  SmallVector<AffineExpr> updExprs;
  for (int64_t d = 0; d < lead; ++d)
    updExprs.push_back(getAffineDimExpr(r + d, mctx));
  for (int64_t d = k; d < r; ++d)
    updExprs.push_back(getAffineDimExpr(d, mctx));
  SmallVector<AffineExpr> outExprs;
  for (int64_t d = 0; d < r; ++d)
    outExprs.push_back(getAffineDimExpr(d, mctx));
  SmallVector<AffineMap> maps = {AffineMap::get(loops, 0, updExprs, mctx),
                                 AffineMap::get(loops, 0, outExprs, mctx)};
  SmallVector<utils::IteratorType> iterators(r, utils::IteratorType::parallel);
  iterators.append(lead, utils::IteratorType::reduction);
  Reduction mode = *red;
  ArrayRef<int64_t> dataShape = data->shape;
  auto op = linalg::GenericOp::create(
      b, ctx.loc, TypeRange{init.getType()}, ValueRange{upd}, ValueRange{init},
      maps, iterators, [&](OpBuilder &nb, Location loc, ValueRange args) {
        SmallVector<Value> pos;
        for (int64_t d = 0; d < lead; ++d)
          pos.push_back(linalg::IndexOp::create(nb, loc, r + d));
        Value hit;
        for (int64_t t = 0; t < k; ++t) {
          SmallVector<Value> at = pos;
          at.push_back(arith::ConstantIndexOp::create(nb, loc, t));
          Value raw = tensor::ExtractOp::create(nb, loc, idx, at);
          // Negative indices count from the end; out-of-range ones match
          // nothing (dynamic indices cannot be checked at import time).
          Value i = arith::IndexCastOp::create(nb, loc, nb.getIndexType(), raw);
          Value size = arith::ConstantIndexOp::create(nb, loc, dataShape[t]);
          Value zero = arith::ConstantIndexOp::create(nb, loc, 0);
          Value neg = arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::slt,
                                            i, zero);
          i = arith::SelectOp::create(nb, loc, neg,
                                      arith::AddIOp::create(nb, loc, i, size),
                                      i);
          Value eq = arith::CmpIOp::create(
              nb, loc, arith::CmpIPredicate::eq, i,
              linalg::IndexOp::create(nb, loc, t));
          hit = hit ? arith::AndIOp::create(nb, loc, hit, eq).getResult() : eq;
        }
        Value acc = args[1];
        Value next = combine(nb, loc, mode, acc, args[0]);
        linalg::YieldOp::create(
            nb, loc, arith::SelectOp::create(nb, loc, hit, next, acc).getResult());
      });
  ctx.setOutput(0, op.getResult(0), data->dtype);
  return success();
}

/// GatherElements(data, indices, axis): out[i] = data[i with i[axis]
/// replaced by indices[i]]; out has the indices' shape.
LogicalResult importGatherElements(NodeContext &ctx) {
  if (failed(ctx.checkArity(2, 2)))
    return failure();
  const ImportedValue *data = ctx.input(0), *indices = ctx.input(1);
  if (indices->dtype != DType::I64 && indices->dtype != DType::I32)
    return ctx.emitError() << "needs int32 or int64 indices, not "
                           << dtypeName(indices->dtype);
  int64_t r = data->rank();
  if (r < 1 || indices->rank() != r)
    return ctx.emitError() << "needs data and indices of the same rank >= 1, "
                              "got "
                           << r << " and " << indices->rank();
  int64_t axis = ctx.attrInt("axis", 0);
  if (axis < -r || axis >= r)
    return ctx.emitError() << "axis " << axis << " is out of range for rank "
                           << r;
  if (axis < 0)
    axis += r;
  for (int64_t d = 0; d < r; ++d)
    if (d != axis && indices->shape[d] > data->shape[d])
      return ctx.emitError() << "indices dim " << d << " ("
                             << indices->shape[d] << ") exceeds data's ("
                             << data->shape[d] << ")";
  int64_t dim = data->shape[axis];
  if (dim == 0)
    return ctx.emitError() << "gathers from an empty axis " << axis;
  if (indices->isConstant())
    for (int64_t v : indices->constant->toInts())
      if (v < -dim || v >= dim)
        return ctx.emitError() << "index " << v << " is out of range for "
                               << "axis " << axis << " of size " << dim;

  OpBuilder &b = ctx.builder();
  Value source = ctx.value(0), idx = ctx.value(1);
  Value init =
      emptyTensor(b, ctx.loc, indices->shape, elementTypeOf(source));
  MLIRContext *mctx = ctx.getContext();
  SmallVector<AffineMap> maps(2, AffineMap::getMultiDimIdentityMap(r, mctx));
  SmallVector<utils::IteratorType> iterators(r, utils::IteratorType::parallel);
  auto op = linalg::GenericOp::create(
      b, ctx.loc, TypeRange{init.getType()}, ValueRange{idx}, ValueRange{init},
      maps, iterators, [&](OpBuilder &nb, Location loc, ValueRange args) {
        SmallVector<Value> at;
        for (int64_t d = 0; d < r; ++d)
          at.push_back(d == axis ? gatherIndex(nb, loc, args[0], dim)
                                 : linalg::IndexOp::create(nb, loc, d)
                                       .getResult());
        linalg::YieldOp::create(
            nb, loc, tensor::ExtractOp::create(nb, loc, source, at).getResult());
      });
  ctx.setOutput(0, op.getResult(0), data->dtype);
  return success();
}

/// TensorScatter(past_cache, update[, write_indices]) (opset 24): the cache
/// with update's rows s = 0..S-1 along `axis` written at write_indices[b] + s
/// (modulo the cache length for mode "circular"), for every batch row b.
/// Built as one linalg.generic over the cache: position t of batch row b
/// takes update row s = t - w (or (t - w) mod M) when 0 <= s < S, else the
/// past; nothing is written outside the cache.
LogicalResult importTensorScatter(NodeContext &ctx) {
  if (failed(ctx.checkArity(2, 3)))
    return failure();
  if (ctx.opset < 24)
    return ctx.emitError() << "is an opset-24 operator, the model uses opset "
                           << ctx.opset;
  std::string mode = ctx.attrString("mode", "linear");
  if (mode != "linear" && mode != "circular")
    return ctx.emitError() << "has unknown mode '" << mode
                           << "' (expected linear or circular)";
  const ImportedValue *past = ctx.input(0), *update = ctx.input(1);
  if (update->dtype != past->dtype)
    return ctx.emitError() << "has an update of type "
                           << dtypeName(update->dtype)
                           << " for a cache of type " << dtypeName(past->dtype);
  int64_t r = past->rank();
  if (r < 2 || update->rank() != r)
    return ctx.emitError() << "needs a cache and an update of the same rank "
                              ">= 2, got "
                           << r << " and " << update->rank();
  int64_t axis = ctx.attrInt("axis", -2);
  if (axis < -r || axis >= r)
    return ctx.emitError() << "axis " << axis << " is out of range for rank "
                           << r;
  if (axis < 0)
    axis += r;
  if (axis == 0)
    return ctx.emitError() << "has axis " << ctx.attrInt("axis", -2)
                           << ", the batch axis, which write_indices index";
  for (int64_t d = 0; d < r; ++d)
    if (d != axis && update->shape[d] != past->shape[d])
      return ctx.emitError()
             << "has an update of shape " << formatShape(update->shape)
             << " for a cache of shape " << formatShape(past->shape)
             << " (they may differ only in axis " << axis << ")";
  int64_t length = past->shape[axis], steps = update->shape[axis];
  if (steps > length)
    return ctx.emitError() << "writes " << steps << " positions into a cache "
                           << "of " << length << " along axis " << axis;
  Value indices;
  if (ctx.hasInput(2)) {
    const ImportedValue *w = ctx.input(2);
    if (w->dtype != DType::I64)
      return ctx.emitError()
             << "needs int64 write_indices, not " << dtypeName(w->dtype);
    if (w->rank() != 1 || w->shape[0] != past->shape[0])
      return ctx.emitError()
             << "has write_indices of shape " << formatShape(w->shape)
             << "; it must be [" << past->shape[0] << "] (the batch)";
    indices = ctx.value(2);
  }

  OpBuilder &b = ctx.builder();
  Value cache = ctx.value(0), rows = ctx.value(1);
  bool circular = mode == "circular";
  Value out = buildIndexedElementwise(
      b, ctx.loc, ValueRange{cache}, past->shape, elementTypeOf(cache),
      [&](OpBuilder &nb, Location loc, ValueRange args) -> Value {
        auto constant = [&](int64_t c) {
          return arith::ConstantIndexOp::create(nb, loc, c).getResult();
        };
        Value t = args[1 + axis];
        Value s = t;
        if (indices) {
          Value w =
              tensor::ExtractOp::create(nb, loc, indices, ValueRange{args[1]});
          s = arith::SubIOp::create(
              nb, loc, t,
              arith::IndexCastOp::create(nb, loc, nb.getIndexType(), w));
        }
        if (circular) // ((t - w) mod M + M) mod M
          s = arith::RemSIOp::create(
              nb, loc,
              arith::AddIOp::create(
                  nb, loc, arith::RemSIOp::create(nb, loc, s, constant(length)),
                  constant(length)),
              constant(length));
        Value inside = arith::AndIOp::create(
            nb, loc,
            arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::sge, s,
                                  constant(0)),
            arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::slt, s,
                                  constant(steps)));
        // Read update row min(max(s, 0), S - 1): in bounds either way.
        Value row = arith::MinSIOp::create(
            nb, loc, arith::MaxSIOp::create(nb, loc, s, constant(0)),
            constant(steps - 1));
        SmallVector<Value> at(args.begin() + 1, args.end());
        at[axis] = row;
        Value written = tensor::ExtractOp::create(nb, loc, rows, at);
        return arith::SelectOp::create(nb, loc, inside, written, args[0]);
      });
  ctx.setOutput(0, out, past->dtype);
  return success();
}

} // namespace

void mlir::attn::onnx_import::registerScatterOps(OpRegistry &r) {
  r.add("", "ScatterND", importScatterND);
  r.add("", "GatherElements", importGatherElements);
  r.add("", "TensorScatter", importTensorScatter);
}
