//===- ConstantFolder.cpp - import-time evaluation of shape subgraphs -----===//
//
// The host data-movement kernels used by the shape operators' folders, and
// the operators that only ever produce constants: Constant, Shape, Size,
// Range and ConstantOfShape (imported as a fill when too large to fold).
//
//===----------------------------------------------------------------------===//

#include "ConstantFolder.h"
#include "ImportContext.h"
#include "LinalgBuilders.h"
#include "ModelLoader.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace mlir::attn::onnx_import;

//===----------------------------------------------------------------------===//
// Host kernels
//===----------------------------------------------------------------------===//

/// out's elements (row-major) from x's elements at the strided offsets.
static void copyStrided(const HostTensor &x, HostTensor &out, int64_t base,
                        ArrayRef<int64_t> step) {
  int64_t w = dtypeBytes(x.dtype);
  const char *in = x.data().data();
  char *dst = out.bytes.data();
  forEachStridedOffset(out.shape, base, step, [&](int64_t n, int64_t offset) {
    std::memcpy(dst + n * w, in + offset * w, w);
  });
}

HostTensor mlir::attn::onnx_import::hostReshape(const HostTensor &x,
                                                ArrayRef<int64_t> shape) {
  return HostTensor(x.dtype, shape, x.data().str());
}

HostTensor mlir::attn::onnx_import::hostTranspose(const HostTensor &x,
                                                  ArrayRef<int64_t> perm) {
  SmallVector<int64_t> outShape;
  for (int64_t p : perm)
    outShape.push_back(x.shape[p]);
  HostTensor out(x.dtype, outShape);
  SmallVector<int64_t> inStrides = stridesOf(x.shape);
  SmallVector<int64_t> step;
  for (int64_t p : perm)
    step.push_back(inStrides[p]);
  copyStrided(x, out, /*base=*/0, step);
  return out;
}

HostTensor mlir::attn::onnx_import::hostSlice(const HostTensor &x,
                                              ArrayRef<SliceDim> dims) {
  int64_t rank = x.rank();
  SmallVector<int64_t> outShape;
  for (const SliceDim &d : dims)
    outShape.push_back(d.size);
  HostTensor out(x.dtype, outShape);
  if (out.size() == 0)
    return out;
  SmallVector<int64_t> inStrides = stridesOf(x.shape);
  int64_t base = 0;
  SmallVector<int64_t> step;
  for (int64_t d = 0; d < rank; ++d) {
    base += dims[d].start * inStrides[d];
    step.push_back(dims[d].step * inStrides[d]);
  }
  copyStrided(x, out, base, step);
  return out;
}

HostTensor
mlir::attn::onnx_import::hostConcat(ArrayRef<const HostTensor *> inputs,
                                    int64_t axis) {
  SmallVector<int64_t> outShape(inputs[0]->shape);
  outShape[axis] = 0;
  for (const HostTensor *t : inputs)
    outShape[axis] += t->shape[axis];
  HostTensor out(inputs[0]->dtype, outShape);
  if (out.size() == 0)
    return out; // the loops below may still count to a huge outer size
  int64_t outer = numElements(ArrayRef<int64_t>(outShape).take_front(axis));
  int64_t w = dtypeBytes(out.dtype);
  char *dst = out.bytes.data();
  for (int64_t o = 0; o < outer; ++o)
    for (const HostTensor *t : inputs) {
      int64_t chunk =
          numElements(ArrayRef<int64_t>(t->shape).drop_front(axis)) * w;
      std::memcpy(dst, t->data().data() + o * chunk, chunk);
      dst += chunk;
    }
  return out;
}

HostTensor mlir::attn::onnx_import::hostGather(const HostTensor &data,
                                               ArrayRef<int64_t> indices,
                                               ArrayRef<int64_t> indicesShape,
                                               int64_t axis) {
  SmallVector<int64_t> outShape(data.shape.begin(), data.shape.begin() + axis);
  outShape.append(indicesShape.begin(), indicesShape.end());
  outShape.append(data.shape.begin() + axis + 1, data.shape.end());
  HostTensor out(data.dtype, outShape);
  if (out.size() == 0)
    return out; // the loops below may still count to a huge outer size
  int64_t outer = numElements(ArrayRef<int64_t>(data.shape).take_front(axis));
  int64_t inner =
      numElements(ArrayRef<int64_t>(data.shape).drop_front(axis + 1));
  int64_t w = dtypeBytes(data.dtype), dim = data.shape[axis];
  char *dst = out.bytes.data();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t idx : indices) {
      std::memcpy(dst, data.data().data() + ((o * dim + idx) * inner) * w,
                  inner * w);
      dst += inner * w;
    }
  return out;
}

