// RUN: attn-opt %s -split-input-file -attn-drop-tied-results -verify-diagnostics | FileCheck %s

// A bufferised decode step returns its cache argument (through a cast):
// the result goes, the argument keeps its marker, attn.num_outputs drops by
// one, and the other result stays.
// CHECK-LABEL: func.func @decode_step(
// CHECK-SAME:    %[[C:.+]]: memref<1x2x8x4xf32> {attn.tied_result = 1 : i64}
// CHECK-SAME:    -> (memref<1x4xf32> {attn.name = "logits"})
// CHECK-SAME:    attributes {attn.num_outputs = 1 : i64}
// CHECK:         return %{{.+}} : memref<1x4xf32>
func.func @decode_step(%cache: memref<1x2x8x4xf32> {attn.tied_result = 1 : i64},
                       %x: memref<1x4xf32>)
    -> (memref<1x4xf32> {attn.name = "logits"}, memref<1x2x8x4xf32> {attn.name = "present"})
    attributes {attn.num_outputs = 2 : i64} {
  %alloc = memref.alloc() : memref<1x4xf32>
  memref.copy %x, %alloc : memref<1x4xf32> to memref<1x4xf32>
  %cast = memref.cast %cache : memref<1x2x8x4xf32> to memref<1x2x8x4xf32, strided<[64, 32, 4, 1]>>
  %back = memref.cast %cast : memref<1x2x8x4xf32, strided<[64, 32, 4, 1]>> to memref<1x2x8x4xf32>
  return %alloc, %back : memref<1x4xf32>, memref<1x2x8x4xf32>
}

// -----

// Near miss: without attn.tied_result, a returned argument is an ordinary
// result (buffer-results-to-out-params copies it).
// CHECK-LABEL: func.func @identity(
// CHECK-SAME:    -> memref<4xf32>
// CHECK:         return %{{.+}} : memref<4xf32>
func.func @identity(%x: memref<4xf32>) -> memref<4xf32> {
  return %x : memref<4xf32>
}

// -----

// The cache was not updated in place (bufferisation copied it): an error,
// since dropping the result would lose the update.
func.func @out_of_place(%cache: memref<4xf32> {attn.name = "past_key_0", attn.tied_result = 0 : i64}) -> memref<4xf32> {
  %alloc = memref.alloc() : memref<4xf32>
  memref.copy %cache, %alloc : memref<4xf32> to memref<4xf32>
  // expected-error @+1 {{result #0 is not the buffer of argument 'past_key_0': the cache could not be updated in place}}
  return %alloc : memref<4xf32>
}

// -----

// expected-error @+1 {{argument #0 is tied to result #3, which does not exist or is tied to another argument}}
func.func @no_such_result(%cache: memref<4xf32> {attn.tied_result = 3 : i64}) -> memref<4xf32> {
  return %cache : memref<4xf32>
}

// -----

// expected-error @+1 {{argument #1 is tied to result #0, which does not exist or is tied to another argument}}
func.func @tied_twice(%a: memref<4xf32> {attn.tied_result = 0 : i64}, %b: memref<4xf32> {attn.tied_result = 0 : i64}) -> memref<4xf32> {
  return %a : memref<4xf32>
}

// -----

// expected-error @+1 {{argument #0 is tied to a result but is not a memref; bufferise first}}
func.func @on_tensors(%a: tensor<4xf32> {attn.tied_result = 0 : i64}) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}

// -----

// expected-error @+1 {{a function with tied results must not be called inside the module}}
func.func @callee(%a: memref<4xf32> {attn.tied_result = 0 : i64}) -> memref<4xf32> {
  return %a : memref<4xf32>
}
func.func @caller(%a: memref<4xf32>) -> memref<4xf32> {
  %r = func.call @callee(%a) : (memref<4xf32>) -> memref<4xf32>
  return %r : memref<4xf32>
}
