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
             where j >= kv_seq_lens[b] (if given)
    out[b, h, i] = sum_j softmax(s)[j] * value[b, g, j]
    ```

    with `query : [B, Hq, Sq, D]`, `key : [B, Hkv, Skv, D]`,
    `value : [B, Hkv, Skv, Dv]`, `out : [B, Hq, Sq, Dv]`. The mask has rank 2
    (`[Sq, Skv]`), 3 (`[Hq, Sq, Skv]`) or 4 (`[B, Hq, Sq, Skv]`) and may have
    size 1 on any dimension to broadcast. The softmax is computed in f32 for
    f16/bf16 inputs. A row whose keys are all masked gives 0, never NaN.
    `causal(N)` keeps key `j` for query row `i` when `j <= i + N`: ONNX's
    alignment puts `N` at the past sequence length (0 without a past).

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
    OptionalAttr<F64Attr>:$softcap
  );
  let results = (outs Variadic<AnyRankedTensor>:$results);

  let assemblyFormat = [{
    `heads` `(` $q_heads `,` $kv_heads `)` `scale` `(` $scale `)`
    (`causal` `(` $causal_offset^ `)`)? (`softcap` `(` $softcap^ `)`)?
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
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
    DestinationStyleOpInterface]> {
  let summary = "Append new keys/values into a KV cache in place and attend over its valid prefix";
  let description = [{
    The incremental-decode form of `attn.attention`. With
    `key_cache : [B, Hkv, Smax, D]`, `value_cache : [B, Hkv, Smax, Dv]` and
    `Sn` new keys/values `key : [B, Hkv, Sn, D]`, `value : [B, Hkv, Sn, Dv]`
    at `position`, the op

    1. writes `key_cache[:, :, position + t] = key[:, :, t]` (same for values),
       for `t < Sn`, in place;
    2. computes `attn.attention` of `query : [B, Hq, Sq, D]` over the valid
       prefix `[0, position + Sn)` of the caches, where query row `i` stands at
       absolute position `position + Sn - Sq + i` (for `causal`).

    The caches are destinations: after bufferisation the append is a store
    into the cache buffer, so a decode step costs O(Sn) cache writes, not a
    copy of the whole cache. The optional mask spans the whole cache
    (`[..., Sq, Smax]`); positions at or past `position + Sn` are never read.

    ```mlir
    %o, %kc, %vc = attn.decode heads(8, 2) scale(0.25) causal
        ins(%q, %k, %v : tensor<1x8x1x16xf32>, tensor<1x2x1x16xf32>,
                         tensor<1x2x1x16xf32>)
        position(%pos)
        outs(%init, %kcache, %vcache : tensor<1x8x1x16xf32>,
             tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>)
        -> tensor<1x8x1x16xf32>, tensor<1x2x128x16xf32>, tensor<1x2x128x16xf32>
    ```
  }];

  let arguments = (ins
    Attn_AnyShapedFloat:$query,
    Attn_AnyShapedFloat:$key,
    Attn_AnyShapedFloat:$value,
    Index:$position,
    Optional<Attn_AnyShapedMask>:$mask,
    Attn_AnyShapedFloat:$init,
    Attn_AnyShapedFloat:$key_cache,
    Attn_AnyShapedFloat:$value_cache,
    I64Attr:$q_heads,
    I64Attr:$kv_heads,
    F64Attr:$scale,
    UnitAttr:$causal,
    OptionalAttr<F64Attr>:$softcap
  );
  let results = (outs Variadic<AnyRankedTensor>:$results);

  let assemblyFormat = [{
    `heads` `(` $q_heads `,` $kv_heads `)` `scale` `(` $scale `)`
    (`causal` $causal^)? (`softcap` `(` $softcap^ `)`)?
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,`
              type($value) `)`
    `position` `(` $position `)`
    (`mask` `(` $mask^ `:` type($mask) `)`)?
    `outs` `(` $init `,` $key_cache `,` $value_cache `:` type($init) `,`
              type($key_cache) `,` type($value_cache) `)`
    attr-dict (`->` type($results)^)?
  }];

  let extraClassDeclaration = [{
    int64_t getGroupSize() { return getQHeads() / getKvHeads(); }
    ShapedType getQueryType() { return ::llvm::cast<ShapedType>(getQuery().getType()); }
    ShapedType getKeyType() { return ::llvm::cast<ShapedType>(getKey().getType()); }
    ShapedType getValueType() { return ::llvm::cast<ShapedType>(getValue().getType()); }
    ShapedType getInitType() { return ::llvm::cast<ShapedType>(getInit().getType()); }
    ShapedType getKeyCacheType() { return ::llvm::cast<ShapedType>(getKeyCache().getType()); }
    ShapedType getValueCacheType() { return ::llvm::cast<ShapedType>(getValueCache().getType()); }
    MutableOperandRange getDpsInitsMutable() {
      return MutableOperandRange(getOperation(), getInitMutable().getOperandNumber(), 3);
    }
  }];
  let hasVerifier = 1;
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
