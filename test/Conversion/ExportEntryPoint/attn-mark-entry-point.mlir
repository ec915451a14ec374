// RUN: attn-opt %s -split-input-file -attn-mark-entry-point -verify-diagnostics | FileCheck %s

// A plain model: the result count is recorded, no roles (not a decode step).

// CHECK-LABEL: func.func @plain(
// CHECK-SAME:      %{{.+}}: tensor<4xf32> {attn.name = "input_ids"})
// CHECK-SAME:      attributes {attn.num_outputs = 1 : i64}
// CHECK-NOT:   attn.role
func.func @plain(%x: tensor<4xf32> {attn.name = "input_ids"})
    -> (tensor<4xf32> {attn.name = "logits"}) {
  return %x : tensor<4xf32>
}

// -----

// A decode step (a cache argument tied to a result): the buffers a decoding
// loop drives get their roles by the exported decoders' names; others
// (the cache, a differently named input) get none. An existing
// attn.num_outputs is kept.

// CHECK-LABEL: func.func @step(
// CHECK-SAME:      {attn.name = "input_ids", attn.role = "input_ids"}
// CHECK-SAME:      {attn.name = "position_ids", attn.role = "position_ids"}
// CHECK-SAME:      {attn.name = "attention_mask", attn.role = "attention_mask"}
// CHECK-SAME:      {attn.name = "past_key_0", attn.tied_result = 1 : i64}
// CHECK-SAME:      {attn.name = "extra"}
// CHECK-SAME:      {attn.name = "cache_position", attn.role = "cache_position"}
// CHECK-SAME:      -> (tensor<1x1x8xf32> {attn.name = "logits", attn.role = "logits"}, tensor<1x1x4x2xf32> {attn.name = "present_key_0"})
// CHECK-SAME:      attributes {attn.num_outputs = 7 : i64}
func.func @step(%ids: tensor<1x1xi64> {attn.name = "input_ids"},
                %pos: tensor<1x1xi64> {attn.name = "position_ids"},
                %mask: tensor<1x4xi64> {attn.name = "attention_mask"},
                %cache: tensor<1x1x4x2xf32> {attn.name = "past_key_0", attn.tied_result = 1 : i64},
                %extra: tensor<1xf32> {attn.name = "extra"},
                %at: tensor<i64> {attn.name = "cache_position"})
    -> (tensor<1x1x8xf32> {attn.name = "logits"},
        tensor<1x1x4x2xf32> {attn.name = "present_key_0"})
    attributes {attn.num_outputs = 7 : i64} {
  %l = tensor.empty() : tensor<1x1x8xf32>
  return %l, %cache : tensor<1x1x8xf32>, tensor<1x1x4x2xf32>
}

// -----

// Several public functions and no entry-function: the pass fails like
// attn-export-entry-point (attn-mark-entry-point-entry-function.mlir picks
// one).

// expected-error @below {{several public functions could be exported (@first, @second)}}
module {
  func.func @first() {
    return
  }
  func.func @second() {
    return
  }
}
