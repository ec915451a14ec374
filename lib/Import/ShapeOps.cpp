//===- ShapeOps.cpp - ONNX data-movement operators ------------------------===//
//
// Reshape, Transpose, Concat, Split, Slice, Gather, (Un)Squeeze, Expand,
// Flatten, Trilu, Tile, Identity and Dropout. Each operator reads its
// parameters once (attributes or constant inputs, by opset) and then either
// folds over constants with the host kernels of ConstantFolder.h or becomes
// tensor/linalg IR.
//
//===----------------------------------------------------------------------===//

#include "ConstantFolder.h"
#include "ImportContext.h"
#include "LinalgBuilders.h"
#include "ShapeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::attn::onnx_import;

namespace {

/// An operator with a folder and an importer sharing parameters `P`.
template <typename P> struct ShapeOp {
  std::function<FailureOr<P>(NodeContext &)> params;
  /// Folds when the data input is constant and the output is small enough.
  std::function<std::optional<HostTensor>(NodeContext &, const P &)> fold;
  std::function<LogicalResult(NodeContext &, const P &)> import;
  int64_t foldLimit = kMaxCopyFoldElements;
};

template <typename P> void add(OpRegistry &r, StringRef name, ShapeOp<P> op) {
  auto shared = std::make_shared<ShapeOp<P>>(std::move(op));
  r.add(
      "", name,
      [shared](NodeContext &ctx) -> LogicalResult {
        FailureOr<P> p = shared->params(ctx);
        if (failed(p))
          return failure();
        return shared->import(ctx, *p);
      },
      [shared](NodeContext &ctx) -> FailureOr<bool> {
        if (!shared->fold || !ctx.hasInput(0) || !ctx.input(0)->isConstant() ||
            ctx.input(0)->constant->size() > shared->foldLimit)
          return false;
        FailureOr<P> p = shared->params(ctx);
        if (failed(p))
          return failure();
        std::optional<HostTensor> result = shared->fold(ctx, *p);
        if (!result)
          return false;
        ctx.setOutput(0, std::move(*result));
        return true;
      });
}

/// Integer list from an attribute (old opsets) or a constant input.
FailureOr<std::optional<SmallVector<int64_t>>>
intsFromAttrOrInput(NodeContext &ctx, StringRef attr, unsigned input,
                    bool useInput) {
  if (!useInput)
    return ctx.attrInts(attr);
  if (!ctx.hasInput(input))
    return std::optional<SmallVector<int64_t>>();
  FailureOr<SmallVector<int64_t>> v = ctx.constantInts(input, attr);
  if (failed(v))
    return failure();
  return std::optional<SmallVector<int64_t>>(*v);
}

//===----------------------------------------------------------------------===//
// Reshape-like: Reshape, Flatten, Squeeze, Unsqueeze, Identity
//===----------------------------------------------------------------------===//

struct NewShape {
  SmallVector<int64_t> shape;
};

ShapeOp<NewShape>
reshapeLike(std::function<FailureOr<NewShape>(NodeContext &)> params) {
  ShapeOp<NewShape> op;
  op.params = std::move(params);
  op.fold = [](NodeContext &ctx, const NewShape &p) {
    return std::optional<HostTensor>(
        hostReshape(*ctx.input(0)->constant, p.shape));
  };
  op.import = [](NodeContext &ctx, const NewShape &p) -> LogicalResult {
    ctx.setOutput(0,
                  buildReshape(ctx.builder(), ctx.loc, ctx.value(0), p.shape),
                  ctx.input(0)->dtype);
    return success();
  };
  return op;
}

FailureOr<NewShape> reshapeParams(NodeContext &ctx) {
  if (failed(ctx.checkArity(ctx.opset < 5 ? 1 : 2, 2)))
    return failure();
  std::optional<SmallVector<int64_t>> target;
  if (ctx.opset < 5) {
    target = ctx.attrInts("shape");
  } else {
    FailureOr<SmallVector<int64_t>> t = ctx.constantInts(1, "shape");
    if (failed(t))
      return failure();
    target = *t;
  }
  if (!target)
    return ctx.emitError() << "has no target shape";
  FailureOr<SmallVector<int64_t>> shape = inferReshape(
      ctx, ctx.input(0)->shape, *target, ctx.attrInt("allowzero", 0) != 0);
  if (failed(shape))
    return failure();
  return NewShape{*shape};
}

FailureOr<NewShape> flattenParams(NodeContext &ctx) {
  if (failed(ctx.checkArity(1, 1)))
    return failure();
  ArrayRef<int64_t> in = ctx.input(0)->shape;
  int64_t rank = in.size(), axis = ctx.attrInt("axis", 1);
  if (axis < -rank || axis > rank)
    return ctx.emitError() << "axis " << axis << " is out of range for rank "
                           << rank;
  if (axis < 0)
    axis += rank;
  return NewShape{
      {numElements(in.take_front(axis)), numElements(in.drop_front(axis))}};
}

FailureOr<NewShape> squeezeParams(NodeContext &ctx) {
  if (failed(ctx.checkArity(1, 2)))
    return failure();
  auto axes = intsFromAttrOrInput(ctx, "axes", 1, ctx.opset >= 13);
  if (failed(axes))
    return failure();
  ArrayRef<int64_t> in = ctx.input(0)->shape;
  SmallVector<int64_t> drop;
  if (*axes) {
    FailureOr<SmallVector<int64_t>> n = normalizeAxes(ctx, **axes, in.size());
    if (failed(n))
      return failure();
    for (int64_t a : *n)
      if (in[a] != 1)
        return ctx.emitError()
               << "cannot squeeze dimension " << a << " of size " << in[a]
               << " in " << formatShape(in);
    drop = *n;
  } else {
    for (auto [i, d] : llvm::enumerate(in))
      if (d == 1)
        drop.push_back(i);
  }
  NewShape s;
  for (auto [i, d] : llvm::enumerate(in))
    if (!llvm::is_contained(drop, int64_t(i)))
      s.shape.push_back(d);
  return s;
}

FailureOr<NewShape> unsqueezeParams(NodeContext &ctx) {
  if (failed(ctx.checkArity(1, 2)))
    return failure();
  auto axes = intsFromAttrOrInput(ctx, "axes", 1, ctx.opset >= 13);
  if (failed(axes))
    return failure();
  if (!*axes)
    return ctx.emitError() << "has no axes";
  ArrayRef<int64_t> in = ctx.input(0)->shape;
  int64_t outRank = in.size() + (*axes)->size();
  FailureOr<SmallVector<int64_t>> n = normalizeAxes(ctx, **axes, outRank);
  if (failed(n))
    return failure();
  NewShape s;
  size_t next = 0;
  for (int64_t d = 0; d < outRank; ++d)
    s.shape.push_back(llvm::is_contained(*n, d) ? 1 : in[next++]);
  return s;
}

//===----------------------------------------------------------------------===//
// Transpose
//===----------------------------------------------------------------------===//

struct Permutation {
  SmallVector<int64_t> perm;
};

FailureOr<Permutation> transposeParams(NodeContext &ctx) {
  if (failed(ctx.checkArity(1, 1)))
    return failure();
  int64_t rank = ctx.input(0)->rank();
  SmallVector<int64_t> perm;
  if (auto p = ctx.attrInts("perm")) {
    perm = *p;
  } else {
    for (int64_t i = rank - 1; i >= 0; --i)
      perm.push_back(i);
  }
  SmallVector<bool> seen(rank, false);
  bool ok = int64_t(perm.size()) == rank;
  for (int64_t &p : perm) {
    if (!ok)
      break;
    if (p < 0)
      p += rank;
    ok = p >= 0 && p < rank && !seen[p];
    if (ok)
      seen[p] = true;
  }
  if (!ok)
    return ctx.emitError() << "has perm " << formatShape(perm)
                           << ", not a permutation of rank " << rank;
  return Permutation{perm};
}

ShapeOp<Permutation> transposeOp() {
  ShapeOp<Permutation> op;
  op.params = transposeParams;
  op.fold = [](NodeContext &ctx, const Permutation &p) {
    return std::optional<HostTensor>(
        hostTranspose(*ctx.input(0)->constant, p.perm));
  };
  op.import = [](NodeContext &ctx, const Permutation &p) -> LogicalResult {
    ctx.setOutput(0,
                  buildTranspose(ctx.builder(), ctx.loc, ctx.value(0), p.perm),
                  ctx.input(0)->dtype);
    return success();
  };
  return op;
}

//===----------------------------------------------------------------------===//
// Concat
//===----------------------------------------------------------------------===//

LogicalResult concatCheck(NodeContext &ctx, int64_t &axis,
                          SmallVector<int64_t> &outShape) {
  if (ctx.numInputs() == 0 || !ctx.hasInput(0))
    return ctx.emitError() << "has no inputs";
  const ImportedValue *first = ctx.input(0);
  FailureOr<int64_t> a =
      normalizeAxis(ctx, ctx.attrInt("axis", 0), first->rank());
  if (failed(a))
    return failure();
  axis = *a;
  outShape.assign(first->shape.begin(), first->shape.end());
  outShape[axis] = 0;
  for (unsigned i = 0; i < ctx.numInputs(); ++i) {
    const ImportedValue *v = ctx.input(i);
    if (!v)
      return ctx.emitError() << "has an empty input name";
    if (v->dtype != first->dtype)
      return ctx.emitError() << "concatenates " << dtypeName(first->dtype)
                             << " with " << dtypeName(v->dtype);
    bool ok = v->rank() == first->rank();
    for (int64_t d = 0; ok && d < first->rank(); ++d)
      ok = d == axis || v->shape[d] == first->shape[d];
    if (!ok)
      return ctx.emitError()
             << "cannot concatenate " << formatShape(first->shape) << " and "
             << formatShape(v->shape) << " along axis " << axis;
    outShape[axis] += v->shape[axis];
  }
  return success();
}

LogicalResult importConcat(NodeContext &ctx) {
  int64_t axis;
  SmallVector<int64_t> outShape;
  if (failed(concatCheck(ctx, axis, outShape)))
    return failure();
  SmallVector<Value> inputs;
  for (unsigned i = 0; i < ctx.numInputs(); ++i)
    if (ctx.input(i)->shape[axis] != 0)
      inputs.push_back(ctx.value(i));
  DType dtype = ctx.input(0)->dtype;
  Value result;
  if (inputs.empty())
    result = emptyTensor(ctx.builder(), ctx.loc, outShape,
                         mlirElementType(dtype, ctx.getContext()));
  else if (inputs.size() == 1)
    result = inputs[0];
  else
    result = tensor::ConcatOp::create(ctx.builder(), ctx.loc, axis, inputs);
  ctx.setOutput(0, result, dtype);
  return success();
}

FailureOr<bool> foldConcat(NodeContext &ctx) {
  if (!ctx.allInputsConstant())
    return false;
  int64_t axis;
  SmallVector<int64_t> outShape;
  if (failed(concatCheck(ctx, axis, outShape)))
    return failure();
  if (numElements(outShape) > kMaxCopyFoldElements)
    return false;
  SmallVector<const HostTensor *> inputs;
  for (unsigned i = 0; i < ctx.numInputs(); ++i)
    inputs.push_back(ctx.input(i)->constant.get());
  ctx.setOutput(0, hostConcat(inputs, axis));
  return true;
}

//===----------------------------------------------------------------------===//
// Slice and Split
//===----------------------------------------------------------------------===//

struct SliceParams {
  SmallVector<SliceDim> dims;
};

FailureOr<SliceParams> sliceParams(NodeContext &ctx) {
  bool inputs = ctx.opset >= 10;
  if (failed(ctx.checkArity(inputs ? 3 : 1, inputs ? 5 : 1)))
    return failure();
  auto starts = intsFromAttrOrInput(ctx, "starts", 1, inputs);
  if (failed(starts))
    return failure();
  auto ends = intsFromAttrOrInput(ctx, "ends", 2, inputs);
  if (failed(ends))
    return failure();
  auto axes = intsFromAttrOrInput(ctx, "axes", 3, inputs);
  if (failed(axes))
    return failure();
  auto steps = intsFromAttrOrInput(ctx, "steps", 4, inputs);
  if (failed(steps))
    return failure();
  if (!*starts || !*ends)
    return ctx.emitError() << "has no starts or ends";
  SmallVector<int64_t> ax, st;
  for (size_t i = 0; i < (*starts)->size(); ++i) {
    ax.push_back(*axes ? (i < (*axes)->size() ? (**axes)[i] : -1) : int64_t(i));
    st.push_back(*steps ? (i < (*steps)->size() ? (**steps)[i] : 0) : 1);
  }
  if (*axes && (*axes)->size() != (*starts)->size())
    return ctx.emitError() << "has " << (*axes)->size() << " axes for "
                           << (*starts)->size() << " starts";
  if (*steps && (*steps)->size() != (*starts)->size())
    return ctx.emitError() << "has " << (*steps)->size() << " steps for "
                           << (*starts)->size() << " starts";
  FailureOr<SmallVector<SliceDim>> dims =
      inferSlice(ctx, ctx.input(0)->shape, **starts, **ends, ax, st);
  if (failed(dims))
    return failure();
  return SliceParams{*dims};
}

/// Positive steps: tensor.extract_slice; otherwise a generic that reads
/// in[start + i * step] per dimension.
Value buildSlice(OpBuilder &b, Location loc, Value input,
                 ArrayRef<SliceDim> dims) {
  SmallVector<int64_t> outShape;
  bool positive = true, whole = true;
  ArrayRef<int64_t> inShape = shapeOf(input);
  for (auto [d, s] : llvm::enumerate(dims)) {
    outShape.push_back(s.size);
    positive &= s.step > 0;
    whole &= s.start == 0 && s.step == 1 && s.size == inShape[d];
  }
  if (whole)
    return input;
  Type elementType = elementTypeOf(input);
  if (numElements(outShape) == 0)
    return emptyTensor(b, loc, outShape, elementType);
  if (positive) {
    SmallVector<OpFoldResult> offsets, sizes, strides;
    for (const SliceDim &s : dims) {
      offsets.push_back(b.getIndexAttr(s.start));
      sizes.push_back(b.getIndexAttr(s.size));
      strides.push_back(b.getIndexAttr(s.step));
    }
    return tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get(outShape, elementType), input, offsets,
        sizes, strides);
  }
  return buildIndexedElementwise(
      b, loc, {}, outShape, elementType,
      [&](OpBuilder &nb, Location nloc, ValueRange idx) -> Value {
        SmallVector<Value> at;
        for (auto [d, s] : llvm::enumerate(dims)) {
          Value i = idx[d];
          if (s.step != 1)
            i = arith::MulIOp::create(
                nb, nloc, i, arith::ConstantIndexOp::create(nb, nloc, s.step));
          if (s.start != 0)
            i = arith::AddIOp::create(
                nb, nloc, i, arith::ConstantIndexOp::create(nb, nloc, s.start));
          at.push_back(i);
        }
        return tensor::ExtractOp::create(nb, nloc, input, at);
      });
}

