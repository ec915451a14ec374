// RUN: attn-opt %s -split-input-file -attn-fuse-decode | FileCheck %s

// The absorbed MLA step (attn-absorb-latent-projections): MQA whose key is
// concat_dim3(latent cache, rotary cache) and whose value is the latent
// cache, each cache concat(past, new). It fuses into the latent decode:
// both past arguments become in-place caches (latent as key_cache, rotary
// key as value_cache), nothing is concatenated per step.
// CHECK-LABEL: func.func @mla_step
// CHECK-SAME: %[[LC:[a-z0-9]+]]: tensor<1x1x17x16xf32> {attn.tied_result = 1 : i64, bufferization.writable = true}
// CHECK-SAME: %[[RC:[a-z0-9]+]]: tensor<1x1x17x4xf32> {attn.tied_result = 2 : i64, bufferization.writable = true}
// CHECK-SAME: %{{[a-z0-9]+}}: tensor<i64> {attn.name = "cache_position"}
// CHECK-NOT: tensor.concat
// CHECK: %[[D:.+]]:3 = attn.decode heads(4, 1) scale(2.500000e-01) latent(16)
// CHECK-SAME: ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<1x4x1x20xf32>, tensor<1x1x1x16xf32>, tensor<1x1x1x4xf32>)
// CHECK-SAME: outs(%{{.+}}, %[[LC]], %[[RC]] :
// CHECK: return %[[D]]#0, %[[D]]#1, %[[D]]#2
func.func @mla_step(%q: tensor<1x4x1x20xf32>, %c: tensor<1x1x1x16xf32>, %r: tensor<1x1x1x4xf32>, %pl: tensor<1x1x16x16xf32>, %pr: tensor<1x1x16x4xf32>) -> (tensor<1x4x1x16xf32>, tensor<1x1x17x16xf32>, tensor<1x1x17x4xf32>) {
  %lat = tensor.concat dim(2) %pl, %c : (tensor<1x1x16x16xf32>, tensor<1x1x1x16xf32>) -> tensor<1x1x17x16xf32>
  %rot = tensor.concat dim(2) %pr, %r : (tensor<1x1x16x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x17x4xf32>
  %keys = tensor.concat dim(3) %lat, %rot : (tensor<1x1x17x16xf32>, tensor<1x1x17x4xf32>) -> tensor<1x1x17x20xf32>
  %o = tensor.empty() : tensor<1x4x1x16xf32>
  %a = attn.attention heads(4, 1) scale(0.25) ins(%q, %keys, %lat : tensor<1x4x1x20xf32>, tensor<1x1x17x20xf32>, tensor<1x1x17x16xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %a, %lat, %rot : tensor<1x4x1x16xf32>, tensor<1x1x17x16xf32>, tensor<1x1x17x4xf32>
}

// -----

// The value is not the latent part of the key (the rotary cache instead):
// not the MLA pattern, left alone.
// CHECK-LABEL: func.func @value_not_latent
// CHECK-NOT: attn.decode
// CHECK: attn.attention
func.func @value_not_latent(%q: tensor<1x4x1x20xf32>, %c: tensor<1x1x1x16xf32>, %r: tensor<1x1x1x4xf32>, %pl: tensor<1x1x16x16xf32>, %pr: tensor<1x1x16x4xf32>) -> (tensor<1x4x1x4xf32>, tensor<1x1x17x16xf32>, tensor<1x1x17x4xf32>) {
  %lat = tensor.concat dim(2) %pl, %c : (tensor<1x1x16x16xf32>, tensor<1x1x1x16xf32>) -> tensor<1x1x17x16xf32>
  %rot = tensor.concat dim(2) %pr, %r : (tensor<1x1x16x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x17x4xf32>
  %keys = tensor.concat dim(3) %lat, %rot : (tensor<1x1x17x16xf32>, tensor<1x1x17x4xf32>) -> tensor<1x1x17x20xf32>
  %o = tensor.empty() : tensor<1x4x1x4xf32>
  %a = attn.attention heads(4, 1) scale(0.25) ins(%q, %keys, %rot : tensor<1x4x1x20xf32>, tensor<1x1x17x20xf32>, tensor<1x1x17x4xf32>) outs(%o : tensor<1x4x1x4xf32>) -> tensor<1x4x1x4xf32>
  return %a, %lat, %rot : tensor<1x4x1x4xf32>, tensor<1x1x17x16xf32>, tensor<1x1x17x4xf32>
}

// -----

// The joined key also feeds something else (it would have to exist): not fused.
// CHECK-LABEL: func.func @key_escapes
// CHECK-NOT: attn.decode
// CHECK: attn.attention
func.func @key_escapes(%q: tensor<1x4x1x20xf32>, %c: tensor<1x1x1x16xf32>, %r: tensor<1x1x1x4xf32>, %pl: tensor<1x1x16x16xf32>, %pr: tensor<1x1x16x4xf32>) -> (tensor<1x4x1x16xf32>, tensor<1x1x17x20xf32>) {
  %lat = tensor.concat dim(2) %pl, %c : (tensor<1x1x16x16xf32>, tensor<1x1x1x16xf32>) -> tensor<1x1x17x16xf32>
  %rot = tensor.concat dim(2) %pr, %r : (tensor<1x1x16x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x17x4xf32>
  %keys = tensor.concat dim(3) %lat, %rot : (tensor<1x1x17x16xf32>, tensor<1x1x17x4xf32>) -> tensor<1x1x17x20xf32>
  %o = tensor.empty() : tensor<1x4x1x16xf32>
  %a = attn.attention heads(4, 1) scale(0.25) ins(%q, %keys, %lat : tensor<1x4x1x20xf32>, tensor<1x1x17x20xf32>, tensor<1x1x17x16xf32>) outs(%o : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %a, %keys : tensor<1x4x1x16xf32>, tensor<1x1x17x20xf32>
}
