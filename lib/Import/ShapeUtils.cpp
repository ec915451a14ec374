//===- ShapeUtils.cpp - static shape rules shared by import and folding ---===//

#include "ShapeUtils.h"

#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::attn::onnx_import;

std::string mlir::attn::onnx_import::formatShape(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape))
    s += (i ? ", " : "") + std::to_string(d);
  return s + "]";
}

FailureOr<SmallVector<int64_t>>
mlir::attn::onnx_import::broadcastShapes(NodeContext &ctx,
                                         ArrayRef<ArrayRef<int64_t>> shapes) {
  size_t rank = 0;
  for (ArrayRef<int64_t> s : shapes)
    rank = std::max(rank, s.size());
  SmallVector<int64_t> out(rank, 1);
  for (ArrayRef<int64_t> s : shapes) {
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t &o = out[rank - s.size() + i];
      if (s[i] == o || s[i] == 1)
        continue;
      if (o == 1) {
        o = s[i];
        continue;
      }
      auto diag = ctx.emitError() << "cannot broadcast shapes";
      for (ArrayRef<int64_t> t : shapes)
        diag << " " << formatShape(t);
      return failure();
    }
  }
  // Checked here, before folders index the result.
  if (!isValidShape(out)) {
    auto diag = ctx.emitError() << "broadcasting shapes";
    for (ArrayRef<int64_t> t : shapes)
      diag << " " << formatShape(t);
    return diag << " gives more than 2^40 elements";
  }
  return out;
}

FailureOr<int64_t> mlir::attn::onnx_import::normalizeAxis(NodeContext &ctx,
                                                          int64_t axis,
                                                          int64_t rank) {
  if (axis < -rank || axis >= rank)
    return ctx.emitError() << "axis " << axis << " is out of range for rank "
                           << rank;
  return axis < 0 ? axis + rank : axis;
}

FailureOr<SmallVector<int64_t>>
mlir::attn::onnx_import::normalizeAxes(NodeContext &ctx, ArrayRef<int64_t> axes,
                                       int64_t rank) {
  SmallVector<int64_t> out;
  for (int64_t axis : axes) {
    FailureOr<int64_t> a = normalizeAxis(ctx, axis, rank);
    if (failed(a))
      return failure();
    if (llvm::is_contained(out, *a))
      return ctx.emitError() << "axis " << axis << " is given twice";
    out.push_back(*a);
  }
  llvm::sort(out);
  return out;
}

FailureOr<SmallVector<int64_t>>
mlir::attn::onnx_import::inferReshape(NodeContext &ctx, ArrayRef<int64_t> input,
                                      ArrayRef<int64_t> target,
                                      bool allowZero) {
  SmallVector<int64_t> out;
  int64_t inferred = -1, known = 1;
  for (auto [i, size] : llvm::enumerate(target)) {
    int64_t d = size;
    if (d == -1) {
      if (inferred >= 0)
        return ctx.emitError() << "reshape target " << formatShape(target)
                               << " has more than one -1";
      inferred = i;
      out.push_back(1);
      continue;
    }
    if (d == 0 && !allowZero) {
      if (i >= input.size())
        return ctx.emitError() << "reshape target " << formatShape(target)
                               << " copies dimension " << i
                               << " of an input of rank " << input.size();
      d = input[i];
    }
    if (d < 0)
      return ctx.emitError() << "reshape target " << formatShape(target)
                             << " has a negative size";
    if (d != 0 && known > kMaxTensorElements / d)
      return ctx.emitError() << "reshape target " << formatShape(target)
                             << " has sizes whose product exceeds 2^40";
    out.push_back(d);
    known *= d;
  }
  int64_t total = numElements(input);
  if (inferred >= 0) {
    if (known == 0 || total % known != 0)
      return ctx.emitError()
             << "cannot reshape " << formatShape(input) << " (" << total
             << " elements) into " << formatShape(target);
    out[inferred] = total / known;
  } else if (known != total) {
    return ctx.emitError() << "cannot reshape " << formatShape(input) << " ("
                           << total << " elements) into " << formatShape(target)
                           << " (" << known << " elements)";
  }
  return out;
}

