// RUN: attn-opt %s -split-input-file -attn-share-kv-latent="rank=4 rope-dim=4" -verify-diagnostics | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-share-kv-latent="rank=0" | FileCheck %s --check-prefix=OFF

// Full rank without calibration (rank = Hkv * Dv, rope-dim = Hkv * D): the
// lossless layout. Latent and rotary key are encoded from V and K, the
// query is mapped per head to width rank + rope, attention is MQA over
// concat(latent, rotary key) with the latent as values, and the output is
// mapped back to Dv per head.
// CHECK-LABEL: func.func @full_rank
// CHECK-SAME: (%[[Q:.+]]: tensor<1x4x3x2xf32>, %[[K:.+]]: tensor<1x2x6x2xf32>, %[[V:.+]]: tensor<1x2x6x2xf32>)
// CHECK: %[[CK:.+]] = linalg.generic {{.+}} ins(%[[K]], %{{.+}} : tensor<1x2x6x2xf32>, tensor<2x2x4xf32>)
// CHECK: %[[C:.+]] = linalg.generic {{.+}} ins(%[[V]], %{{.+}} : tensor<1x2x6x2xf32>, tensor<2x2x4xf32>) outs(%[[CK]] : tensor<1x6x4xf32>)
// CHECK: %[[C4:.+]] = tensor.expand_shape %[[C]] {{\[\[}}0, 1], [2], [3]] output_shape [1, 1, 6, 4]
// CHECK: %[[R:.+]] = linalg.generic {{.+}} ins(%[[K]], %{{.+}} : tensor<1x2x6x2xf32>, tensor<2x2x4xf32>)
// CHECK: %[[R4:.+]] = tensor.expand_shape %[[R]]
// CHECK: %[[KEY:.+]] = tensor.concat dim(3) %[[C4]], %[[R4]] : (tensor<1x1x6x4xf32>, tensor<1x1x6x4xf32>) -> tensor<1x1x6x8xf32>
// CHECK: %[[QM:.+]] = linalg.generic {{.+}} ins(%[[Q]], %{{.+}} : tensor<1x4x3x2xf32>, tensor<4x2x8xf32>)
// CHECK: %[[O:.+]] = attn.attention heads(4, 1) scale(5.000000e-01) causal(3) ins(%[[QM]], %[[KEY]], %[[C4]] : tensor<1x4x3x8xf32>, tensor<1x1x6x8xf32>, tensor<1x1x6x4xf32>)
// CHECK-SAME: attn.latent = {converted, head_dim_before = 2 : i64, heads_before = 2 : i64, rank = 4 : i64, rope_dim = 4 : i64, v_head_dim_before = 2 : i64}
// CHECK: %[[OUT:.+]] = linalg.generic {{.+}} ins(%[[O]], %{{.+}} : tensor<1x4x3x4xf32>, tensor<4x4x2xf32>)
// CHECK: return %[[OUT]] : tensor<1x4x3x2xf32>
// OFF-LABEL: func.func @full_rank
// OFF: attn.attention heads(4, 2)
func.func @full_rank(%q: tensor<1x4x3x2xf32>, %k: tensor<1x2x6x2xf32>, %v: tensor<1x2x6x2xf32>) -> tensor<1x4x3x2xf32> {
  %o = tensor.empty() : tensor<1x4x3x2xf32>
  %r = attn.attention heads(4, 2) scale(0.5) causal(3) ins(%q, %k, %v : tensor<1x4x3x2xf32>, tensor<1x2x6x2xf32>, tensor<1x2x6x2xf32>) outs(%o : tensor<1x4x3x2xf32>) -> tensor<1x4x3x2xf32>
  return %r : tensor<1x4x3x2xf32>
}

// -----

