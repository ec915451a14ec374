//===- Passes.td - attn dialect transformation passes ------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
#define ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnRaiseAttention : Pass<"attn-raise-attention", "func::FuncOp"> {
  let summary = "Raise decomposed attention in linalg-on-tensors IR to attn.attention";
  let description = [{
    Finds `softmax(scale * Q K^T [softcapped] [+ mask]) V` spelled with linalg
    ops on tensors, as the ONNX importer and torch-mlir emit it: contractions
    as `linalg.matmul`/`linalg.batch_matmul`/`linalg.generic` (4-D, or 3-D
    over collapsed batch and head dims), transposes of K however they are
    written, the scale on the scores or split as a square root over Q and K,
    additive and boolean masks, softcap (`c * tanh(s / c)`), and softmax as
    `linalg.softmax` or decomposed (max, sub, exp, sum, div). The `repeat_kv`
    broadcasts in front of K and V (unsqueeze + broadcast + collapse, or a
    broadcast over the head axis as GPT-BigCode's single KV head) are folded
    away: the raised op reads the KV heads as they are and records their true
    count, so K and V are never materialised per query head.

    Anything that is not exactly attention is left alone: a repeat in the
    wrong head order (tile instead of interleave), a contraction accumulating
    into a non-zero init, a reduction over another dimension, or a softmax of
    something other than the scores. Matching is pure analysis (the reshapes
    that peeling `repeat_kv` needs and the combined mask are only planned), so
    a near miss found late leaves the IR exactly as it was.

    Example:

    ```mlir
    %kr = linalg.broadcast ins(%k : tensor<1x2x16x8xf32>)
            outs(%e5 : tensor<1x2x4x16x8xf32>) dimensions = [2]
    %kc = tensor.collapse_shape %kr [[0], [1, 2], [3], [4]]
            : tensor<1x2x4x16x8xf32> into tensor<1x8x16x8xf32>
    ... Q K^T, scale, softmax, P V over %kc and the same for V ...
    ```

    becomes

    ```mlir
    %o = attn.attention heads(8, 2) scale(0.35355) ins(%q, %k, %v : ...)
           outs(%init : tensor<1x8x16x8xf32>) -> tensor<1x8x16x8xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::attn::AttnDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def AttnShareKV : Pass<"attn-share-kv", "ModuleOp"> {
  let summary = "Convert attention to fewer key/value heads (MHA to GQA/MQA)";
  let description = [{
    Rewrites every `attn.attention` with more than `kv-heads` KV heads so
    that groups of `Hkv / kv-heads` consecutive KV heads share one; an op
    that already has `kv-heads` or fewer is left as it is (models that mix
    MHA and GQA layers). It converts as the GQA paper (Ainslie et al. 2023)
    converts a multi-head checkpoint: the shared head is the mean of the group (`method=mean`), or the group's
    heads when they are all identical (`method=exact`, lossless; refused
    otherwise). Pooling is linear, so pooling the new keys and values equals
    pooling the projection weights and biases (rotary embeddings rotate every
    head alike, so they commute with it).

    A KV cache stays at the new head count: when K or V is
    `tensor.concat(past, new)` on the sequence dimension, only `new` is
    pooled and a `past` function argument shrinks to `kv-heads` heads, so do
    the `present` results that return the concatenation. The op keeps its
    former count in the `attn.kv_heads_before` attribute for reports.

    Where the new keys (values) come from a projection with a constant
    weight (a contraction, optional bias add, optional slice of a fused
    projection, the split into heads, then head-uniform linear steps:
    transposes, RoPE's tables, halves and sums), the sharing happens at the
    weights: a new projection computes only the `kv-heads` new heads, its
    weight and bias the pooled (and, for `aligned`, mixed) head blocks of
    the old one. Query maps fold into the query projection and output maps
    (or a fitted output weight, `attn.share_output_weight`) into the output
    projection the same way; mixes and maps that do not commute with the
    steps along the head dimension (RoPE) stay on the activations. The op
    records in `attn.kv_projections` which was done (and why not the
    weights) and the K/V projections' FLOPs per token and weight bytes
    before and after, for the compile report. `rewrite-projections=false`
    always pools the activations.

    It is a module pass because the function's type changes: every
    `func.call` of it is updated so that the caller keeps its types and
    meaning (it pools the cache it passes as the callee used to, and
    repeats each shared head of a returned cache over its group). Another
    use of the function's symbol, or returns that would disagree on a result
    type (one returning shared heads, another not), is an error at that op,
    reported before anything changes.

    Example (`kv-heads=1`):

    ```mlir
    %o = attn.attention heads(4, 4) scale(0.25) ins(%q, %k, %v : ...) ...
    ```

    becomes

    ```mlir
    %k1 = linalg.generic ... // mean of the 4 heads of %k
    %v1 = linalg.generic ...
    %o = attn.attention heads(4, 1) scale(0.25) ins(%q, %k1, %v1 : ...)
           {attn.kv_heads_before = 4 : i64} ...
    ```
  }];
  let options = [
    Option<"kvHeads", "kv-heads", "int64_t", /*default=*/"0",
           "Number of key/value heads after conversion (0: leave alone)">,
    Option<"method", "method", "std::string", /*default=*/"\"mean\"",
           "How the shared head is made: mean | exact | calibrated | aligned">,
    Option<"projections", "rewrite-projections", "bool", /*default=*/"true",
           "Share at the K/V projection weights where the pattern allows "
           "(false: always pool the activations)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def AttnFuseDecode : Pass<"attn-fuse-decode", "ModuleOp"> {
  let summary = "Fuse concat(past, new) -> attention into an in-place KV-cache append";
  let description = [{
    In a decode-step function, attention over `tensor.concat(past, new)` on
    the sequence dimension, where `past` is a function argument and the
    concatenation is also returned as the `present` cache, becomes
    `attn.decode`: the argument becomes the whole cache (`past + new`
    positions, the `max-seq` the function was compiled for), the new keys
    and values are appended at a runtime `position` (a new trailing
    `tensor<i64>` argument named `cache_position`), and attention reads the
    valid prefix `[0, position + new)`. The cache argument is marked
    `bufferization.writable` and `attn.kv_cache = "<present name>"`, and the
    returned cache is the op's updated destination, so after bufferisation
    the append is a store into the caller's buffer: O(new) work per token,
    not an O(past) copy.

    ONNX's causal alignment (offset = past length) is the decode op's
    (query row i at position `position + i` for one new token per query),
    so `causal(past)` maps to `causal`; other offsets are left alone.

    It is a module pass because the function's type changes: each
    `func.call` of it passes its `past` as the front of a whole cache
    (`tensor.insert_slice` into a new tensor) and the past length as the
    position, so the caller keeps its meaning. The function may have several
    blocks and returns; a cache is fused only when every return gives it back
    at the same result (or none does) and the attention dominates those
    returns. A function whose symbol has another use than `func.call`, or a
    candidate that does not fit these rules, is left alone.

    Example:

    ```mlir
    %kc = tensor.concat dim(2) %past_k, %k : (...x16x..., ...x1x...) -> ...x17x...
    %o = attn.attention heads(8, 2) scale(0.25) causal(16) ins(%q, %kc, %vc ...)
    return %o, %kc, %vc
    ```

    becomes

    ```mlir
    %o, %kc2, %vc2 = attn.decode heads(8, 2) scale(0.25) causal
        ins(%q, %k, %v ...) position(%pos) outs(%init, %cache_k, %cache_v ...)
    return %o, %kc2, %vc2
    ```
  }];
  let options = [
    Option<"perRowPositions", "per-row-positions", "bool", "false",
           "Give each batch row its own position: `cache_position` becomes "
           "`tensor<Bxi64>` and the decode ops take positions(...), so a "
           "batch mixes sequences of different lengths">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::attn::AttnDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def AttnOutlineRepeats : Pass<"attn-outline-repeats", "ModuleOp"> {
  let summary = "Outline repeated segments of a function (a model's layers) into one function each";
  let description = [{
    A transformer's layers are the same code over different weights. This
    pass finds such repetition in the body of every function and replaces
    each repetition by a `func.call` of one private function, so that
    everything after it (bufferisation, OpenMP outlining, LLVM) compiles one
    copy of a layer instead of one per layer.

    The body is cut at its anchor ops (`anchor-ops`, by default
    `attn.decode` and `attn.attention`: one per layer). The segments between
    consecutive anchors are shifted back as far as the ops in front of every
    anchor agree, so that a segment starts where a layer does. Segments are
    then grouped by structural equivalence: the same ops with the same
    attributes and types, the same uses of each other's results, and their
    live-ins in corresponding roles. Ops computed from constants alone
    (constants, `tensor.empty`, fills of them, masks built from constants)
    are not cut: those that all members share are recomputed in the
    outlined function when cheap (constants, `tensor.empty`, a zero fill),
    else computed once by the caller and passed. Live-ins that differ become arguments, which
    includes weights: non-splat tensor constants may differ between members.
    Any other difference (a scalar or splat constant, an attribute, a type,
    the way values flow) keeps the segments apart. A group of two or more
    segments of at least `min-ops` ops becomes `@<function>_repeat<N>`,
    marked `attn.outlined`, taking the live-ins that are not recomputed and
    returning the values used after the segment.

    Where nothing repeats the module is left as it is. On tensors, a KV
    cache that `attn.decode` updates is an argument of the outlined
    function and its updated value a result; after bufferisation
    `attn-drop-outlined-results` removes such results, so the cache stays
    updated in place.

    Example (two layers; `%w0`, `%w1` are different weights):

    ```mlir
    %a = linalg.matmul ins(%x, %w0 ...) ...   // layer 0
    %d0:3 = attn.decode ... outs(..., %k0, %v0 ...)
    %b = linalg.matmul ins(%a, %w1 ...) ...   // layer 1
    %d1:3 = attn.decode ... outs(..., %k1, %v1 ...)
    ```

    becomes

    ```mlir
    %r0:3 = call @main_repeat0(%x, %w0, %k0, %v0 ...)
    %r1:3 = call @main_repeat0(%r0#0, %w1, %k1, %v1 ...)
    func.func private @main_repeat0(...) attributes {attn.outlined, no_inline}
    ```
  }];
  let options = [
    ListOption<"anchorOps", "anchor-ops", "std::string",
               "Ops that occur once per repeated segment (default: "
               "attn.decode,attn.attention)">,
    Option<"minOps", "min-ops", "int64_t", /*default=*/"8",
           "Fewest ops (not counting those recomputed from constants) that "
           "a segment must have to be outlined">
  ];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def AttnDropOutlinedResults : Pass<"attn-drop-outlined-results", "ModuleOp"> {
  let summary = "Drop results of outlined functions that are their argument's buffer";
  let description = [{
    After bufferisation, a function made by `attn-outline-repeats` returns
    each buffer it updated in place (a KV cache) as well as taking it: the
    result is the argument itself. This pass removes such results from the
    functions marked `attn.outlined` and has each call site use the buffer
    it passed, so that the caller returns its own argument (the cache stays
    in place for `attn-drop-tied-results`) and no copy into an
    out-parameter is made. Other functions are left alone: their results
    are the model's outputs.

    Example:

    ```mlir
    func.func private @f(%c: memref<4xf32>) -> memref<4xf32> attributes {attn.outlined} {
      ... writes %c ...
      return %c : memref<4xf32>
    }
    %r = call @f(%cache) : (memref<4xf32>) -> memref<4xf32>
    ```

    becomes

    ```mlir
    func.func private @f(%c: memref<4xf32>) attributes {attn.outlined} { ... return }
    call @f(%cache) : (memref<4xf32>) -> ()   // uses of %r read %cache
    ```
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def AttnTransposeMatVecWeights
    : Pass<"attn-transpose-matvec-weights", "ModuleOp"> {
  let summary = "Store constant contraction weights in the layout their kernel reads ([N, K] for few rows, [K, N] for many)";
  let description = [{
    A decode step's projections are `x[M, K] x W[K, N]` with a constant `W`
    and few rows M. This pass stores such a weight transposed, as a new
    constant `W^T [N, K]`, and has the contraction read it through the map
    `(.., n, k) -> (n, k)`, so that `convert-contraction-to-vectors` computes
    each output element as a dot product over one contiguous weight row
    (its dot-product form) instead of streaming rows of `W` into partial
    outputs. The data is transposed at compile time; the original constant
    is gone from the module (and with `release-replaced` its blob's memory,
    unless another attribute of the module still refers to it).

    The other way, a weight read `(n, k)` (ONNX Gemm with `transB`) by
    contractions with at least `blocked-rows` rows (a prefill) whose output
    is contiguous along n is stored `[K, N]` and read `(k, n)`: the tiled
    kernel's row blocks read that layout, and no vector kernel takes
    `[N, K]` weights with that many rows.

    A weight is transposed when it is a 2-D f32, f16 or bf16
    `arith.constant` (dense or `dense_resource`) and every use of it is
    such a contraction, all reading it the same way, directly or through
    an elementwise widening copy (an ONNX Cast of an f16/bf16 weight to
    f32, itself then rebuilt on the transposed constant): a linalg
    contraction (named ops are generalised) with one n and one k loop,
    static loop ranges, the other input a projected permutation without n
    and every other loop a row loop; for `[N, K]`, at most `dot-rows` rows
    (the product of the row loops) and the other input read with k
    innermost. A weight with any other use (a Gather of tied embeddings, a
    decode and a prefill function sharing it) keeps its layout.

    Example (`dot-rows=1`):

    ```mlir
    %w = arith.constant dense_resource<w> : tensor<576x192xf32>
    %y = linalg.generic {indexing_maps = [(b, m, n, k) -> (b, m, k),
                                          (b, m, n, k) -> (k, n),
                                          (b, m, n, k) -> (b, m, n)], ...}
           ins(%x, %w : tensor<1x1x576xf32>, tensor<576x192xf32>) ...
    ```

    becomes

    ```mlir
    %wt = arith.constant dense_resource<w_t> : tensor<192x576xf32>
    %y = linalg.generic {indexing_maps = [(b, m, n, k) -> (b, m, k),
                                          (b, m, n, k) -> (n, k),
                                          (b, m, n, k) -> (b, m, n)], ...}
           ins(%x, %wt : tensor<1x1x576xf32>, tensor<192x576xf32>) ...
    ```
  }];
  let options = [
    Option<"dotRows", "dot-rows", "int64_t", /*default=*/"1",
           "Store [K, N] weights of contractions with at most this many rows "
           "as [N, K] (0: never)">,
    Option<"blockedRows", "blocked-rows", "int64_t", /*default=*/"17",
           "Store [N, K] weights of contractions with at least this many "
           "rows as [K, N] (0: never)">,
    Option<"releaseReplaced", "release-replaced", "bool", /*default=*/"false",
           "Free the dense_resource blobs of the replaced constants that no "
           "attribute left in the module refers to (their memory is the "
           "context's: only when no other module shares them). attn-compile "
           "sets it for the library's compile, not for calibration probes">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def AttnKVCacheType : Pass<"attn-kv-cache-type", "ModuleOp"> {
  let summary = "Store the KV caches of a decode step in another element type (f16, bf16, int8, fp8)";
  let description = [{
    Rewrites every `attn.decode` whose caches are float arguments of a
    function with no callers (a fused decode step: the caches are its
    inout buffers, `attn.tied_result`) so that both caches hold `type`:
    `f32`, `f16`, `bf16`, `int8` (i8 codes) or `fp8` (f8E4M3FN codes). The
    argument, the op's cache results and the function's tied results change
    type together. For `int8`/`fp8` the function gains two f32 `[B, Hkv]`
    arguments per op, named after the key cache (`<name>.key_scale`,
    `<name>.value_scale`), that become the op's `cache_scales`: the caller
    chooses them, typically from the prompt's keys/values when it fills
    the cache (absmax / 127 for int8, absmax / 448 for fp8) and keeps them
    for the sequence. It is an error when the module has no such decode
    op, or a cache already holds 8-bit codes.

    ```mlir
    func.func @step(%q: ..., %kc: tensor<1x2x64x16xf32> {attn.tied_result = 1 : i64}, ...)
    ```

    with `type=int8` becomes

    ```mlir
    func.func @step(%q: ..., %kc: tensor<1x2x64x16xi8> {attn.tied_result = 1 : i64}, ...,
                    %ks: tensor<1x2xf32> {attn.name = "kc.key_scale"},
                    %vs: tensor<1x2xf32> {attn.name = "kc.value_scale"})
    ```
  }];
  let options = [
    Option<"cacheType", "type", "std::string", /*default=*/"\"\"",
           "Cache element type: f32, f16, bf16, int8 or fp8">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def AttnAbsorbLatentProjections
    : Pass<"attn-absorb-latent-projections", "func::FuncOp"> {
  let summary = "Multi-head latent attention: attend over the shared latent (MQA) instead of per-head up-projections";
  let description = [{
    Multi-head latent attention (DeepSeek-V2/V3) caches one latent `c`
    (`kv_lora_rank` wide) and one rotary key `R` per token, and exports
    up-project the whole cache every step into per-head keys and values:
    `X = reshape(c @ W, [B, T, H, E])` transposed to `[B, H, T, E]`,
    `K = concat(X[..., a:a+nope], broadcast_heads(R))`, `V = X[..., b:b+vd]`,
    then `attn.attention heads(H, H)`. This pass recognises that (W a
    `[r, H*E]` matrix, the latent `[B, 1, T, r]` or `[B, T, r]`, R
    `[B, 1, T, rope]` or `[B, T, rope]`, f32) and rewrites it as

      Q' = concat(Q[..., :nope] @ Wk_h^T, Q[..., nope:])   [B, H, S, r + rope]
      o' = attn.attention heads(H, 1) (Q', concat(c, R), c)
      o  = o'_h @ Wv_h                                      [B, H, S, vd]

    with `Wk_h = W[:, h*E + a : h*E + a + nope]` and
    `Wv_h = W[:, h*E + b : h*E + b + vd]`: the key up-projection is folded
    into the query and the value up-projection after the attention, so the
    attention is multi-query over the latent itself (head dim `r + rope`,
    value dim `r`) and the per-step `O(T * H * r * (nope + vd))`
    re-projection of the cache is gone. Scores and outputs are the same up
    to rounding. The new op carries `attn.latent = {rank, rope_dim,
    heads_before, head_dim_before, v_head_dim_before}`, which the compile
    report turns into the latent form and its cache bytes per token.

    Applied only when the absorbed form costs less (always for one-token
    decode: `S * (2r + rope) <= r * (nope + vd) + S * (nope + rope + vd)`)
    and the up-projection feeds nothing but this attention.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def AttnShareKVLatent : Pass<"attn-share-kv-latent", "ModuleOp"> {
  let summary = "Convert MHA/GQA attention to multi-head latent attention (MLA) at a given rank";
  let description = [{
    Rewrites `attn.attention heads(Hq, Hkv)` over `K [B, Hkv, T, D]` and
    `V [B, Hkv, T, Dv]` into the absorbed latent form that
    `attn-absorb-latent-projections` produces for MLA exports: per token a
    latent `c = sum_g K_g EK_g + V_g EV_g` of `rank` floats and a shared
    rotary key `R = sum_g K_g ER_g` of `rope-dim` floats, and

    ```
    o' = attn.attention heads(Hq, 1) (Q', concat_dim3(c, R), c)
    Q'[h] = Q[h] QM[h]        (QM[h] = [UK_g^T | UR_g^T], D x (rank + rope-dim))
    o[h]  = o'[h] OM[h]       (OM[h] = UV_g, rank x Dv)
    ```

    where head g's keys are `c UK_g + R UR_g` and its values `c UV_g`: the
    key up-projections are folded into the queries and the value
    up-projections into the outputs, so attention reads one latent KV head
    of `rank + rope-dim` (MQA). A KV cache (`K = concat(past, new)` on the
    sequence dimension, `past` a function argument read only there, the
    concatenation read only by the op and returns) stores the latent and
    the rotary key instead: the key argument becomes `[B, 1, T, rank]`
    (the latent), the value argument `[B, 1, T, rope-dim]` (the rotary
    key), and so do the returned present caches, the layout of
    `attn.decode latent(rank)` that `attn-fuse-decode` then fuses.

    The maps come from calibration (`attn-compile --share-kv-method=latent
    --calibration FILE`): `attn.latent_key_encoder` [Hkv, D, rank],
    `attn.latent_value_encoder` [Hkv, Dv, rank], `attn.latent_rope_encoder`
    [Hkv, D, rope-dim], `attn.latent_query_maps` [Hq, D, rank + rope-dim]
    and `attn.latent_output_maps` [Hq, rank, Dv] on the op (a joint PCA of
    the keys and values with the rotary planes' principal component kept as
    the shared rotary key; bench/share_kv_mla.py). Without them, full rank
    (`rank = Hkv * Dv`, `rope-dim = Hkv * D`) is lossless and needs no
    data: the latent holds every value head and the rotary key every key
    head; a lower rank without them is an error. The op records its form in
    `attn.latent` for the compile report.

    Example (`rank=4 rope-dim=4`, 2 KV heads of 2, no calibration):

    ```mlir
    %o = attn.attention heads(4, 2) scale(0.5) ins(%q, %k, %v : ...) ...
    ```

    becomes

    ```mlir
    %c = linalg.generic ...      // [1, 6, 4]: the values, head by head
    %r = linalg.generic ...      // [1, 6, 4]: the keys, head by head
    %q2 = linalg.generic ...     // [1, 4, 4, 8]: each query on its head's keys
    %key = tensor.concat dim(3) %c4, %r4
    %o2 = attn.attention heads(4, 1) scale(0.5) ins(%q2, %key, %c4 : ...)
    %o = linalg.generic ...      // [1, 4, 4, 2]: each head's values back
    ```
  }];
  let options = [
    Option<"rank", "rank", "int64_t", /*default=*/"0",
           "Floats of the latent per token (0: leave attention alone)">,
    Option<"ropeDim", "rope-dim", "int64_t", /*default=*/"-1",
           "Floats of the shared rotary key per token (-1: half a head)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def AttnWindowRingCache : Pass<"attn-window-ring-cache", "ModuleOp"> {
  let summary = "Keep the KV caches of sliding-window decode layers as rings of L + Sq slots";
  let description = [{
    Rewrites every `attn.decode` of a window layer, `causal window(L, 0)`
    with `L >= 0` (ORT GroupQueryAttention's `local_window_size = L + 1`,
    Mistral-style windows raised from masks), whose caches are arguments
    of an uncalled function used only by the op (and whose cache results
    are only returned), so that both caches become rings of `W = L + Sq`
    slots (`ring`): the argument, the op's cache results and the returned
    values change from `[B, Hkv, Smax, D]` to `[B, Hkv, W, D]`, and the
    positions may then run past `Smax` without bound. The caller keeps a
    ring per layer: position `t` lives in slot `t % W`, and the step reads
    and writes only those W slots. Layers without such a window keep their
    caches; a cache of at most `W` positions already is left alone. It is
    an error when the module has no window layer, or a window layer's
    caches cannot change shape (a full `mask` over them, a block table, or
    caches that are not such arguments).

    ```mlir
    %o, %kc, %vc = attn.decode heads(8, 2) scale(0.25) causal window(3, 0)
        ins(...) positions(%pos : tensor<2xi64>)
        outs(%init, %pk, %pv : ..., tensor<2x2x64x8xf32>, tensor<2x2x64x8xf32>)
    ```

    becomes (Sq = 1, W = 4)

    ```mlir
    %o, %kc, %vc = attn.decode heads(8, 2) scale(0.25) causal window(3, 0) ring
        ins(...) positions(%pos : tensor<2xi64>)
        outs(%init, %pk, %pv : ..., tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>)
    ```
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def AttnPagedKVCache : Pass<"attn-paged-kv-cache", "ModuleOp"> {
  let summary = "Keep the KV caches of fused decode steps in page pools read through one block table";
  let description = [{
    Rewrites every `attn.decode` of the module, whose caches must be
    arguments of one uncalled function used only by the op (and whose cache
    results are only returned), so that its caches become page pools
    `[N, Hkv, P, D]` (P = `page-size`, N = `num-pages`, by default
    `B * ceil(Smax / P)`) read through a block table `[B, ceil(Smax / P)]`
    of i32 page numbers: vLLM's layout (`attn.decode`'s `block_table`). The
    table is a new last argument of the function, named and given the role
    `block_table`, shared by all layers: row b's logical position t lives in
    page `table[b, t / P]` of every layer's pools, at slot `t % P`. Each
    row's capacity becomes `ceil(Smax / P) * P`.

    It is an error when the module has no decode, or a decode takes one
    position for the batch (paging needs `positions`: decode fusion with
    per-row positions), has 8-bit caches, ring caches, a full `mask`, a
    block table already, a dynamic shape, a batch or capacity other than the
    first decode's, or caches that are not such arguments.

    ```mlir
    %o, %kc, %vc = attn.decode heads(8, 2) scale(0.25) causal
        ins(...) positions(%pos : tensor<2xi64>)
        outs(%init, %pk, %pv : ..., tensor<2x2x10x8xf32>, tensor<2x2x10x8xf32>)
    ```

    becomes (page-size 4: 3 pages a row, 6 pages)

    ```mlir
    %o, %kc, %vc = attn.decode heads(8, 2) scale(0.25) causal
        ins(...) positions(%pos : tensor<2xi64>)
        block_table(%table : tensor<2x3xi32>)
        outs(%init, %pk, %pv : ..., tensor<6x2x4x8xf32>, tensor<6x2x4x8xf32>)
    ```
  }];
  let options = [
    Option<"pageSize", "page-size", "int64_t", /*default=*/"16",
           "Positions per page">,
    Option<"numPages", "num-pages", "int64_t", /*default=*/"0",
           "Pages in each pool (0: batch * ceil(Smax / page-size))">
  ];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
