// RUN: attn-opt %s -attn-mark-entry-point=entry-function=second | FileCheck %s

// entry-function picks the function to mark among several public ones.

// CHECK-LABEL: func.func @first() {
// CHECK-LABEL: func.func @second(
// CHECK-SAME:      -> (tensor<2xf32> {attn.name = "logits"})
// CHECK-SAME:      attributes {attn.num_outputs = 1 : i64}
func.func @first() {
  return
}
func.func @second(%x: tensor<2xf32>) -> (tensor<2xf32> {attn.name = "logits"}) {
  return %x : tensor<2xf32>
}
