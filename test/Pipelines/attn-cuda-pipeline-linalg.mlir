// RUN: attn-opt %s --attn-cuda-pipeline="cubin-format=isa" | FileCheck %s

// The non-attention part of a decoder through the whole cuda pipeline: the
// weight is uploaded once through attnCudaConstant (its slot is a mutable
// global next to the host constant); three kernels: the fill (256-thread
// blocks over the 300 outputs, the tail guarded), the projection (the
// matvec kernel: 128-bit loads of W rows, shared-memory slices, K split
// over two blocks added atomically), and tanh with the scaling after it
// fused into one kernel (attn-fuse-elementwise; tanh from libdevice,
// inlined).
// CHECK: llvm.call @_mlir_ciface_attnCudaConstant
// CHECK: llvm.mlir.global private constant @__constant_128x300xf32
// CHECK-NEXT: llvm.mlir.global private @__attn_device___constant_128x300xf32
// CHECK: gpu.binary @proj_kernel
// CHECK-SAME: .maxntid 256, 1, 1
// CHECK-SAME: setp.gt.u32 {{.*}}, 299;
// CHECK-SAME: st.global.b32
// CHECK: gpu.binary @proj_kernel_0
// CHECK-SAME: ld.global.v4.b32
// CHECK-SAME: bar.sync
// CHECK-SAME: {{(atom|red)}}.global.add.f32
// CHECK: gpu.binary @proj_kernel_1
// CHECK-SAME: ex2.approx
// CHECK-SAME: mul.rn.f32
// CHECK-NOT: gpu.binary
func.func @proj(%x: tensor<1x128xf32> {attn.name = "x"}) -> (tensor<1x300xf32> {attn.name = "y"}) {
  %w = arith.constant dense<0.5> : tensor<128x300xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x300xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x300xf32>) -> tensor<1x300xf32>
  %y = linalg.matmul ins(%x, %w : tensor<1x128xf32>, tensor<128x300xf32>) outs(%f : tensor<1x300xf32>) -> tensor<1x300xf32>
  %t = tensor.empty() : tensor<1x300xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%y : tensor<1x300xf32>) outs(%t : tensor<1x300xf32>) {
  ^bb0(%a: f32, %b: f32):
    %h = math.tanh %a : f32
    linalg.yield %h : f32
  } -> tensor<1x300xf32>
  %u = tensor.empty() : tensor<1x300xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%g : tensor<1x300xf32>) outs(%u : tensor<1x300xf32>) {
  ^bb0(%a: f32, %b: f32):
    %c = arith.constant 3.0 : f32
    %m = arith.mulf %a, %c : f32
    linalg.yield %m : f32
  } -> tensor<1x300xf32>
  return %s : tensor<1x300xf32>
}
