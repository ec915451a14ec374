// RUN: attn-opt %s --attn-device-buffers -split-input-file -verify-diagnostics | FileCheck %s

// Host allocations and contiguous copies go to the device; launches,
// views and the address of a constant (attn-device-constants) stay.
// CHECK-LABEL: func.func @moved
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<4x8xf32>, %[[Y:[a-z0-9]+]]: memref<4x8xf32>
// CHECK: %[[T:.+]] = gpu.alloc () : memref<4x8xf32>
// CHECK: gpu.memcpy %[[T]], %[[X]] : memref<4x8xf32>, memref<4x8xf32>
// CHECK: memref.expand_shape %[[T]]
// CHECK: gpu.memcpy %[[Y]], %[[T]]
// CHECK: gpu.dealloc %[[T]] : memref<4x8xf32>
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.copy
memref.global "private" constant @w : memref<4xf32> = dense<1.0>
func.func @moved(%x: memref<4x8xf32>, %y: memref<4x8xf32>) -> index {
  %t = memref.alloc() {alignment = 64 : i64} : memref<4x8xf32>
  memref.copy %x, %t : memref<4x8xf32> to memref<4x8xf32>
  %e = memref.expand_shape %t [[0], [1, 2]] output_shape [4, 2, 4] : memref<4x8xf32> into memref<4x2x4xf32>
  memref.copy %t, %y : memref<4x8xf32> to memref<4x8xf32>
  memref.dealloc %t : memref<4x8xf32>
  %w = memref.get_global @w : memref<4xf32>
  %p = memref.extract_aligned_pointer_as_index %w : memref<4xf32> -> index
  return %p : index
}

// -----

// A host read of a buffer (a position or a shape value) would dereference
// device memory: an error naming the op.
func.func @host_load(%pos: memref<i64>) -> i64 {
  // expected-error @+1 {{the cuda target cannot run 'memref.load' on the host: it would access device memory from the CPU}}
  %p = memref.load %pos[] : memref<i64>
  return %p : i64
}

// -----

func.func @leftover_linalg(%x: memref<4xf32>, %y: memref<4xf32>) {
  // expected-error @+1 {{the cuda target cannot run 'linalg.copy' on the host}}
  linalg.copy ins(%x : memref<4xf32>) outs(%y : memref<4xf32>)
  return
}

// -----

// A global read for its contents (not only its address) is a host read.
memref.global "private" constant @w : memref<4xf32> = dense<1.0>
func.func @global_contents(%y: memref<4xf32>) {
  // expected-error @+1 {{the cuda target cannot run 'memref.get_global' on the host}}
  %w = memref.get_global @w : memref<4xf32>
  // (the copy itself becomes a gpu.memcpy: the global is what is wrong)
  memref.copy %w, %y : memref<4xf32> to memref<4xf32>
  return
}
