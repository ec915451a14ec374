//===- ShapeUtils.h - static shape rules shared by import and folding -*- C++
//-*-===//
//
// ONNX's shape rules (numpy broadcasting, negative axes, Reshape's 0/-1,
// Slice's clamping) in one place, so that an op imported as IR and the same
// op folded at import time agree. Each helper reports errors at the node.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_IMPORT_SHAPEUTILS_H
#define ATTN_LIB_IMPORT_SHAPEUTILS_H

#include "ImportContext.h"

namespace mlir::attn::onnx_import {

/// "[2, 3, 4]".
std::string formatShape(ArrayRef<int64_t> shape);

/// The numpy broadcast of `shapes`; an error naming them if incompatible.
FailureOr<SmallVector<int64_t>>
broadcastShapes(NodeContext &ctx, ArrayRef<ArrayRef<int64_t>> shapes);

/// `axis` in [-rank, rank) made non-negative; an error otherwise.
FailureOr<int64_t> normalizeAxis(NodeContext &ctx, int64_t axis, int64_t rank);
/// Normalises and sorts `axes`; an error on duplicates.
FailureOr<SmallVector<int64_t>>
normalizeAxes(NodeContext &ctx, ArrayRef<int64_t> axes, int64_t rank);

/// Reshape's target with 0 (copy, unless `allowZero`) and -1 (infer).
FailureOr<SmallVector<int64_t>> inferReshape(NodeContext &ctx,
                                             ArrayRef<int64_t> input,
                                             ArrayRef<int64_t> target,
                                             bool allowZero);

/// One sliced dimension: elements start, start + step, ... (size of them).
struct SliceDim {
  int64_t start = 0, step = 1, size = 0;
};
/// Slice's per-dimension ranges (every dim; untouched ones are full).
FailureOr<SmallVector<SliceDim>>
inferSlice(NodeContext &ctx, ArrayRef<int64_t> shape, ArrayRef<int64_t> starts,
           ArrayRef<int64_t> ends, ArrayRef<int64_t> axes,
           ArrayRef<int64_t> steps);

/// Checks `shape` against `expected` (-1: any size); the error names the
/// operand and the dimension (`dimNames[i]`).
LogicalResult expectShape(NodeContext &ctx, StringRef operand,
                          ArrayRef<int64_t> shape, ArrayRef<int64_t> expected,
                          ArrayRef<StringRef> dimNames);

/// Row-major strides.
SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape);

/// For each element of `outShape` (row-major), the index of the element of
/// an input of `inShape` broadcast to it.
SmallVector<int64_t> broadcastIndices(ArrayRef<int64_t> inShape,
                                      ArrayRef<int64_t> outShape);

/// Visits the elements of `shape` in row-major order: fn(n, offset) for
/// the n-th element, offset = base + sum_d index[d] * step[d] (the input
/// element of a strided view: a transpose, slice or broadcast).
void forEachStridedOffset(ArrayRef<int64_t> shape, int64_t base,
                          ArrayRef<int64_t> step,
                          llvm::function_ref<void(int64_t, int64_t)> fn);

} // namespace mlir::attn::onnx_import

#endif // ATTN_LIB_IMPORT_SHAPEUTILS_H
