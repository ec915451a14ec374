// RUN: attn-opt %s --attn-cuda-pipeline="cubin-format=isa" | FileCheck %s

// A zero-filled prompt product through the whole cuda pipeline to sm_90a
// PTX: one kernel (the fill is not launched), launched with 107520 bytes
// of dynamic shared memory (three stages of 128 x 128 tiles, K-tiles of
// 64), which the kernel reads through the 16-byte aligned
// __dynamic_shmem__ symbol; two K-tiles in flight (cp.async.wait_group 1),
// ldmatrix (.trans for W[k, n]) and mma.sync m16n8k16 (LLVM rotates the
// K loop: its wait and barrier come after the body); the epilogue stores
// y without loading it.
// CHECK: %[[BYTES:.+]] = llvm.mlir.constant(107520 : i32) : i32
// CHECK: gpu.launch_func {{.*}} @gemm_kernel::@gemm_kernel {{.*}} dynamic_shared_memory_size %[[BYTES]]
// CHECK-NOT: gpu.launch_func
// CHECK: gpu.binary @gemm_kernel
// CHECK-SAME: .shared .align 16 .b8 __dynamic_shmem__0
// CHECK-SAME: cp.async.cg.shared.global [
// CHECK-SAME: cp.async.commit_group;
// CHECK-SAME: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK-SAME: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// CHECK-SAME: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-SAME: cp.async.wait_group {{(\\09)?}}1;
// CHECK-SAME: bar.sync {{(\\09)?}}0;
// CHECK-SAME: cp.async.wait_group {{(\\09)?}}0;
// CHECK-NOT: ld.global
// CHECK-SAME: st.global.b32
func.func @gemm(%x: tensor<2048x576xf16>, %w: tensor<576x1536xf16>) -> tensor<2048x1536xf16> {
  %zero = arith.constant 0.0 : f16
  %empty = tensor.empty() : tensor<2048x1536xf16>
  %init = linalg.fill ins(%zero : f16) outs(%empty : tensor<2048x1536xf16>) -> tensor<2048x1536xf16>
  %y = linalg.matmul ins(%x, %w : tensor<2048x576xf16>, tensor<576x1536xf16>) outs(%init : tensor<2048x1536xf16>) -> tensor<2048x1536xf16>
  return %y : tensor<2048x1536xf16>
}
