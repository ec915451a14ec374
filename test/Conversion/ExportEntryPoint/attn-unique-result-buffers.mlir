// RUN: attn-opt %s -split-input-file -attn-unique-result-buffers | FileCheck %s

// The second return of the same buffer gets a copy of its own; the first
// keeps the original.
// CHECK-LABEL: func.func @twice(
// CHECK-SAME:    %[[X:[a-z0-9]+]]: memref<4xf32>
// CHECK:         %[[A:.+]] = memref.alloc() : memref<4xf32>
// CHECK:         %[[C:.+]] = memref.alloc() : memref<4xf32>
// CHECK:         memref.copy %[[A]], %[[C]]
// CHECK:         return %[[A]], %[[C]], %[[X]] :
func.func @twice(%x: memref<4xf32>) -> (memref<4xf32>, memref<4xf32>, memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  memref.copy %x, %a : memref<4xf32> to memref<4xf32>
  return %a, %a, %x : memref<4xf32>, memref<4xf32>, memref<4xf32>
}

// -----

// Dynamic sizes are taken from the buffer; distinct results are untouched.
// CHECK-LABEL: func.func @dynamic(
// CHECK-SAME:    %[[X:[a-z0-9]+]]: memref<?x4xf32>, %[[Y:[a-z0-9]+]]: memref<?x4xf32>
// CHECK:         %[[D:.+]] = memref.dim %[[X]], %c0
// CHECK:         %[[C:.+]] = memref.alloc(%[[D]]) : memref<?x4xf32>
// CHECK:         memref.copy %[[X]], %[[C]]
// CHECK:         return %[[X]], %[[Y]], %[[C]] :
func.func @dynamic(%x: memref<?x4xf32>, %y: memref<?x4xf32>) -> (memref<?x4xf32>, memref<?x4xf32>, memref<?x4xf32>) {
  return %x, %y, %x : memref<?x4xf32>, memref<?x4xf32>, memref<?x4xf32>
}
