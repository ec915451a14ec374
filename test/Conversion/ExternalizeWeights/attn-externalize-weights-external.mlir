// RUN: rm -rf %t && mkdir -p %t
// The file: 8 zero bytes, 16 x 1.0f at offset 8, 2 zero bytes, 16 x 1.0f at
// offset 74 (not a multiple of 4), 2 zero bytes, 16 x 1.0f at offset 140.
// RUN: %python -c "import struct; one = struct.pack('<16f', *[1.0] * 16); open('%t/w.bin', 'wb').write(bytes(8) + one + bytes(2) + one + bytes(2) + one)"
// RUN: sed -e 's|@DIR@|%t|g' %s | attn-opt -verify-diagnostics \
// RUN:   -attn-externalize-weights="min-bytes=64 params-file=m.so.params external-data=true library-dir=%t/lib" | FileCheck %s
// Without external-data the same module copies everything (version 3).
// RUN: sed -e 's|@DIR@|%t|g' %s | attn-opt \
// RUN:   -attn-externalize-weights="min-bytes=64 params-file=m.so.params" | FileCheck %s --check-prefix=COPY
// A file whose bytes differ from the blob's is an error.
// RUN: %python -c "import struct; open('%t/w.bin', 'wb').write(bytes(8) + struct.pack('<16f', *[2.0] * 16) + bytes(200))"
// RUN: sed -e 's|@DIR@|%t|g' %s | not attn-opt \
// RUN:   -attn-externalize-weights="min-bytes=64 params-file=m.so.params external-data=true" 2>&1 | FileCheck %s --check-prefix=CHANGED

// @a (offset 8) and @c (offset 140) are read from w.bin through the second
// base (the parameter file's is the first); @b (offset 74, unaligned for f32)
// goes to the parameter file. The signature is version 4, the path relative
// to library-dir, and attn.external_data is dropped.
// CHECK-LABEL: module attributes {attn.parameters = {
// CHECK-SAME:    entries = [{name = "b", offset = 64 : i64
// CHECK-SAME:    size = 128 : i64}}
// CHECK-NOT:   attn.external_data
// CHECK:       llvm.mlir.global external constant @attn_model_signature("attn-model 4\0Adevice cpu\0Aparams m.so.params 128 {{[0-9]+}}\0Aparams-external ../w.bin 204 {{[0-9]+}}\0A\00")
// CHECK-LABEL: llvm.func @use(
// CHECK:         llvm.mlir.addressof @__attn_params_base_ext0
// CHECK:         llvm.mlir.constant(8 : i64)
// CHECK:         llvm.mlir.addressof @__attn_params_base :
// CHECK:         llvm.mlir.constant(64 : i64)
// CHECK:         llvm.mlir.addressof @__attn_params_base_ext0
// CHECK:         llvm.mlir.constant(140 : i64)
// CHECK-LABEL: llvm.func @attn_model_bind_param_files(
// CHECK-SAME:    %[[P:.+]]: !llvm.ptr)
// CHECK:         %[[E0:.+]] = llvm.getelementptr inbounds %[[P]][%{{.+}}] : (!llvm.ptr, i64) -> !llvm.ptr, !llvm.ptr
// CHECK:         %[[B0:.+]] = llvm.load %[[E0]]
// CHECK:         llvm.store %[[B0]], %{{.+}}
// CHECK:         llvm.getelementptr inbounds %[[P]]
// CHECK:         llvm.mlir.addressof @__attn_params_base_ext0
// CHECK-NOT:   attn_model_bind_params

// COPY: "attn-model 3\0Adevice cpu\0Aparams m.so.params 256

// CHANGED: error: external data file '{{.*}}w.bin' no longer holds the bytes of 'a' at offset 8 (changed since the import?)

module attributes {attn.external_data = {
    a = {file = "@DIR@/w.bin", offset = 8 : i64},
    b = {file = "@DIR@/w.bin", offset = 74 : i64},
    c = {file = "@DIR@/w.bin", offset = 140 : i64}}} {
  llvm.mlir.global private constant @a(dense_resource<a> : tensor<16xf32>) : !llvm.array<16 x f32>
  llvm.mlir.global private constant @b(dense_resource<b> : tensor<16xf32>) : !llvm.array<16 x f32>
  llvm.mlir.global private constant @c(dense_resource<c> : tensor<16xf32>) : !llvm.array<16 x f32>
  llvm.mlir.global external constant @attn_model_signature("attn-model 1\0Adevice cpu\0A\00") : !llvm.array<25 x i8>
  llvm.func @sink(!llvm.ptr, !llvm.ptr, !llvm.ptr)
  llvm.func @use() {
    %0 = llvm.mlir.addressof @a : !llvm.ptr
    %1 = llvm.mlir.addressof @b : !llvm.ptr
    %2 = llvm.mlir.addressof @c : !llvm.ptr
    llvm.call @sink(%0, %1, %2) : (!llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
    llvm.return
  }
}

{-#
  dialect_resources: {
    builtin: {
      a: "0x040000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F",
      b: "0x040000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F",
      c: "0x040000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F"
    }
  }
#-}
