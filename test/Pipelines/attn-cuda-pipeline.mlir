// RUN: attn-opt %s --attn-cuda-pipeline="cubin-format=isa" | FileCheck %s

// The cuda target on tensors end to end: host code in the LLVM dialect
// launching the kernels on the run's stream, the kernels in PTX for sm_90a
// embedded in a gpu.binary.
// CHECK-LABEL: llvm.func @decode
// CHECK: gpu.launch_func <%{{.*}} : !llvm.ptr> @attn_kernels::@attn_append_0
// CHECK: gpu.launch_func <%{{.*}} : !llvm.ptr> @attn_kernels::@attn_partial_0
// CHECK: gpu.launch_func <%{{.*}} : !llvm.ptr> @attn_kernels::@attn_merge_0
// CHECK: gpu.binary @attn_kernels
// CHECK-SAME: .target sm_90a
// 128-bit loads of the f16 cache, butterfly shuffles for the dot products
// of a key row's lanes, exp2 on the special function unit.
// CHECK-SAME: ld.global.v4
// CHECK-SAME: shfl.sync.bfly
// CHECK-SAME: ex2.approx
func.func @decode(%query: tensor<1x8x1x128xf16>, %key: tensor<1x2x1x128xf16>,
                  %value: tensor<1x2x1x128xf16>, %position: tensor<i64>,
                  %key_cache: tensor<1x2x2048x128xf16>, %value_cache: tensor<1x2x2048x128xf16>)
    -> (tensor<1x8x1x128xf16>, tensor<1x2x2048x128xf16>, tensor<1x2x2048x128xf16>) {
  %init = tensor.empty() : tensor<1x8x1x128xf16>
  %p = tensor.extract %position[] : tensor<i64>
  %pos = arith.index_cast %p : i64 to index
  %out, %kc, %vc = attn.decode heads(8, 2) scale(0.088) causal
      ins(%query, %key, %value : tensor<1x8x1x128xf16>, tensor<1x2x1x128xf16>, tensor<1x2x1x128xf16>) position(%pos)
      outs(%init, %key_cache, %value_cache : tensor<1x8x1x128xf16>, tensor<1x2x2048x128xf16>, tensor<1x2x2048x128xf16>)
      -> tensor<1x8x1x128xf16>, tensor<1x2x2048x128xf16>, tensor<1x2x2048x128xf16>
  return %out, %kc, %vc : tensor<1x8x1x128xf16>, tensor<1x2x2048x128xf16>, tensor<1x2x2048x128xf16>
}
