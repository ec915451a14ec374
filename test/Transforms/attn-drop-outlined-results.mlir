// RUN: attn-opt %s -split-input-file -attn-drop-outlined-results | FileCheck %s

// An outlined function returns the cache it wrote (its argument) and a new
// buffer: the cache result goes, the call site reads the buffer it passed,
// so the caller returns its own argument; the fresh buffer stays a result.
// CHECK-LABEL: func.func @caller(
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<4xf32>, %[[C:[a-z0-9]+]]: memref<8xf32>)
// CHECK: %[[R:.+]] = call @layer(%[[X]], %[[C]]) : (memref<4xf32>, memref<8xf32>) -> memref<4xf32>
// CHECK: return %[[R]], %[[C]] : memref<4xf32>, memref<8xf32>
// CHECK-LABEL: func.func private @layer(
// CHECK-SAME: -> memref<4xf32> attributes {attn.outlined}
// CHECK: return %{{.+}} : memref<4xf32>
func.func @caller(%x: memref<4xf32>, %c: memref<8xf32>) -> (memref<4xf32>, memref<8xf32>) {
  %r:2 = call @layer(%x, %c) : (memref<4xf32>, memref<8xf32>) -> (memref<4xf32>, memref<8xf32>)
  return %r#0, %r#1 : memref<4xf32>, memref<8xf32>
}
func.func private @layer(%x: memref<4xf32>, %c: memref<8xf32>) -> (memref<4xf32>, memref<8xf32>) attributes {attn.outlined} {
  %out = memref.alloc() : memref<4xf32>
  memref.copy %x, %out : memref<4xf32> to memref<4xf32>
  %s = memref.subview %c[0] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1]>>
  memref.copy %x, %s : memref<4xf32> to memref<4xf32, strided<[1]>>
  return %out, %c : memref<4xf32>, memref<8xf32>
}

// -----

// A cast of the argument is the argument too; the caller gets a cast of the
// buffer it passed, typed as the result was.
// CHECK-LABEL: func.func @cast_result(
// CHECK-SAME: %[[C:[a-z0-9]+]]: memref<8xf32>)
// CHECK: call @cast_layer(%[[C]]) : (memref<8xf32>) -> ()
// CHECK: %[[CAST:.+]] = memref.cast %[[C]] : memref<8xf32> to memref<?xf32>
// CHECK: return %[[CAST]]
func.func @cast_result(%c: memref<8xf32>) -> memref<?xf32> {
  %r = call @cast_layer(%c) : (memref<8xf32>) -> memref<?xf32>
  return %r : memref<?xf32>
}
func.func private @cast_layer(%c: memref<8xf32>) -> memref<?xf32> attributes {attn.outlined} {
  %d = memref.cast %c : memref<8xf32> to memref<?xf32>
  return %d : memref<?xf32>
}

// -----

// Not made by attn-outline-repeats: a function's results are its outputs
// and stay, even when one is an argument.
// CHECK-LABEL: func.func @plain_caller(
// CHECK: %[[R:.+]] = call @plain(%{{.+}}) : (memref<8xf32>) -> memref<8xf32>
// CHECK: return %[[R]]
// CHECK-LABEL: func.func private @plain(
// CHECK: return %{{.+}} : memref<8xf32>
func.func @plain_caller(%c: memref<8xf32>) -> memref<8xf32> {
  %r = call @plain(%c) : (memref<8xf32>) -> memref<8xf32>
  return %r : memref<8xf32>
}
func.func private @plain(%c: memref<8xf32>) -> memref<8xf32> {
  return %c : memref<8xf32>
}
