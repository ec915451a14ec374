// RUN: attn-opt %s -attn-drop-outlined-results -verify-diagnostics

// An outlined function referred to other than by a call cannot change its
// type.
func.func @taken(%c: memref<8xf32>) {
  // expected-error @+1 {{outlined function @taken_layer is used other than by func.call}}
  %f = func.constant @taken_layer : (memref<8xf32>) -> memref<8xf32>
  return
}
func.func private @taken_layer(%c: memref<8xf32>) -> memref<8xf32> attributes {attn.outlined} {
  return %c : memref<8xf32>
}