FailureOr<SmallVector<SliceDim>> mlir::attn::onnx_import::inferSlice(
    NodeContext &ctx, ArrayRef<int64_t> shape, ArrayRef<int64_t> starts,
    ArrayRef<int64_t> ends, ArrayRef<int64_t> axes, ArrayRef<int64_t> steps) {
  int64_t rank = shape.size();
  SmallVector<SliceDim> dims;
  for (int64_t d : shape)
    dims.push_back({0, 1, d});
  if (starts.size() != ends.size() || axes.size() != starts.size() ||
      steps.size() != starts.size())
    return ctx.emitError() << "has " << starts.size() << " starts, "
                           << ends.size() << " ends, " << axes.size()
                           << " axes and " << steps.size()
                           << " steps; they must agree";
  SmallVector<int64_t> seen;
  for (size_t i = 0; i < starts.size(); ++i) {
    FailureOr<int64_t> axis = normalizeAxis(ctx, axes[i], rank);
    if (failed(axis))
      return failure();
    if (llvm::is_contained(seen, *axis))
      return ctx.emitError() << "slices axis " << axes[i] << " twice";
    seen.push_back(*axis);
    int64_t dim = shape[*axis], step = steps[i];
    if (step == 0)
      return ctx.emitError() << "has a step of 0";
    int64_t start = starts[i], end = ends[i];
    if (start < 0)
      start = start < -dim ? -1 - dim : start + dim;
    if (end < 0)
      end = end < -dim ? -1 - dim : end + dim;
    // Written so that no step (INT64_MIN included) overflows.
    int64_t size;
    if (dim == 0) {
      start = 0;
      size = 0;
    } else if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      size = end > start ? 1 + (end - start - 1) / step : 0;
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      size = start > end ? 1 + (start - end - 1) / -std::max(step, -dim) : 0;
    }
    // With at most one element the step is irrelevant; 1 keeps step *
    // stride products small.
    if (size <= 1)
      step = 1;
    dims[*axis] = {size > 0 ? start : 0, step, size};
  }
  return dims;
}

SmallVector<int64_t>
mlir::attn::onnx_import::stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

SmallVector<int64_t>
mlir::attn::onnx_import::broadcastIndices(ArrayRef<int64_t> inShape,
                                          ArrayRef<int64_t> outShape) {
  int64_t rank = outShape.size(), offset = rank - int64_t(inShape.size());
  SmallVector<int64_t> inStrides = stridesOf(inShape);
  // Stride of each output dim in the input (0 where it broadcasts).
  SmallVector<int64_t> step(rank, 0);
  for (int64_t d = offset; d < rank; ++d)
    if (inShape[d - offset] != 1 || outShape[d] == 1)
      step[d] = inShape[d - offset] == 1 ? 0 : inStrides[d - offset];
  SmallVector<int64_t> result;
  result.reserve(numElements(outShape));
  forEachStridedOffset(outShape, 0, step, [&](int64_t, int64_t in) {
    result.push_back(in);
  });
  return result;
}

void mlir::attn::onnx_import::forEachStridedOffset(
    ArrayRef<int64_t> shape, int64_t base, ArrayRef<int64_t> step,
    llvm::function_ref<void(int64_t, int64_t)> fn) {
  int64_t rank = shape.size(), total = numElements(shape);
  SmallVector<int64_t> index(rank, 0);
  int64_t in = base;
  for (int64_t n = 0; n < total; ++n) {
    fn(n, in);
    for (int64_t d = rank - 1; d >= 0; --d) {
      in += step[d];
      if (++index[d] < shape[d])
        break;
      in -= step[d] * shape[d];
      index[d] = 0;
    }
  }
}

/// Checks `shape` against the expected sizes (-1: any) and names the
/// operand and dimension on mismatch.
LogicalResult mlir::attn::onnx_import::expectShape(
    NodeContext &ctx, StringRef operand, ArrayRef<int64_t> shape,
    ArrayRef<int64_t> expected, ArrayRef<StringRef> dimNames) {
  if (shape.size() != expected.size())
    return ctx.emitError() << operand << " has shape " << formatShape(shape)
                           << "; expected rank " << expected.size();
  for (size_t i = 0; i < shape.size(); ++i)
    if (expected[i] >= 0 && shape[i] != expected[i])
      return ctx.emitError()
             << operand << " has shape " << formatShape(shape) << ": its "
             << dimNames[i] << " (dimension " << i << ") is " << shape[i]
             << " but must be " << expected[i];
  return success();
}