ShapeOp<SliceParams> sliceOp() {
  ShapeOp<SliceParams> op;
  op.params = sliceParams;
  op.fold = [](NodeContext &ctx, const SliceParams &p) {
    return std::optional<HostTensor>(
        hostSlice(*ctx.input(0)->constant, p.dims));
  };
  op.import = [](NodeContext &ctx, const SliceParams &p) -> LogicalResult {
    ctx.setOutput(0, buildSlice(ctx.builder(), ctx.loc, ctx.value(0), p.dims),
                  ctx.input(0)->dtype);
    return success();
  };
  return op;
}

/// Split's per-output sizes along `axis`.
LogicalResult splitParams(NodeContext &ctx, int64_t &axis,
                          SmallVector<int64_t> &sizes) {
  if (failed(ctx.checkArity(1, 2)))
    return failure();
  const ImportedValue *x = ctx.input(0);
  FailureOr<int64_t> a = normalizeAxis(ctx, ctx.attrInt("axis", 0), x->rank());
  if (failed(a))
    return failure();
  axis = *a;
  int64_t dim = x->shape[axis], n = ctx.numOutputs();
  auto split = intsFromAttrOrInput(ctx, "split", 1, ctx.opset >= 13);
  if (failed(split))
    return failure();
  if (*split) {
    sizes = **split;
    // Each size is checked before it is summed, so the sum cannot overflow.
    int64_t total = 0;
    bool inRange = true;
    for (int64_t s : sizes) {
      inRange &= s >= 0 && s <= dim;
      total += inRange ? s : 0;
    }
    if (!inRange || int64_t(sizes.size()) != n || total != dim)
      return ctx.emitError()
             << "splits a dimension of size " << dim << " into "
             << formatShape(sizes) << " for " << n << " outputs";
    return success();
  }
  if (std::optional<int64_t> num = ctx.attrInt("num_outputs"))
    n = *num;
  if (n <= 0 || n != int64_t(ctx.numOutputs()))
    return ctx.emitError() << "has " << ctx.numOutputs()
                           << " outputs but num_outputs " << n;
  // Opset 18 allows an uneven split: every chunk ceil(dim / n) but the last.
  int64_t chunk = (dim + n - 1) / n;
  if (dim % n != 0 && ctx.opset < 18)
    return ctx.emitError() << "cannot split a dimension of size " << dim
                           << " into " << n << " equal parts";
  for (int64_t i = 0; i < n; ++i)
    sizes.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
  return success();
}

