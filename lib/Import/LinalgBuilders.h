//===- LinalgBuilders.h - tensor IR the importers share ---------*- C++ -*-===//
//
// Small builders over static-shaped tensors: numpy-broadcasting elementwise
// linalg.generic ops, reductions, reshapes, transposes and scalar casts.
// Everything stays on linalg/tensor/arith/math so the CPU pipeline can
// bufferise it and lower it with convert-linalg-to-loops.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_IMPORT_LINALGBUILDERS_H
#define ATTN_LIB_IMPORT_LINALGBUILDERS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace mlir::attn::onnx_import {

using ScalarBuilder =
    function_ref<Value(OpBuilder &, Location, ValueRange /*scalars*/)>;

ArrayRef<int64_t> shapeOf(Value tensor);
Type elementTypeOf(Value tensor);

Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                  Type elementType);
/// An integer gather index as an `index` into a dimension of size `dim`:
/// negative values count from the end, out-of-range ones clamp (ONNX leaves
/// them undefined; reading out of bounds is not an option).
Value gatherIndex(OpBuilder &b, Location loc, Value index, int64_t dim);
/// A scalar arith.constant of `type` (float or integer/bool) holding `v`.
Value scalarConstant(OpBuilder &b, Location loc, Type type, double v);
/// A tensor of `shape` filled with `v`.
Value filledTensor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                   Type elementType, double v);
Value filledTensor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                   Value scalar);

/// Converts a scalar between element types the way ONNX Cast does
/// (float->int truncates toward zero, x->bool is x != 0).
Value convertScalar(OpBuilder &b, Location loc, Value x, Type to);

/// out[i...] = body(in_0[bcast(i)], in_1[bcast(i)], ...), with each input's
/// shape aligned to the right of `outShape` and broadcast where its size is 1
/// (numpy rules; the caller has checked them).
Value buildElementwise(OpBuilder &b, Location loc, ValueRange inputs,
                       ArrayRef<int64_t> outShape, Type outElementType,
                       ScalarBuilder body);
/// Like buildElementwise, but the body also receives the loop indices
/// (`linalg.index`) after the scalars.
Value buildIndexedElementwise(OpBuilder &b, Location loc, ValueRange inputs,
                              ArrayRef<int64_t> outShape, Type outElementType,
                              ScalarBuilder body);

/// erf(x) of a float scalar as arith ops: the CPU pipeline has no lowering
/// for math.erf (no LLVM intrinsic), so it is spelt as Eigen's rational
/// approximation on [-4, 4] (absolute error below 5e-7 in f32).
Value buildErf(OpBuilder &b, Location loc, Value x);

/// Casts every element to `to`; the input itself when types agree.
Value buildCast(OpBuilder &b, Location loc, Value input, Type to);
/// Broadcasts `input` to `shape` (numpy rules).
Value buildBroadcast(OpBuilder &b, Location loc, Value input,
                     ArrayRef<int64_t> shape);

/// Reduces over `axes` (sorted, unique) with `combine(element, acc)`,
/// starting from `init`. Result keeps reduced dims as 1 when `keepDims`.
Value buildReduction(OpBuilder &b, Location loc, Value input,
                     ArrayRef<int64_t> axes, bool keepDims, Value init,
                     ScalarBuilder combine);

Value buildTranspose(OpBuilder &b, Location loc, Value input,
                     ArrayRef<int64_t> permutation);
/// Any static reshape with the same element count, as collapse_shape and/or
/// expand_shape over the coarsest common grouping of the two shapes.
Value buildReshape(OpBuilder &b, Location loc, Value input,
                   ArrayRef<int64_t> shape);

/// Softmax over the last dimension, computed in f32 (or f64) when the
/// element type is narrower; rows of -inf give 0.
Value buildSoftmaxLastDim(OpBuilder &b, Location loc, Value input);

/// A batched contraction out[batch..., m, n] = sum_k lhs[..., m, k] *
/// rhs[..., k, n] (rhs transposed when `transposeRhs`: [..., n, k]),
/// accumulating in `accType` and returning `outType` elements. Batch dims
/// broadcast numpy-style.
Value buildMatMul(OpBuilder &b, Location loc, Value lhs, Value rhs,
                  bool transposeRhs, Type accType, Type outType);

} // namespace mlir::attn::onnx_import

#endif // ATTN_LIB_IMPORT_LINALGBUILDERS_H