HostTensor mlir::attn::onnx_import::hostBroadcast(const HostTensor &x,
                                                  ArrayRef<int64_t> shape) {
  HostTensor out(x.dtype, shape);
  SmallVector<int64_t> idx = broadcastIndices(x.shape, shape);
  for (int64_t n = 0, e = out.size(); n < e; ++n)
    out.copyElement(n, x, idx[n]);
  return out;
}

HostTensor mlir::attn::onnx_import::hostInts(ArrayRef<int64_t> values) {
  HostTensor out(DType::I64, {int64_t(values.size())});
  for (auto [i, v] : llvm::enumerate(values))
    out.setInt(i, v);
  return out;
}

HostTensor mlir::attn::onnx_import::hostScalarInt(int64_t value, bool rank1) {
  HostTensor out(DType::I64,
                 rank1 ? SmallVector<int64_t>{1} : SmallVector<int64_t>{});
  out.setInt(0, value);
  return out;
}

//===----------------------------------------------------------------------===//
// Constant-only operators
//===----------------------------------------------------------------------===//

namespace {

/// Constant: one of value / value_float(s) / value_int(s).
FailureOr<bool> foldConstant(NodeContext &ctx) {
  if (const onnx::AttributeProto *a = ctx.attr("value")) {
    HostTensor t;
    std::string error;
    if (failed(readTensor(a->t(), ctx.modelDirectory(), t, error)))
      return ctx.emitError() << "value " << error;
    ctx.setOutput(0, std::move(t));
    return true;
  }
  if (const onnx::AttributeProto *a = ctx.attr("value_float")) {
    HostTensor t(DType::F32, {});
    t.setDouble(0, a->f());
    ctx.setOutput(0, std::move(t));
    return true;
  }
  if (const onnx::AttributeProto *a = ctx.attr("value_floats")) {
    HostTensor t(DType::F32, {int64_t(a->floats_size())});
    for (int i = 0; i < a->floats_size(); ++i)
      t.setDouble(i, a->floats(i));
    ctx.setOutput(0, std::move(t));
    return true;
  }
  if (const onnx::AttributeProto *a = ctx.attr("value_int")) {
    ctx.setOutput(0, hostScalarInt(a->i()));
    return true;
  }
  if (const onnx::AttributeProto *a = ctx.attr("value_ints")) {
    ctx.setOutput(
        0, hostInts(SmallVector<int64_t>(a->ints().begin(), a->ints().end())));
    return true;
  }
  return ctx.emitError()
         << "has no supported value attribute (sparse and string constants "
            "are not supported)";
}

FailureOr<bool> foldShape(NodeContext &ctx) {
  if (failed(ctx.checkArity(1, 1)))
    return failure();
  ArrayRef<int64_t> shape = ctx.input(0)->shape;
  int64_t rank = shape.size();
  int64_t start = ctx.attrInt("start", 0), end = ctx.attrInt("end", rank);
  if (start < 0)
    start += rank;
  if (end < 0)
    end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  ctx.setOutput(
      0, hostInts(shape.slice(start, std::max<int64_t>(end - start, 0))));
  return true;
}

FailureOr<bool> foldSize(NodeContext &ctx) {
  if (failed(ctx.checkArity(1, 1)))
    return failure();
  ctx.setOutput(0, hostScalarInt(numElements(ctx.input(0)->shape)));
  return true;
}

FailureOr<bool> foldRange(NodeContext &ctx) {
  if (failed(ctx.checkArity(3, 3)))
    return failure();
  if (!ctx.allInputsConstant())
    return ctx.emitError()
           << "needs start, limit and delta known at compile "
              "time; they are computed from the values of graph inputs";
  const HostTensor &start = *ctx.input(0)->constant,
                   &limit = *ctx.input(1)->constant,
                   &delta = *ctx.input(2)->constant;
  if (start.size() != 1 || limit.size() != 1 || delta.size() != 1)
    return ctx.emitError() << "needs scalar start, limit and delta";
  DType dtype = start.dtype;
  // The count must not overflow (integers: exact in 128 bits) and NaN or
  // infinite counts (floats) must fail the bound before any conversion.
  double count;
  if (isFloat(dtype)) {
    double s = start.getDouble(0), l = limit.getDouble(0),
           d = delta.getDouble(0);
    if (d == 0)
      return ctx.emitError() << "has a delta of 0";
    count = std::ceil((l - s) / d);
  } else {
    int64_t s = start.getInt(0), l = limit.getInt(0), d = delta.getInt(0);
    if (d == 0)
      return ctx.emitError() << "has a delta of 0";
    __int128 span = __int128(l) - s;
    count = double((span + d + (d > 0 ? -1 : 1)) / d);
  }
  if (std::isnan(count))
    return ctx.emitError()
           << "has no element count: start, limit or delta is not finite";
  if (count > double(kMaxCopyFoldElements))
    return ctx.emitError() << "produces too many elements (" << count << ")";
  int64_t n = count > 0 ? int64_t(count) : 0;
  HostTensor out(dtype, {n});
  for (int64_t i = 0; i < n; ++i) {
    if (isFloat(dtype)) {
      out.setDouble(i, start.getDouble(0) + double(i) * delta.getDouble(0));
    } else {
      // start + i * delta lies between start and limit, but i * delta alone
      // may not fit: wrap in unsigned arithmetic, where that is defined.
      out.setInt(i, int64_t(uint64_t(start.getInt(0)) +
                            uint64_t(i) * uint64_t(delta.getInt(0))));
    }
  }
  ctx.setOutput(0, std::move(out));
  return true;
}

/// ConstantOfShape's shape and fill value.
LogicalResult constantOfShapeParams(NodeContext &ctx,
                                    SmallVector<int64_t> &shape,
                                    HostTensor &value) {
  if (failed(ctx.checkArity(1, 1)))
    return failure();
  FailureOr<SmallVector<int64_t>> dims = ctx.constantInts(0, "shape");
  if (failed(dims))
    return failure();
  for (int64_t d : *dims)
    if (d < 0)
      return ctx.emitError() << "has a negative size in " << formatShape(*dims);
  shape = *dims;
  value = HostTensor(DType::F32, {1});
  if (const onnx::AttributeProto *a = ctx.attr("value")) {
    std::string error;
    if (failed(readTensor(a->t(), ctx.modelDirectory(), value, error)))
      return ctx.emitError() << "value " << error;
    if (value.size() != 1)
      return ctx.emitError() << "needs a one-element value";
  }
  return success();
}

FailureOr<bool> foldConstantOfShape(NodeContext &ctx) {
  if (!ctx.allInputsConstant())
    return false;
  SmallVector<int64_t> shape;
  HostTensor value;
  if (failed(constantOfShapeParams(ctx, shape, value)))
    return failure();
  if (numElements(shape) > kMaxFoldElements)
    return false;
  ctx.setOutput(0, hostBroadcast(hostReshape(value, {}), shape));
  return true;
}

LogicalResult importConstantOfShape(NodeContext &ctx) {
  SmallVector<int64_t> shape;
  HostTensor value;
  if (failed(constantOfShapeParams(ctx, shape, value)))
    return failure();
  Type elementType = mlirElementType(value.dtype, ctx.getContext());
  if (!elementType)
    return ctx.emitError() << "cannot fill with " << dtypeName(value.dtype);
  double v =
      isFloat(value.dtype) ? value.getDouble(0) : double(value.getInt(0));
  ctx.setOutput(0, filledTensor(ctx.builder(), ctx.loc, shape, elementType, v),
                value.dtype);
  return success();
}

/// For operators that always fold: reaching the importer is a bug.
LogicalResult notFolded(NodeContext &ctx) {
  return ctx.emitError() << "could not be evaluated at compile time";
}

} // namespace

void mlir::attn::onnx_import::registerConstantFolders(OpRegistry &r) {
  r.add("", "Constant", notFolded, foldConstant);
  r.add("", "Shape", notFolded, foldShape);
  r.add("", "Size", notFolded, foldSize);
  r.add("", "Range", notFolded, foldRange);
  r.add("", "ConstantOfShape", importConstantOfShape, foldConstantOfShape);
}