LogicalResult importSplit(NodeContext &ctx) {
  int64_t axis;
  SmallVector<int64_t> sizes;
  if (failed(splitParams(ctx, axis, sizes)))
    return failure();
  const ImportedValue *x = ctx.input(0);
  int64_t offset = 0;
  for (auto [i, size] : llvm::enumerate(sizes)) {
    SmallVector<SliceDim> dims;
    for (int64_t d : x->shape)
      dims.push_back({0, 1, d});
    dims[axis] = {offset, 1, size};
    offset += size;
    if (!ctx.hasOutput(i))
      continue;
    if (x->isConstant() && x->constant->size() <= kMaxCopyFoldElements)
      ctx.setOutput(i, hostSlice(*x->constant, dims));
    else
      ctx.setOutput(i, buildSlice(ctx.builder(), ctx.loc, ctx.value(0), dims),
                    x->dtype);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Gather
//===----------------------------------------------------------------------===//

LogicalResult gatherCheck(NodeContext &ctx, int64_t &axis) {
  if (failed(ctx.checkArity(2, 2)))
    return failure();
  const ImportedValue *data = ctx.input(0), *indices = ctx.input(1);
  if (data->rank() == 0)
    return ctx.emitError() << "cannot gather from a scalar";
  if (indices->dtype != DType::I64 && indices->dtype != DType::I32)
    return ctx.emitError() << "needs int32 or int64 indices, not "
                           << dtypeName(indices->dtype);
  FailureOr<int64_t> a =
      normalizeAxis(ctx, ctx.attrInt("axis", 0), data->rank());
  if (failed(a))
    return failure();
  axis = *a;
  return success();
}

/// Constant indices made non-negative and checked against the dim size.
FailureOr<SmallVector<int64_t>> constantIndices(NodeContext &ctx, int64_t dim) {
  SmallVector<int64_t> idx = ctx.input(1)->constant->toInts();
  for (int64_t &i : idx) {
    if (i < -dim || i >= dim)
      return ctx.emitError()
             << "index " << i << " is out of range for a dimension of size "
             << dim;
    if (i < 0)
      i += dim;
  }
  return idx;
}

FailureOr<bool> foldGather(NodeContext &ctx) {
  if (!ctx.allInputsConstant())
    return false;
  int64_t axis;
  if (failed(gatherCheck(ctx, axis)))
    return failure();
  const HostTensor &data = *ctx.input(0)->constant;
  FailureOr<SmallVector<int64_t>> idx = constantIndices(ctx, data.shape[axis]);
  if (failed(idx))
    return failure();
  if (int64_t(idx->size()) *
          (data.size() / std::max<int64_t>(1, data.shape[axis])) >
      kMaxCopyFoldElements)
    return false;
  ctx.setOutput(0, hostGather(data, *idx, ctx.input(1)->shape, axis));
  return true;
}

LogicalResult importGather(NodeContext &ctx) {
  int64_t axis;
  if (failed(gatherCheck(ctx, axis)))
    return failure();
  const ImportedValue *data = ctx.input(0), *indices = ctx.input(1);
  int64_t dim = data->shape[axis], idxRank = indices->rank();
  SmallVector<int64_t> outShape(data->shape.begin(),
                                data->shape.begin() + axis);
  outShape.append(indices->shape.begin(), indices->shape.end());
  outShape.append(data->shape.begin() + axis + 1, data->shape.end());
  OpBuilder &b = ctx.builder();
  Value source = ctx.value(0);
  Type elementType = elementTypeOf(source);

  // One constant index: a slice.
  if (indices->isConstant() && indices->constant->size() == 1) {
    FailureOr<SmallVector<int64_t>> idx = constantIndices(ctx, dim);
    if (failed(idx))
      return failure();
    SmallVector<SliceDim> dims;
    for (int64_t d : data->shape)
      dims.push_back({0, 1, d});
    dims[axis] = {(*idx)[0], 1, 1};
    Value slice = buildSlice(b, ctx.loc, source, dims);
    ctx.setOutput(0, buildReshape(b, ctx.loc, slice, outShape), data->dtype);
    return success();
  }

  // General case: out[pre, idx..., post] = data[pre, indices[idx...], post].
  MLIRContext *mctx = ctx.getContext();
  int64_t outRank = outShape.size();
  SmallVector<AffineExpr> idxExprs;
  for (int64_t d = 0; d < idxRank; ++d)
    idxExprs.push_back(getAffineDimExpr(axis + d, mctx));
  SmallVector<AffineMap> maps = {
      AffineMap::get(outRank, 0, idxExprs, mctx),
      AffineMap::getMultiDimIdentityMap(outRank, mctx)};
  SmallVector<utils::IteratorType> iterators(outRank,
                                             utils::IteratorType::parallel);
  Value init = emptyTensor(b, ctx.loc, outShape, elementType);
  int64_t dataRank = data->rank();
  auto op = linalg::GenericOp::create(
      b, ctx.loc, TypeRange{init.getType()}, ValueRange{ctx.value(1)},
      ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        Value i = gatherIndex(nb, loc, args[0], dim);
        SmallVector<Value> at;
        for (int64_t d = 0; d < dataRank; ++d) {
          if (d < axis)
            at.push_back(linalg::IndexOp::create(nb, loc, d));
          else if (d == axis)
            at.push_back(i);
          else
            at.push_back(linalg::IndexOp::create(nb, loc, d - 1 + idxRank));
        }
        Value v = tensor::ExtractOp::create(nb, loc, source, at);
        linalg::YieldOp::create(nb, loc, v);
      });
  ctx.setOutput(0, op.getResult(0), data->dtype);
  return success();
}

//===----------------------------------------------------------------------===//
// Expand, Tile, Trilu
//===----------------------------------------------------------------------===//

FailureOr<NewShape> expandParams(NodeContext &ctx) {
  if (failed(ctx.checkArity(2, 2)))
    return failure();
  FailureOr<SmallVector<int64_t>> target = ctx.constantInts(1, "shape");
  if (failed(target))
    return failure();
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes(ctx, {ctx.input(0)->shape, *target});
  if (failed(shape))
    return failure();
  return NewShape{*shape};
}

ShapeOp<NewShape> expandOp() {
  ShapeOp<NewShape> op;
  op.params = expandParams;
  op.foldLimit = kMaxFoldElements;
  op.fold = [](NodeContext &ctx,
               const NewShape &p) -> std::optional<HostTensor> {
    if (numElements(p.shape) > kMaxFoldElements)
      return std::nullopt;
    return hostBroadcast(*ctx.input(0)->constant, p.shape);
  };
  op.import = [](NodeContext &ctx, const NewShape &p) -> LogicalResult {
    ctx.setOutput(0,
                  buildBroadcast(ctx.builder(), ctx.loc, ctx.value(0), p.shape),
                  ctx.input(0)->dtype);
    return success();
  };
  return op;
}

/// out[i] = x[i mod size] per dimension, read with tensor.extract.
LogicalResult importTile(NodeContext &ctx) {
  if (failed(ctx.checkArity(2, 2)))
    return failure();
  FailureOr<SmallVector<int64_t>> repeats = ctx.constantInts(1, "repeats");
  if (failed(repeats))
    return failure();
  const ImportedValue *x = ctx.input(0);
  if (int64_t(repeats->size()) != x->rank())
    return ctx.emitError() << "has " << repeats->size() << " repeats for rank "
                           << x->rank();
  SmallVector<int64_t> outShape;
  for (auto [d, n] : llvm::enumerate(*repeats)) {
    if (n < 0)
      return ctx.emitError() << "has a negative repeat count";
    if (n != 0 && x->shape[d] > kMaxTensorElements / n)
      return ctx.emitError() << "repeats dimension " << d << " of size "
                             << x->shape[d] << " " << n
                             << " times, more than 2^40 elements";
    outShape.push_back(x->shape[d] * n);
  }
  Value input = ctx.value(0);
  Type elementType = elementTypeOf(input);
  OpBuilder &b = ctx.builder();
  Value result;
  if (numElements(outShape) == 0)
    result = emptyTensor(b, ctx.loc, outShape, elementType);
  else
    result = buildIndexedElementwise(
        b, ctx.loc, {}, outShape, elementType,
        [&](OpBuilder &nb, Location loc, ValueRange idx) -> Value {
          SmallVector<Value> at;
          for (auto [d, i] : llvm::enumerate(idx))
            at.push_back(x->shape[d] == outShape[d]
                             ? i
                             : Value(arith::RemUIOp::create(
                                   nb, loc, i,
                                   arith::ConstantIndexOp::create(
                                       nb, loc, x->shape[d]))));
          return tensor::ExtractOp::create(nb, loc, input, at);
        });
  ctx.setOutput(0, result, x->dtype);
  return success();
}

struct TriluParams {
  bool upper;
  int64_t k;
};

FailureOr<TriluParams> triluParams(NodeContext &ctx) {
  if (failed(ctx.checkArity(1, 2)))
    return failure();
  if (ctx.input(0)->rank() < 2)
    return ctx.emitError() << "needs a tensor of rank >= 2";
  TriluParams p{ctx.attrInt("upper", 1) != 0, 0};
  if (ctx.hasInput(1)) {
    FailureOr<SmallVector<int64_t>> k = ctx.constantInts(1, "k");
    if (failed(k))
      return failure();
    if (k->size() != 1)
      return ctx.emitError() << "needs a scalar k";
    p.k = (*k)[0];
  }
  return p;
}

bool triluKeeps(const TriluParams &p, int64_t i, int64_t j) {
  return p.upper ? j - i >= p.k : j - i <= p.k;
}

ShapeOp<TriluParams> triluOp() {
  ShapeOp<TriluParams> op;
  op.params = triluParams;
  op.foldLimit = kMaxFoldElements;
  op.fold = [](NodeContext &ctx, const TriluParams &p) {
    const HostTensor &x = *ctx.input(0)->constant;
    HostTensor out(x.dtype, x.shape);
    int64_t rows = x.shape[x.rank() - 2], cols = x.shape[x.rank() - 1];
    for (int64_t n = 0; n < x.size(); ++n) {
      int64_t j = n % cols, i = (n / cols) % rows;
      if (triluKeeps(p, i, j))
        out.copyElement(n, x, n);
    }
    return std::optional<HostTensor>(std::move(out));
  };
  op.import = [](NodeContext &ctx, const TriluParams &p) -> LogicalResult {
    const ImportedValue *x = ctx.input(0);
    Type elementType = mlirElementType(x->dtype, ctx.getContext());
    int64_t rank = x->rank();
    Value result = buildIndexedElementwise(
        ctx.builder(), ctx.loc, ctx.value(0), x->shape, elementType,
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          // keep iff j - i >= k (upper) or j - i <= k (lower)
          Value i = args[1 + rank - 2], j = args[1 + rank - 1];
          Value diff = arith::SubIOp::create(b, loc, j, i);
          Value k = arith::ConstantIndexOp::create(b, loc, p.k);
          Value keep = arith::CmpIOp::create(
              b, loc,
              p.upper ? arith::CmpIPredicate::sge : arith::CmpIPredicate::sle,
              diff, k);
          return arith::SelectOp::create(
              b, loc, keep, args[0], scalarConstant(b, loc, elementType, 0));
        });
    ctx.setOutput(0, result, x->dtype);
    return success();
  };
  return op;
}