// A decode step with a KV cache: the past arguments become the latent and
// rotary-key caches ([B, 1, T, rank], [B, 1, T, rope]); only the new token
// is encoded, and the present results are the new caches.
// CHECK-LABEL: func.func @cache
// CHECK-SAME: %[[PK:[a-z0-9_]+]]: tensor<1x1x5x4xf32>, %[[PV:[a-z0-9_]+]]: tensor<1x1x5x4xf32>
// CHECK-SAME: -> (tensor<1x4x1x2xf32>, tensor<1x1x6x4xf32>, tensor<1x1x6x4xf32>)
// CHECK-NOT: tensor.concat dim(2) {{.+}} -> tensor<1x2x6x2xf32>
// CHECK: %[[LAT:.+]] = tensor.concat dim(2) %[[PK]], %{{.+}} : (tensor<1x1x5x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x6x4xf32>
// CHECK: %[[ROT:.+]] = tensor.concat dim(2) %[[PV]], %{{.+}} : (tensor<1x1x5x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x6x4xf32>
// CHECK: %[[KEY:.+]] = tensor.concat dim(3) %[[LAT]], %[[ROT]]
// CHECK: attn.attention heads(4, 1) scale(5.000000e-01) causal(5) ins(%{{.+}}, %[[KEY]], %[[LAT]] :
// CHECK: return %{{.+}}, %[[LAT]], %[[ROT]] :
func.func @cache(%q: tensor<1x4x1x2xf32>, %k: tensor<1x2x1x2xf32>, %v: tensor<1x2x1x2xf32>, %pk: tensor<1x2x5x2xf32>, %pv: tensor<1x2x5x2xf32>) -> (tensor<1x4x1x2xf32>, tensor<1x2x6x2xf32>, tensor<1x2x6x2xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x2x5x2xf32>, tensor<1x2x1x2xf32>) -> tensor<1x2x6x2xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x2x5x2xf32>, tensor<1x2x1x2xf32>) -> tensor<1x2x6x2xf32>
  %o = tensor.empty() : tensor<1x4x1x2xf32>
  %r = attn.attention heads(4, 2) scale(0.5) causal(5) ins(%q, %kc, %vc : tensor<1x4x1x2xf32>, tensor<1x2x6x2xf32>, tensor<1x2x6x2xf32>) outs(%o : tensor<1x4x1x2xf32>) -> tensor<1x4x1x2xf32>
  return %r, %kc, %vc : tensor<1x4x1x2xf32>, tensor<1x2x6x2xf32>, tensor<1x2x6x2xf32>
}

// -----

// The past is also read elsewhere: it must stay whole, so the whole
// concatenation is encoded (the former caches are still returned).
// CHECK-LABEL: func.func @past_escapes
// CHECK-SAME: %{{[a-z0-9_]+}}: tensor<1x2x5x2xf32>, %{{[a-z0-9_]+}}: tensor<1x2x5x2xf32>
// CHECK: %[[KC:.+]] = tensor.concat dim(2)
// CHECK: linalg.generic {{.+}} ins(%[[KC]], %{{.+}} : tensor<1x2x6x2xf32>, tensor<2x2x4xf32>)
// CHECK: attn.attention heads(4, 1)
// CHECK: return %{{.+}}, %[[KC]], %{{.+}} :
func.func @past_escapes(%q: tensor<1x4x1x2xf32>, %k: tensor<1x2x1x2xf32>, %v: tensor<1x2x1x2xf32>, %pk: tensor<1x2x5x2xf32>, %pv: tensor<1x2x5x2xf32>) -> (tensor<1x4x1x2xf32>, tensor<1x2x6x2xf32>, tensor<1x2x6x2xf32>, tensor<1x2x5x2xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x2x5x2xf32>, tensor<1x2x1x2xf32>) -> tensor<1x2x6x2xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x2x5x2xf32>, tensor<1x2x1x2xf32>) -> tensor<1x2x6x2xf32>
  %o = tensor.empty() : tensor<1x4x1x2xf32>
  %r = attn.attention heads(4, 2) scale(0.5) causal(5) ins(%q, %kc, %vc : tensor<1x4x1x2xf32>, tensor<1x2x6x2xf32>, tensor<1x2x6x2xf32>) outs(%o : tensor<1x4x1x2xf32>) -> tensor<1x4x1x2xf32>
  return %r, %kc, %vc, %pk : tensor<1x4x1x2xf32>, tensor<1x2x6x2xf32>, tensor<1x2x6x2xf32>, tensor<1x2x5x2xf32>
}

// -----

