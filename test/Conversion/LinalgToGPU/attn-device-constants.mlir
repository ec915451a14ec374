// RUN: attn-opt %s --attn-device-constants -split-input-file -verify-diagnostics | FileCheck %s

// Each constant global read by a host function gets a slot (a mutable
// module global the runtime fills with the device copy's address on the
// first run) and a call of attnCudaConstant with the slot, the host copy and
// its size; users read a view of the device copy with the global's type.
// The host only takes addresses. Two reads of one global share its slot.
// CHECK: func.func private @attnCudaConstant(index, index, index) -> memref<?xi8> attributes {llvm.emit_c_interface}
// CHECK: memref.global "private" constant @w : memref<4x8xf32>
// CHECK-NEXT: memref.global "private" @__attn_device_w : memref<2xi64> = dense<0> {alignment = 8 : i64}
// CHECK: memref.global "private" constant @ids : memref<3xi1>
// CHECK-NEXT: memref.global "private" @__attn_device_ids : memref<2xi64>
// CHECK-LABEL: func.func @main
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<4x8xf32>
// CHECK: %[[HOST:.+]] = memref.get_global @w : memref<4x8xf32>
// CHECK: %[[SLOT:.+]] = memref.get_global @__attn_device_w : memref<2xi64>
// CHECK: %[[SP:.+]] = memref.extract_aligned_pointer_as_index %[[SLOT]]
// CHECK: %[[HP:.+]] = memref.extract_aligned_pointer_as_index %[[HOST]]
// CHECK: %[[BYTES:.+]] = arith.constant 128 : index
// CHECK: %[[DEV:.+]] = call @attnCudaConstant(%[[SP]], %[[HP]], %[[BYTES]]) : (index, index, index) -> memref<?xi8>
// CHECK: %[[VIEW:.+]] = memref.view %[[DEV]][%{{.+}}][] : memref<?xi8> to memref<4x8xf32>
// CHECK: memref.copy %[[VIEW]], %[[X]]
// A global of i1 takes a byte an element.
// CHECK: arith.constant 3 : index
// CHECK: call @attnCudaConstant
// CHECK-LABEL: func.func @other
// CHECK: memref.get_global @__attn_device_w
memref.global "private" constant @w : memref<4x8xf32> = dense<1.0>
memref.global "private" constant @ids : memref<3xi1> = dense<true>
func.func @main(%x: memref<4x8xf32>, %m: memref<3xi1>) {
  %w = memref.get_global @w : memref<4x8xf32>
  memref.copy %w, %x : memref<4x8xf32> to memref<4x8xf32>
  %i = memref.get_global @ids : memref<3xi1>
  memref.copy %i, %m : memref<3xi1> to memref<3xi1>
  return
}
func.func @other(%x: memref<4x8xf32>) {
  %w = memref.get_global @w : memref<4x8xf32>
  memref.copy %w, %x : memref<4x8xf32> to memref<4x8xf32>
  return
}

// -----

// A mutable global has no device copy that stays valid.
memref.global "private" @state : memref<4xf32> = dense<0.0>
func.func @mutable(%x: memref<4xf32>) {
  // expected-error @+1 {{the cuda target cannot give kernels the non-constant global @state}}
  %s = memref.get_global @state : memref<4xf32>
  memref.copy %s, %x : memref<4xf32> to memref<4xf32>
  return
}