//===----------------------------------------------------------------------===//
// Pad (constant mode)
//===----------------------------------------------------------------------===//

/// Pad: negative pads crop (a slice), positive ones insert the input into a
/// tensor filled with the constant.
LogicalResult importPad(NodeContext &ctx) {
  bool inputs = ctx.opset >= 11;
  if (failed(ctx.checkArity(1, inputs ? 4 : 1)))
    return failure();
  std::string mode = ctx.attrString("mode", "constant");
  if (mode != "constant")
    return ctx.emitError() << "supports mode 'constant' only, not '" << mode
                           << "'";
  const ImportedValue *x = ctx.input(0);
  int64_t rank = x->rank();
  SmallVector<int64_t> pads;
  double value = 0.0;
  SmallVector<int64_t> axes;
  if (inputs) {
    FailureOr<SmallVector<int64_t>> p = ctx.constantInts(1, "pads");
    if (failed(p))
      return failure();
    pads = *p;
    if (ctx.hasInput(2)) {
      const ImportedValue *c = ctx.input(2);
      if (!c->isConstant() || c->constant->size() != 1)
        return ctx.emitError() << "needs a constant scalar constant_value";
      value = c->constant->getDouble(0);
    }
    if (ctx.hasInput(3)) {
      FailureOr<SmallVector<int64_t>> a = ctx.constantInts(3, "axes");
      if (failed(a))
        return failure();
      for (int64_t axis : *a) {
        FailureOr<int64_t> n = normalizeAxis(ctx, axis, rank);
        if (failed(n))
          return failure();
        axes.push_back(*n);
      }
    }
  } else {
    pads = ctx.attrInts("pads").value_or(SmallVector<int64_t>());
    value = ctx.attrFloat("value", 0.0f);
  }
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  if (int64_t(pads.size()) != 2 * int64_t(axes.size()))
    return ctx.emitError() << "has " << pads.size() << " pads for "
                           << axes.size() << " axes";
  // Sizes are at most 2^40, so bounded pads keep the arithmetic below exact.
  for (int64_t p : pads)
    if (p < -kMaxTensorElements || p > kMaxTensorElements)
      return ctx.emitError() << "has a pad of " << p << ", beyond 2^40";
  SmallVector<int64_t> before(rank, 0), after(rank, 0);
  for (auto [i, axis] : llvm::enumerate(axes)) {
    before[axis] = pads[i];
    after[axis] = pads[i + axes.size()];
  }
  // Crop first (negative pads), then pad.
  SmallVector<SliceDim> crop;
  SmallVector<int64_t> outShape;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t lo = std::max<int64_t>(0, -before[d]);
    int64_t hi = std::max<int64_t>(0, -after[d]);
    int64_t size = x->shape[d] - lo - hi;
    if (size < 0)
      return ctx.emitError() << "crops more than dimension " << d << " has";
    crop.push_back({lo, 1, size});
    outShape.push_back(size + std::max<int64_t>(0, before[d]) +
                       std::max<int64_t>(0, after[d]));
  }
  OpBuilder &b = ctx.builder();
  Value v = buildSlice(b, ctx.loc, ctx.value(0), crop);
  Type elementType = elementTypeOf(v);
  if (shapeOf(v) != ArrayRef<int64_t>(outShape)) {
    Value filled = filledTensor(b, ctx.loc, outShape, elementType, value);
    SmallVector<OpFoldResult> offsets, sizes, strides;
    for (int64_t d = 0; d < rank; ++d) {
      offsets.push_back(b.getIndexAttr(std::max<int64_t>(0, before[d])));
      sizes.push_back(b.getIndexAttr(shapeOf(v)[d]));
      strides.push_back(b.getIndexAttr(1));
    }
    v = tensor::InsertSliceOp::create(b, ctx.loc, v, filled, offsets, sizes,
                                      strides);
  }
  ctx.setOutput(0, v, x->dtype);
  return success();
}

} // namespace