// Calibrated maps on the op (shapes for rank 4, rope-dim 4 of 2 KV heads of
// 2 and 4 query heads) are used and consumed.
// CHECK-LABEL: func.func @calibrated
// CHECK: arith.constant dense<{{.+}}> : tensor<2x2x4xf32>
// CHECK: attn.attention heads(4, 1)
// CHECK-NOT: attn.latent_
// CHECK: return
func.func @calibrated(%q: tensor<1x4x3x2xf32>, %k: tensor<1x2x6x2xf32>, %v: tensor<1x2x6x2xf32>) -> tensor<1x4x3x2xf32> {
  %o = tensor.empty() : tensor<1x4x3x2xf32>
  %r = attn.attention heads(4, 2) scale(0.5) ins(%q, %k, %v : tensor<1x4x3x2xf32>, tensor<1x2x6x2xf32>, tensor<1x2x6x2xf32>) outs(%o : tensor<1x4x3x2xf32>) {
    attn.latent_key_encoder = dense<0.5> : tensor<2x2x4xf64>,
    attn.latent_value_encoder = dense<0.25> : tensor<2x2x4xf64>,
    attn.latent_rope_encoder = dense<1.0> : tensor<2x2x4xf64>,
    attn.latent_query_maps = dense<0.125> : tensor<4x2x8xf64>,
    attn.latent_output_maps = dense<2.0> : tensor<4x4x2xf64>
  } -> tensor<1x4x3x2xf32>
  return %r : tensor<1x4x3x2xf32>
}

// -----

// A map of the wrong shape is refused, naming the map and the shape wanted.
func.func @bad_map(%q: tensor<1x4x3x2xf32>, %k: tensor<1x2x6x2xf32>, %v: tensor<1x2x6x2xf32>) -> tensor<1x4x3x2xf32> {
  %o = tensor.empty() : tensor<1x4x3x2xf32>
  // expected-error @+1 {{attn-share-kv-latent: 'attn.latent_query_maps' must be a float tensor of shape [4, 2, 8] (rank=4 rope-dim=4)}}
  %r = attn.attention heads(4, 2) scale(0.5) ins(%q, %k, %v : tensor<1x4x3x2xf32>, tensor<1x2x6x2xf32>, tensor<1x2x6x2xf32>) outs(%o : tensor<1x4x3x2xf32>) {
    attn.latent_key_encoder = dense<0.5> : tensor<2x2x4xf64>,
    attn.latent_value_encoder = dense<0.25> : tensor<2x2x4xf64>,
    attn.latent_rope_encoder = dense<1.0> : tensor<2x2x4xf64>,
    attn.latent_query_maps = dense<0.125> : tensor<4x2x4xf64>,
    attn.latent_output_maps = dense<2.0> : tensor<4x4x2xf64>
  } -> tensor<1x4x3x2xf32>
  return %r : tensor<1x4x3x2xf32>
}

// -----

// Below full rank (here 3 KV heads of 2: full rank is 6 + 6) without
// calibration maps: refused, saying what full rank would be.
func.func @needs_calibration(%q: tensor<1x3x3x2xf32>, %k: tensor<1x3x6x2xf32>, %v: tensor<1x3x6x2xf32>) -> tensor<1x3x3x2xf32> {
  %o = tensor.empty() : tensor<1x3x3x2xf32>
  // expected-error @+1 {{rank=4 rope-dim=4 needs the calibration maps}}
  %r = attn.attention heads(3, 3) scale(0.5) ins(%q, %k, %v : tensor<1x3x3x2xf32>, tensor<1x3x6x2xf32>, tensor<1x3x6x2xf32>) outs(%o : tensor<1x3x3x2xf32>) -> tensor<1x3x3x2xf32>
  return %r : tensor<1x3x3x2xf32>
}

// -----

// An op already in latent form (attn.latent) is left alone.
// CHECK-LABEL: func.func @already_latent
// CHECK: attn.attention heads(4, 1) scale(5.000000e-01) ins(%arg0, %arg1, %arg2
func.func @already_latent(%q: tensor<1x4x3x8xf32>, %k: tensor<1x1x6x8xf32>, %v: tensor<1x1x6x4xf32>) -> tensor<1x4x3x4xf32> {
  %o = tensor.empty() : tensor<1x4x3x4xf32>
  %r = attn.attention heads(4, 1) scale(0.5) ins(%q, %k, %v : tensor<1x4x3x8xf32>, tensor<1x1x6x8xf32>, tensor<1x1x6x4xf32>) outs(%o : tensor<1x4x3x4xf32>) {attn.latent = {rank = 4 : i64, rope_dim = 4 : i64}} -> tensor<1x4x3x4xf32>
  return %r : tensor<1x4x3x4xf32>
}
