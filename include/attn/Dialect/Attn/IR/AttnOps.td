//===- AttnOps.td - attn dialect operations ----------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
#define ATTN_DIALECT_ATTN_IR_ATTNOPS_TD

include "attn/Dialect/Attn/IR/AttnDialect.td"
include "mlir/Interfaces/DestinationStyleOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/OpAsmInterface.td"

def Attn_AnyShapedFloat : AnyTypeOf<[
    RankedTensorOf<[F16, BF16, F32]>, MemRefOf<[F16, BF16, F32]>]>;
def Attn_AnyShapedMask : AnyTypeOf<[
    RankedTensorOf<[I1, F16, BF16, F32]>, MemRefOf<[I1, F16, BF16, F32]>]>;
def Attn_AnyShapedLengths : AnyTypeOf<[
    RankedTensorOf<[I32, I64]>, MemRefOf<[I32, I64]>]>;
// A decode cache: a float type, or 8 bits (int8 / fp8 E4M3) with f32 scales.
def Attn_AnyShapedCache : AnyTypeOf<[
    RankedTensorOf<[F16, BF16, F32, I8, F8E4M3FN]>,
    MemRefOf<[F16, BF16, F32, I8, F8E4M3FN]>]>;
def Attn_AnyShapedScales : AnyTypeOf<[RankedTensorOf<[F32]>, MemRefOf<[F32]>]>;
// A tree mask over a decode's new tokens: i1, or i8 (bool as a byte).
def Attn_AnyShapedTreeMask : AnyTypeOf<[
    RankedTensorOf<[I1, I8]>, MemRefOf<[I1, I8]>]>;

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

