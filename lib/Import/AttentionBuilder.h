//===- AttentionBuilder.h - attention over [B, H, S, D] tensors -*- C++ -*-===//
//
// The part of attention import shared by ONNX Attention and ORT's
// GroupQueryAttention / MultiHeadAttention: the attn.attention op, and a
// decomposed form that materialises the scores for ONNX's optional
// qk_matmul_output.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_IMPORT_ATTENTIONBUILDER_H
#define ATTN_LIB_IMPORT_ATTENTIONBUILDER_H

#include "mlir/IR/Builders.h"

#include <optional>

namespace mlir::attn::onnx_import {

class NodeContext;

/// Prepends the node's past keys and values (inputs `pastKey` and
/// `pastKey` + 1, [batch, heads, P, keyDim / valueDim]) to `k` and `v`
/// along the sequence axis (none when P = 0); returns P. Fails, naming the
/// operand and dimension (`dimNames`), on other shapes.
FailureOr<int64_t> prependPast(NodeContext &ctx, OpBuilder &b, Location loc,
                               unsigned pastKey, int64_t batch, int64_t heads,
                               int64_t keyDim, int64_t valueDim,
                               ArrayRef<StringRef> dimNames, Value &k,
                               Value &v);

struct AttentionSpec {
  Value query, key, value; ///< [B, Hq, Sq, D], [B, Hkv, T, D], [B, Hkv, T, Dv]
  int64_t qHeads = 0, kvHeads = 0;
  double scale = 1.0;
  /// Rank 2-4, broadcastable to [B, Hq, Sq, T]; i1 (true keeps) or float
  /// (added to the scores). Null if none.
  Value mask;
  /// [B] i32/i64: keys at or past kvLens[b] are masked. Null if none.
  Value kvLens;
  /// Key j is masked for query row i when j > i + offset.
  std::optional<int64_t> causalOffset;
  /// softcap * tanh(s / softcap) when > 0.
  double softcap = 0.0;
  /// Sliding window: the query at position p sees keys [p - left, p + right]
  /// (nullopt: unbounded; attn's window(left, right)).
  std::optional<int64_t> windowLeft, windowRight;
};

/// [B, S, H*D] -> [B, H, S, D].
Value splitHeads(OpBuilder &b, Location loc, Value x, int64_t heads);
/// [B, H, S, D] -> [B, S, H*D].
Value mergeHeads(OpBuilder &b, Location loc, Value x);

/// If `kv` ([B, H, T, D]) is a `repeat_kv` of exported GQA models -- the
/// collapse of [B, Hkv, G, T, D] broadcast over G from [B, Hkv, (1,) T, D]
/// -- returns the [B, Hkv, T, D] source and G, so attention can read the
/// Hkv heads directly instead of their copies.
std::optional<std::pair<Value, int64_t>> peelRepeatKV(OpBuilder &b,
                                                      Location loc, Value kv);

/// attn.attention computing [B, Hq, Sq, Dv] in the query's element type;
/// softcap is applied before the mask (the op's semantics). `source` goes to
/// the `attn.source` attribute read by `attn-compile --report`.
Value buildAttentionOp(OpBuilder &b, Location loc, const AttentionSpec &spec,
                       StringRef source);

/// attn.decode: appends spec.key/spec.value ([B, Hkv, Sn, *]) into
/// `keyCache`/`valueCache` ([B, Hkv, Smax, *]) at `positions` ([B] i64,
/// one per batch row) and attends over each row's prefix [0, pos[b] + Sn),
/// causal when spec.causalOffset is set (its value is not used: query row i
/// stands at pos[b] + Sn - Sq + i). spec.mask spans the whole cache. Returns
/// the output and both updated caches.
SmallVector<Value> buildDecodeOp(OpBuilder &b, Location loc,
                                 const AttentionSpec &spec, Value positions,
                                 Value keyCache, Value valueCache,
                                 StringRef source);

/// The scores of a decomposed attention, in f32 (f64 for f64 inputs),
/// each [B, Hq, Sq, T]; and the output in the query's type.
struct DecomposedAttention {
  Value scaled;  ///< scale * Q K^T
  Value capped;  ///< softcap(scaled) (= scaled without softcap)
  Value biased;  ///< + mask, -inf where masked (causal, lengths, window,
                 ///< bool mask)
  Value weights; ///< softmax(biased); rows with every key masked are 0
  Value output;  ///< weights V, [B, Hq, Sq, Dv]
};

/// Builds every stage in the op's order: scale, softcap, mask, softmax.
DecomposedAttention buildDecomposedAttention(OpBuilder &b, Location loc,
                                             const AttentionSpec &spec);

} // namespace mlir::attn::onnx_import

#endif // ATTN_LIB_IMPORT_ATTENTIONBUILDER_H
