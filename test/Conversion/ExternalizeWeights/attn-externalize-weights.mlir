// RUN: attn-opt %s -split-input-file -verify-diagnostics \
// RUN:   -attn-externalize-weights="min-bytes=64 params-file=m.so.params" | FileCheck %s
// RUN: attn-opt %s -split-input-file -verify-diagnostics \
// RUN:   -attn-externalize-weights="min-bytes=1000 params-file=m.so.params" | FileCheck %s --check-prefix=NONE

// Constants of at least min-bytes (dense and dense_resource) move to the
// parameter file at 64-byte aligned offsets after the 64-byte header; their
// addressof becomes the bound base plus the offset. The small constant, the
// mutable global and the signature stay; the signature becomes version 3
// with a params line.
// CHECK-LABEL: module attributes {attn.parameters = {
// CHECK-SAME:    entries = [{name = "big", offset = 64 : i64, value = dense<1.500000e+00> : tensor<16xf32>},
// CHECK-SAME:               {name = "blob", offset = 128 : i64, value = dense_resource<blob> : tensor<20xf32>},
// CHECK-SAME:               {name = "wide", offset = 256 : i64, value = dense<{{.*}}> : tensor<2x8xi32>}],
// CHECK-SAME:    file = "m.so.params", hash = {{-?[0-9]+}} : i64, size = 320 : i64}}
// CHECK-NOT:   llvm.mlir.global {{.*}}@big
// CHECK-NOT:   llvm.mlir.global {{.*}}@blob
// CHECK:       llvm.mlir.global private constant @small(dense<2.000000e+00> : tensor<4xf32>)
// CHECK:       llvm.mlir.global internal @state(
// CHECK:       llvm.mlir.global external constant @attn_model_signature("attn-model 3\0Adevice cpu\0Ainput x f32 1 4\0Aparams m.so.params 320 {{[0-9]+}}\0A\00")
// CHECK-LABEL: llvm.func @use(
// CHECK:         %[[SLOT:.+]] = llvm.mlir.addressof @__attn_params_base : !llvm.ptr
// CHECK:         %[[BASE:.+]] = llvm.load %[[SLOT]] {alignment = 8 : i64} : !llvm.ptr -> !llvm.ptr
// CHECK:         %[[OFF:.+]] = llvm.mlir.constant(64 : i64) : i64
// CHECK:         %[[BIG:.+]] = llvm.getelementptr inbounds %[[BASE]][%[[OFF]]] : (!llvm.ptr, i64) -> !llvm.ptr, i8
// CHECK:         llvm.mlir.constant(128 : i64)
// CHECK:         %[[BLOB:.+]] = llvm.getelementptr inbounds
// CHECK:         llvm.mlir.constant(256 : i64)
// CHECK:         %[[SMALL:.+]] = llvm.mlir.addressof @small
// CHECK:         llvm.call @sink(%[[BIG]], %[[BLOB]], %{{.+}}, %[[SMALL]])
// CHECK:       llvm.mlir.global internal @__attn_params_base() {addr_space = 0 : i32, alignment = 8 : i64} : !llvm.ptr {
// CHECK-NEXT:    %[[Z:.+]] = llvm.mlir.zero : !llvm.ptr
// CHECK-NEXT:    llvm.return %[[Z]] : !llvm.ptr
// CHECK-LABEL: llvm.func @attn_model_bind_params(
// CHECK-SAME:    %[[P:.+]]: !llvm.ptr)
// CHECK:         %[[S:.+]] = llvm.mlir.addressof @__attn_params_base
// CHECK:         llvm.store %[[P]], %[[S]] {alignment = 8 : i64}

// With a larger min-bytes nothing moves and the module is unchanged.
// NONE-NOT:    attn.parameters
// NONE:        llvm.mlir.global private constant @big(
// NONE:        "attn-model 1\0A
// NONE-NOT:    attn_model_bind_params
module {
  llvm.mlir.global private constant @big(dense<1.5> : tensor<16xf32>) {addr_space = 0 : i32, alignment = 64 : i64} : !llvm.array<16 x f32>
  llvm.mlir.global private constant @blob(dense_resource<blob> : tensor<20xf32>) {addr_space = 0 : i32} : !llvm.array<20 x f32>
  llvm.mlir.global private constant @small(dense<2.0> : tensor<4xf32>) {addr_space = 0 : i32} : !llvm.array<4 x f32>
  llvm.mlir.global private constant @wide(dense<[[1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15, 16]]> : tensor<2x8xi32>) {addr_space = 0 : i32} : !llvm.array<2 x array<8 x i32>>
  llvm.mlir.global internal @state(dense<0.0> : tensor<32xf32>) {addr_space = 0 : i32} : !llvm.array<32 x f32>
  llvm.mlir.global external constant @attn_model_signature("attn-model 1\0Adevice cpu\0Ainput x f32 1 4\0A\00") {addr_space = 0 : i32}
  llvm.func @sink(!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr)
  llvm.func @use() {
    %0 = llvm.mlir.addressof @big : !llvm.ptr
    %1 = llvm.mlir.addressof @blob : !llvm.ptr
    %2 = llvm.mlir.addressof @wide : !llvm.ptr
    %3 = llvm.mlir.addressof @small : !llvm.ptr
    llvm.call @sink(%0, %1, %2, %3) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
    llvm.return
  }
}

{-#
  dialect_resources: {
    builtin: {
      blob: "0x040000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F"
    }
  }
#-}

// -----

// Near misses: a constant that another global's initializer points to, and
// one whose LLVM type is not the value's layout, stay in place.
// CHECK-LABEL: module {
// CHECK:         llvm.mlir.global private constant @pointed(
// CHECK:         llvm.mlir.global private constant @reshaped(
// CHECK-NOT:     attn_model_bind_params
module {
  llvm.mlir.global private constant @pointed(dense<1.0> : tensor<32xf32>) {addr_space = 0 : i32} : !llvm.array<32 x f32>
  llvm.mlir.global private constant @reshaped(dense<1.0> : tensor<32xf32>) {addr_space = 0 : i32} : !llvm.array<32 x i32>
  llvm.mlir.global internal constant @table() {addr_space = 0 : i32} : !llvm.ptr {
    %0 = llvm.mlir.addressof @pointed : !llvm.ptr
    llvm.return %0 : !llvm.ptr
  }
  llvm.func @use() -> !llvm.ptr {
    %0 = llvm.mlir.addressof @reshaped : !llvm.ptr
    llvm.return %0 : !llvm.ptr
  }
}