def Attn_AttentionOp : Attn_Op<"attention", [
    AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
    DestinationStyleOpInterface]> {
  let summary = "Scaled dot-product attention with Hq query and Hkv key/value heads";
  let description = [{
    Computes, for every batch `b`, query head `h` and query row `i`,

    ```
    g      = h / (q_heads / kv_heads)                       // the shared KV head
    s[j]   = scale * dot(query[b, h, i], key[b, g, j])
    s[j]   = softcap * tanh(s[j] / softcap)                 // if softcap is set
    s[j]  += mask[b, h, i, j]  (additive float mask)
    s[j]   = -inf where mask[b, h, i, j] is false (boolean mask),
             where j > i + causal_offset (if causal), or
             where j >= kv_seq_lens[b] (if given), or
             where j < p - left or j > p + right (with window(left, right))
    out[b, h, i] = sum_j softmax(s)[j] * value[b, g, j]
    ```

    with `query : [B, Hq, Sq, D]`, `key : [B, Hkv, Skv, D]`,
    `value : [B, Hkv, Skv, Dv]`, `out : [B, Hq, Sq, Dv]`. The mask has rank 2
    (`[Sq, Skv]`), 3 (`[Hq, Sq, Skv]`) or 4 (`[B, Hq, Sq, Skv]`) and may have
    size 1 on any dimension to broadcast. The softmax is computed in f32 for
    f16/bf16 inputs. A row whose keys are all masked gives 0, never NaN.
    `causal(N)` keeps key `j` for query row `i` when `j <= i + N`: ONNX's
    alignment puts `N` at the past sequence length (0 without a past).

    `window(left, right)` is a sliding window: query row `i` stands at
    absolute position `p = i + N` (`N` the causal offset, 0 without
    `causal`) and sees only keys `j` with `p - left <= j <= p + right`; `-1`
    leaves that side unbounded. ONNX Runtime's `local_window_size = W` is
    `causal(N) window(W - 1, 0)` (W keys, the query's own included);
    Mistral's `sliding_window = W` is the same. The lowering visits only the
    keys inside the window, so its cost is O(window), not O(Skv).

    The op is in destination-passing style: it works on tensors (one result)
    or on memrefs (no result, writes `outs` in place).

    Example (grouped-query attention, 8 query heads sharing 2 KV heads):

    ```mlir
    %o = attn.attention heads(8, 2) scale(0.25) causal(0)
           ins(%q, %k, %v : tensor<1x8x16x16xf32>, tensor<1x2x16x16xf32>,
                            tensor<1x2x16x16xf32>)
           outs(%init : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
    ```
  }];

  let arguments = (ins
    Attn_AnyShapedFloat:$query,
    Attn_AnyShapedFloat:$key,
    Attn_AnyShapedFloat:$value,
    Optional<Attn_AnyShapedMask>:$mask,
    Optional<Attn_AnyShapedLengths>:$kv_seq_lens,
    Attn_AnyShapedFloat:$init,
    I64Attr:$q_heads,
    I64Attr:$kv_heads,
    F64Attr:$scale,
    OptionalAttr<I64Attr>:$causal_offset,
    OptionalAttr<F64Attr>:$softcap,
    OptionalAttr<I64Attr>:$window_left,
    OptionalAttr<I64Attr>:$window_right
  );
  let results = (outs Variadic<AnyRankedTensor>:$results);

  // The form without a window, as before windows existed.
  let builders = [
    OpBuilder<(ins "TypeRange":$results, "Value":$query, "Value":$key,
                   "Value":$value, "Value":$mask, "Value":$kv_seq_lens,
                   "Value":$init, "IntegerAttr":$q_heads,
                   "IntegerAttr":$kv_heads, "FloatAttr":$scale,
                   "IntegerAttr":$causal_offset, "FloatAttr":$softcap), [{
      build($_builder, $_state, results, query, key, value, mask, kv_seq_lens,
            init, q_heads, kv_heads, scale, causal_offset, softcap,
            IntegerAttr(), IntegerAttr());
    }]>
  ];

  let assemblyFormat = [{
    `heads` `(` $q_heads `,` $kv_heads `)` `scale` `(` $scale `)`
    (`causal` `(` $causal_offset^ `)`)? (`softcap` `(` $softcap^ `)`)?
    (`window` `(` $window_left^ `,` $window_right `)`)?
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,`
              type($value) `)`
    (`mask` `(` $mask^ `:` type($mask) `)`)?
    (`kv_seq_lens` `(` $kv_seq_lens^ `:` type($kv_seq_lens) `)`)?
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($results)^)?
  }];

  let extraClassDeclaration = [{
    /// Query heads that share one key/value head.
    int64_t getGroupSize() { return getQHeads() / getKvHeads(); }
    bool isCausal() { return getCausalOffset().has_value(); }
    /// The window's bound on each side; nullopt when unbounded (no window,
    /// or -1).
    std::optional<int64_t> getWindowLeftBound() {
      if (auto a = getWindowLeftAttr(); a && a.getInt() >= 0)
        return a.getInt();
      return std::nullopt;
    }
    std::optional<int64_t> getWindowRightBound() {
      if (auto a = getWindowRightAttr(); a && a.getInt() >= 0)
        return a.getInt();
      return std::nullopt;
    }
    ShapedType getQueryType() { return ::llvm::cast<ShapedType>(getQuery().getType()); }
    ShapedType getKeyType() { return ::llvm::cast<ShapedType>(getKey().getType()); }
    ShapedType getValueType() { return ::llvm::cast<ShapedType>(getValue().getType()); }
    ShapedType getInitType() { return ::llvm::cast<ShapedType>(getInit().getType()); }
    MutableOperandRange getDpsInitsMutable() { return getInitMutable(); }
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// DecodeOp
//===----------------------------------------------------------------------===//

def Attn_DecodeOp : Attn_Op<"decode", [
    AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
    DestinationStyleOpInterface]> {
  let summary = "Append new keys/values into a KV cache in place and attend over its valid prefix";
  let description = [{
    The incremental-decode form of `attn.attention`. With
    `key_cache : [B, Hkv, Smax, D]`, `value_cache : [B, Hkv, Smax, Dv]` and
    `Sn` new keys/values `key : [B, Hkv, Sn, D]`, `value : [B, Hkv, Sn, Dv]`
    at `pos[b]`, the op

    1. writes `key_cache[b, :, pos[b] + t] = key[b, :, t]` (same for values),
       for `t < Sn`, in place;
    2. computes `attn.attention` of `query : [B, Hq, Sq, D]` over the valid
       prefix `[0, pos[b] + Sn)` of row `b` of the caches, where query row `i`
       stands at absolute position `pos[b] + Sn - Sq + i` (for `causal` and
       `window`).

    The position is either one `index` for the whole batch,
    `position(%p)` (`pos[b] = %p`), or one per batch row,
    `positions(%pos : tensor<Bxi64>)` (i32 or i64), so that a batch mixes
    sequences of different lengths with no padding mask. Exactly one of the
    two is given. A position with `pos[b] < 0` or `pos[b] + Sn > Smax` is a
    run-time error: the compiled code reports it (naming the operand's input
    and the capacity) and writes neither the caches nor meaningful outputs.

    `window(left, right)` restricts query position `p` to the keys
    `[p - left, p + right]` (`-1`: unbounded), as on `attn.attention`; the
    lowering reads only those keys, so a step costs O(window).

    **Paged caches.** With `block_table(%table : tensor<BxMxi32>)` (i32 or
    i64, `M` = max_pages) the caches are page pools shared by the batch,
    `key_cache : [num_pages, Hkv, page_size, D]` and
    `value_cache : [num_pages, Hkv, page_size, Dv]` (vLLM's layout): logical
    position `t` of row `b` lives in page `table[b, t / page_size]` at slot
    `t % page_size`. Row `b`'s capacity is `M * page_size`, and everything
    above holds with `key_cache[b, :, t]` read as that slot. A paged decode
    takes `positions` (per-row state is what paging is for). The append
    writes each new entry into the page that holds its position; the
    lowering reads keys and values through the table in place, never
    gathering them into a contiguous copy. The table entries of the pages
    covering `[0, pos[b] + Sn)` must lie in `[0, num_pages)`; another entry
    there, like a position past the capacity, is a run-time error reported
    the same way (entries past those pages are never read). Rows must not
    append into the same slot of a shared page (which write wins is
    unspecified); sharing read-only prefix pages is fine.

    The caches are destinations: after bufferisation the append is a store
    into the cache buffer, so a decode step costs O(Sn) cache writes, not a
    copy of the whole cache. The optional mask spans the whole cache
    (`[..., Sq, Smax]`); positions at or past `pos[b] + Sn` are never read.

    ```mlir
    %o, %kc, %vc = attn.decode heads(8, 2) scale(0.25) causal
        ins(%q, %k, %v : tensor<1x8x1x16xf32>, tensor<1x2x1x16xf32>,
                         tensor<1x2x1x16xf32>)
        position(%pos)
        outs(%init, %kcache, %vcache : tensor<1x8x1x16xf32>,
             tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>)
        -> tensor<1x8x1x16xf32>, tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>
    ```

    Quantised caches: `key_cache`/`value_cache` may hold 8-bit codes, `i8`
    (int8) or `f8E4M3FN` (fp8 E4M3), with `cache_scales(%ks, %vs)`, two f32
    `[B, Hkv]` tensors: one scale per batch row and KV head. The append
    writes `q = clamp(roundeven(x / s), -127, 127)` (int8) or `x / s`
    rounded to nearest-even E4M3 and saturated to +-448 (fp8); the
    attention reads `q * s`, accumulating in f32. Scales are given iff the
    caches are 8-bit; otherwise a cache may be any float type (it is
    converted on append and widened to f32 on read). Queries, new
    keys/values and the output stay float.

    **Tree masks (speculative-decode verification).** With
    `tree_mask(%m : tensor<BxSnxSnxi1>)` (or `[Sn, Sn]`, shared by the
    batch; `i1` or `i8`, nonzero keeps) the `Sn` new tokens of a row are
    the nodes of a draft tree and `Sq == Sn`: new query row `i` sees every
    key before `pos[b]` and new token `t` (at position `pos[b] + t`) iff
    `tree_mask[b, i, t]`. The tree mask is ANDed with every other rule:
    `causal` (which then only hides `t > i`: put the tree in topological
    order, parents before children), `window` (measured on cache
    positions: row `i` stands at `pos[b] + i`), the full `mask`, paged,
    ring and 8-bit caches. The append is unchanged (every draft token is
    written; the caller rewinds `pos` past the rejected ones).

    **Ring-buffer caches (window layers).** With `ring` the caches of a
    layer with a left-bounded causal window, `causal window(L, 0)`, hold
    only `W = Smax >= L + Sq` positions: absolute position `t` lives in
    slot `t % W`, so positions run past `W` without bound (a negative
    position is still an error). The append writes `pos[b] + t` into slot
    `(pos[b] + t) % W`, overwriting position `pos[b] + t - W`, which no
    query of this or a later step can see. The lowering reads only the
    window's slots (O(L + Sq) per row). A ring decode takes no
    `block_table` and no full `mask` (its last dimension would be the
    unbounded position).

    ```mlir
    %o, %kc, %vc = attn.decode heads(8, 2) scale(0.25) causal window(127, 0) ring
        ins(%q, %k, %v : tensor<4x8x4x16xf32>, tensor<4x2x4x16xf32>,
                         tensor<4x2x4x16xf32>)
        positions(%pos : tensor<4xi64>)
        tree_mask(%tree : tensor<4x4x4xi1>)
        outs(%init, %kring, %vring : tensor<4x8x4x16xf32>,
             tensor<4x2x132x16xf32>, tensor<4x2x132x16xf32>)
        -> tensor<4x8x4x16xf32>, tensor<4x2x132x16xf32>, tensor<4x2x132x16xf32>
    ```

    A ragged batch of 4 sequences with a 4096-key sliding window:

    ```mlir
    %o, %kc, %vc = attn.decode heads(8, 2) scale(0.25) causal window(4095, 0)
        ins(%q, %k, %v : tensor<4x8x1x16xf32>, tensor<4x2x1x16xf32>,
                         tensor<4x2x1x16xf32>)
        positions(%pos : tensor<4xi64>)
        outs(%init, %kcache, %vcache : tensor<4x8x1x16xf32>,
             tensor<4x2x8192x16xf32>, tensor<4x2x8192x16xf32>)
        -> tensor<4x8x1x16xf32>, tensor<4x2x8192x16xf32>, tensor<4x2x8192x16xf32>
    ```

    Four sequences over a pool of 64 pages of 16 positions, up to 8 pages
    (128 positions) each:

    ```mlir
    %o, %kp, %vp = attn.decode heads(8, 2) scale(0.25) causal
        ins(%q, %k, %v : tensor<4x8x1x16xf32>, tensor<4x2x1x16xf32>,
                         tensor<4x2x1x16xf32>)
        positions(%pos : tensor<4xi32>)
        block_table(%table : tensor<4x8xi32>)
        outs(%init, %kpool, %vpool : tensor<4x8x1x16xf32>,
             tensor<64x2x16x16xf32>, tensor<64x2x16x16xf32>)
        -> tensor<4x8x1x16xf32>, tensor<64x2x16x16xf32>, tensor<64x2x16x16xf32>
    ```

    **Latent caches (multi-head latent attention).** With `latent(r)` the
    op is DeepSeek's absorbed MLA decode: `key_cache : [B, 1, Smax, r]`
    holds the latent `c_t` and `value_cache : [B, 1, Smax, rope]` the
    shared rotary key `R_t`; key row `t` is `concat(c_t, R_t)` (head size
    `D = r + rope`) and value row `t` is `c_t` itself (`Dv = r`), so every
    cached element is stored once. The new `key : [B, 1, Sn, r]` and
    `value : [B, 1, Sn, rope]` are the new latent and rotary parts,
    appended at the position as usual. Needs `heads(Hq, 1)`, a query of
    width `r + rope` and an init of width `r`; not with paged, 8-bit, ring
    caches or a tree mask.

    ```mlir
    %o, %lat, %rot = attn.decode heads(16, 1) scale(0.07) causal latent(128)
        ins(%q, %c, %r : tensor<1x16x1x160xf32>, tensor<1x1x1x128xf32>,
                         tensor<1x1x1x32xf32>)
        position(%pos)
        outs(%init, %lcache, %rcache : tensor<1x16x1x128xf32>,
             tensor<1x1x4096x128xf32>, tensor<1x1x4096x32xf32>)
        -> tensor<1x16x1x128xf32>, tensor<1x1x4096x128xf32>, tensor<1x1x4096x32xf32>
    ```
  }];

  let arguments = (ins
    Attn_AnyShapedFloat:$query,
    Attn_AnyShapedFloat:$key,
    Attn_AnyShapedFloat:$value,
    Optional<Index>:$position,
    Optional<Attn_AnyShapedLengths>:$positions,
    Optional<Attn_AnyShapedLengths>:$block_table,
    Optional<Attn_AnyShapedMask>:$mask,
    Attn_AnyShapedFloat:$init,
    Attn_AnyShapedCache:$key_cache,
    Attn_AnyShapedCache:$value_cache,
    Optional<Attn_AnyShapedScales>:$key_scale,
    Optional<Attn_AnyShapedScales>:$value_scale,
    Optional<Attn_AnyShapedTreeMask>:$tree_mask,
    I64Attr:$q_heads,
    I64Attr:$kv_heads,
    F64Attr:$scale,
    UnitAttr:$causal,
    OptionalAttr<F64Attr>:$softcap,
    OptionalAttr<I64Attr>:$window_left,
    OptionalAttr<I64Attr>:$window_right,
    UnitAttr:$ring,
    OptionalAttr<I64Attr>:$latent
  );
  let results = (outs Variadic<AnyRankedTensor>:$results);

  // One position for the whole batch and no window, as before those existed.
  let builders = [
    OpBuilder<(ins "TypeRange":$results, "Value":$query, "Value":$key,
                   "Value":$value, "Value":$position, "Value":$mask,
                   "Value":$init, "Value":$key_cache, "Value":$value_cache,
                   "IntegerAttr":$q_heads, "IntegerAttr":$kv_heads,
                   "FloatAttr":$scale, "UnitAttr":$causal,
                   "FloatAttr":$softcap), [{
      build($_builder, $_state, results, query, key, value, position,
            Value(), Value(), mask, init, key_cache, value_cache, Value(),
            Value(), Value(), q_heads, kv_heads, scale, causal, softcap,
            IntegerAttr(), IntegerAttr(), UnitAttr(), IntegerAttr());
    }]>,
    // Contiguous float caches (no block table, no cache_scales), every
    // other operand and attribute.
    OpBuilder<(ins "TypeRange":$results, "Value":$query, "Value":$key,
                   "Value":$value, "Value":$position, "Value":$positions,
                   "Value":$mask, "Value":$init, "Value":$key_cache,
                   "Value":$value_cache, "IntegerAttr":$q_heads,
                   "IntegerAttr":$kv_heads, "FloatAttr":$scale,
                   "UnitAttr":$causal, "FloatAttr":$softcap,
                   "IntegerAttr":$window_left, "IntegerAttr":$window_right), [{
      build($_builder, $_state, results, query, key, value, position,
            positions, Value(), mask, init, key_cache, value_cache, Value(),
            Value(), Value(), q_heads, kv_heads, scale, causal, softcap,
            window_left, window_right, UnitAttr(), IntegerAttr());
    }]>,
    // Every operand and attribute but the tree mask and the ring layout.
    OpBuilder<(ins "TypeRange":$results, "Value":$query, "Value":$key,
                   "Value":$value, "Value":$position, "Value":$positions,
                   "Value":$block_table, "Value":$mask, "Value":$init,
                   "Value":$key_cache, "Value":$value_cache,
                   "Value":$key_scale, "Value":$value_scale,
                   "IntegerAttr":$q_heads, "IntegerAttr":$kv_heads,
                   "FloatAttr":$scale, "UnitAttr":$causal,
                   "FloatAttr":$softcap, "IntegerAttr":$window_left,
                   "IntegerAttr":$window_right), [{
      build($_builder, $_state, results, query, key, value, position,
            positions, block_table, mask, init, key_cache, value_cache,
            key_scale, value_scale, Value(), q_heads, kv_heads, scale, causal,
            softcap, window_left, window_right, UnitAttr(), IntegerAttr());
    }]>
  ];

  let assemblyFormat = [{
    `heads` `(` $q_heads `,` $kv_heads `)` `scale` `(` $scale `)`
    (`causal` $causal^)? (`softcap` `(` $softcap^ `)`)?
    (`window` `(` $window_left^ `,` $window_right `)`)? (`ring` $ring^)?
    (`latent` `(` $latent^ `)`)?
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,`
              type($value) `)`
    (`position` `(` $position^ `)`)?
    (`positions` `(` $positions^ `:` type($positions) `)`)?
    (`block_table` `(` $block_table^ `:` type($block_table) `)`)?
    (`mask` `(` $mask^ `:` type($mask) `)`)?
    (`tree_mask` `(` $tree_mask^ `:` type($tree_mask) `)`)?
    `outs` `(` $init `,` $key_cache `,` $value_cache `:` type($init) `,`
              type($key_cache) `,` type($value_cache) `)`
    (`cache_scales` `(` $key_scale^ `,` $value_scale `:` type($key_scale) `,`
                    type($value_scale) `)`)?
    attr-dict (`->` type($results)^)?
  }];

  let extraClassDeclaration = [{
    int64_t getGroupSize() { return getQHeads() / getKvHeads(); }
    /// Whether the caches hold 8-bit codes (int8 or fp8 E4M3) dequantised
    /// with key_scale / value_scale.
    bool hasQuantizedCache() {
      return ::mlir::attn::isQuantizedCacheType(getKeyCacheType().getElementType());
    }
    /// The window's bound on each side; nullopt when unbounded (no window,
    /// or -1).
    std::optional<int64_t> getWindowLeftBound() {
      if (auto a = getWindowLeftAttr(); a && a.getInt() >= 0)
        return a.getInt();
      return std::nullopt;
    }
    std::optional<int64_t> getWindowRightBound() {
      if (auto a = getWindowRightAttr(); a && a.getInt() >= 0)
        return a.getInt();
      return std::nullopt;
    }
    ShapedType getQueryType() { return ::llvm::cast<ShapedType>(getQuery().getType()); }
    ShapedType getKeyType() { return ::llvm::cast<ShapedType>(getKey().getType()); }
    ShapedType getValueType() { return ::llvm::cast<ShapedType>(getValue().getType()); }
    ShapedType getInitType() { return ::llvm::cast<ShapedType>(getInit().getType()); }
    ShapedType getKeyCacheType() { return ::llvm::cast<ShapedType>(getKeyCache().getType()); }
    ShapedType getValueCacheType() { return ::llvm::cast<ShapedType>(getValueCache().getType()); }
    /// Whether the caches are page pools read through `block_table`.
    bool isPaged() { return static_cast<bool>(getBlockTable()); }
    /// Whether the caches are rings of Smax slots (position t in t % Smax).
    bool isRing() { return getRing(); }
    /// Whether this is the latent (MLA) form: key_cache holds the latent,
    /// value_cache the rotary key, and the value row is the latent.
    bool isLatent() { return static_cast<bool>(getLatentAttr()); }
    /// Positions each batch row can hold: Smax, or max_pages * page_size
    /// when paged (dynamic when either is).
    int64_t getCacheCapacity();
    MutableOperandRange getDpsInitsMutable() {
      return MutableOperandRange(getOperation(), getInitMutable().getOperandNumber(), 3);
    }
  }];
  let hasVerifier = 1;
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
