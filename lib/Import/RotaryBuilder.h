//===- RotaryBuilder.h - rotary position embeddings as linalg --*- C++ -*-===//
//
// The rotation of ONNX RotaryEmbedding, shared with ORT's
// GroupQueryAttention (do_rotary).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_IMPORT_ROTARYBUILDER_H
#define ATTN_LIB_IMPORT_ROTARYBUILDER_H

#include "mlir/IR/Builders.h"

namespace mlir::attn::onnx_import {

struct RotarySpec {
  /// [B, H, S, D] (4-D) or [B, S, H * D] (3-D).
  Value input;
  int64_t headSize = 0;
  /// The leading dims of each head that rotate (even); the rest pass.
  int64_t rotaryDim = 0;
  /// Pairs are (2i, 2i+1) rather than (i, i + rotaryDim / 2).
  bool interleaved = false;
  /// [positions, rotaryDim / 2] with `positions`, else [B, S, rotaryDim / 2].
  Value cosCache, sinCache;
  /// [B, S] integer positions into the caches, or null.
  Value positions;
};

/// x1 * cos - x2 * sin, x1 * sin + x2 * cos on each pair, in the input's
/// layout and type (computed in f32 for f16/bf16).
Value buildRotaryEmbedding(OpBuilder &b, Location loc, const RotarySpec &spec);

} // namespace mlir::attn::onnx_import

#endif // ATTN_LIB_IMPORT_ROTARYBUILDER_H