void mlir::attn::onnx_import::registerShapeOps(OpRegistry &r) {
  add(r, "Reshape", reshapeLike(reshapeParams));
  add(r, "Flatten", reshapeLike(flattenParams));
  add(r, "Squeeze", reshapeLike(squeezeParams));
  add(r, "Unsqueeze", reshapeLike(unsqueezeParams));
  r.add("", "Identity", [](NodeContext &ctx) -> LogicalResult {
    if (failed(ctx.checkArity(1, 1)))
      return failure();
    ctx.setOutput(0, *ctx.input(0));
    return success();
  });
  add(r, "Transpose", transposeOp());
  add(r, "Slice", sliceOp());
  add(r, "Expand", expandOp());
  add(r, "Trilu", triluOp());
  r.add("", "Concat", importConcat, foldConcat);
  r.add("", "Split", importSplit);
  r.add("", "Gather", importGather, foldGather);
  r.add("", "Tile", importTile);
  r.add("", "Pad", importPad);
  // Inference-mode Dropout is the identity; its optional mask is all true.
  r.add("", "Dropout", [](NodeContext &ctx) -> LogicalResult {
    if (failed(ctx.checkArity(1, 3)))
      return failure();
    ctx.setOutput(0, *ctx.input(0));
    if (ctx.hasOutput(1))
      ctx.setOutput(1,
                    filledTensor(ctx.builder(), ctx.loc, ctx.input(0)->shape,
                                 ctx.builder().getI1Type(), 1.0),
                    DType::Bool);
    return success();
  });
}
