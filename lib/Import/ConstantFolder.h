//===- ConstantFolder.h - import-time evaluation of shape subgraphs -*- C++
//-*-===//
//
// Host implementations of ONNX's data-movement operators on HostTensors.
// With every dimension static, the Shape -> Gather -> Concat -> Reshape
// chains of exported models evaluate at import time, so Reshape, Expand and
// Slice always see constant targets.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_IMPORT_CONSTANTFOLDER_H
#define ATTN_LIB_IMPORT_CONSTANTFOLDER_H

#include "HostTensor.h"
#include "ShapeUtils.h"

namespace mlir::attn::onnx_import {

/// Data-movement folds only copy bytes, so they may handle more elements
/// than arithmetic folds (weights that exports transpose or reshape).
constexpr int64_t kMaxCopyFoldElements = int64_t(1) << 26;

HostTensor hostReshape(const HostTensor &x, ArrayRef<int64_t> shape);
HostTensor hostTranspose(const HostTensor &x, ArrayRef<int64_t> permutation);
HostTensor hostSlice(const HostTensor &x, ArrayRef<SliceDim> dims);
HostTensor hostConcat(ArrayRef<const HostTensor *> inputs, int64_t axis);
/// `indices` already made non-negative and in range.
HostTensor hostGather(const HostTensor &data, ArrayRef<int64_t> indices,
                      ArrayRef<int64_t> indicesShape, int64_t axis);
HostTensor hostBroadcast(const HostTensor &x, ArrayRef<int64_t> shape);
/// A 1-D int64 tensor.
HostTensor hostInts(ArrayRef<int64_t> values);
/// A scalar or [1] int64 tensor.
HostTensor hostScalarInt(int64_t value, bool rank1 = false);

} // namespace mlir::attn::onnx_import

#endif // ATTN_LIB_IMPORT_CONSTANTFOLDER_H
