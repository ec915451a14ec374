//===- HeadPooling.h - build head pooling, mapping and repeating -*- C++ -*-===//
//
// The linalg IR attn-share-kv builds over [B, H, S, D] tensors: pooling
// groups of heads into one, a per-head linear map, and the repeat that
// expands shared heads back to their groups for callers.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_DIALECT_ATTN_TRANSFORMS_HEADPOOLING_H
#define ATTN_LIB_DIALECT_ATTN_TRANSFORMS_HEADPOOLING_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

namespace mlir::attn {

/// [B, H, S, D] -> [B, N, S, D]: new head n is sum_r w[n * g + r] * head
/// n * g + r (g = H / N), with w = 1 / g when `weights` is empty (mean).
Value poolHeads(OpBuilder &b, Location loc, Value x, int64_t newHeads,
                ArrayRef<double> weights);

/// x [B, H, S, W] -> y with y[b, h, s, :] = maps[h] (W x W) * x[b, h, s, :].
Value mapHeads(OpBuilder &b, Location loc, Value x, DenseElementsAttr maps);

/// [B, N, S, D] -> `type` = [B, N * g, S, D], each head repeated g times
/// in place (repeat_kv).
Value repeatHeads(OpBuilder &b, Location loc, Value x, RankedTensorType type);

} // namespace mlir::attn

#endif // ATTN_LIB_DIALECT_ATTN_TRANSFORMS_HEADPOOLING_H
