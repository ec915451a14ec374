// RUN: attn-opt %s --attn-cpu-pipeline | FileCheck %s
// RUN: attn-opt %s --attn-cpu-pipeline | mlir-translate --mlir-to-llvmir \
// RUN:   | FileCheck %s --check-prefix=LLVM

// attn-cpu-pipeline takes attn ops on tensors all the way to the LLVM
// dialect: results become out-parameters (the functions return nothing),
// the flash loops run under OpenMP, exp is a polynomial (no libm call), and
// nothing of the attn/scf/memref/vector/math dialects is left. The decode
// case has a dynamic position, so the cache window's offset goes through
// expand-strided-metadata's affine.apply (which must be lowered after it).

// CHECK-NOT:   attn.
// CHECK-LABEL: llvm.func @gqa({{[^)]*}}) {
// CHECK:         omp.parallel
// CHECK:           omp.wsloop
// CHECK:         llvm.intr.fmuladd
// CHECK-LABEL: llvm.func @decode({{[^)]*}}) {
// CHECK:         omp.parallel
// CHECK-NOT:   {{= (attn|scf|memref|vector|math|affine)\.}}
// CHECK-NOT:   {{^ *(attn|scf|memref|vector|math|affine)\.}}
// CHECK-NOT:   builtin.unrealized_conversion_cast

// LLVM-LABEL: define void @gqa(
// LLVM:         call void (ptr, i32, ptr, ...) @__kmpc_fork_call(
// LLVM-LABEL: define void @decode(
// LLVM:         call void (ptr, i32, ptr, ...) @__kmpc_fork_call(
// LLVM-NOT:   @expf
func.func @gqa(%q: tensor<1x8x4x16xf32>, %k: tensor<1x2x40x16xf32>,
               %v: tensor<1x2x40x16xf32>) -> tensor<1x8x4x16xf32> {
  %init = tensor.empty() : tensor<1x8x4x16xf32>
  %o = attn.attention heads(8, 2) scale(0.25) causal(36)
      ins(%q, %k, %v : tensor<1x8x4x16xf32>, tensor<1x2x40x16xf32>,
                       tensor<1x2x40x16xf32>)
      outs(%init : tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32>
  return %o : tensor<1x8x4x16xf32>
}

func.func @decode(%q: tensor<1x4x1x16xf16>, %k: tensor<1x1x1x16xf16>,
                  %v: tensor<1x1x1x16xf16>, %pos: index,
                  %kc: tensor<1x1x64x16xf16>, %vc: tensor<1x1x64x16xf16>)
    -> (tensor<1x4x1x16xf16>, tensor<1x1x64x16xf16>, tensor<1x1x64x16xf16>) {
  %init = tensor.empty() : tensor<1x4x1x16xf16>
  %o, %kc2, %vc2 = attn.decode heads(4, 1) scale(0.25) causal
      ins(%q, %k, %v : tensor<1x4x1x16xf16>, tensor<1x1x1x16xf16>,
                       tensor<1x1x1x16xf16>)
      position(%pos)
      outs(%init, %kc, %vc : tensor<1x4x1x16xf16>, tensor<1x1x64x16xf16>,
                             tensor<1x1x64x16xf16>)
      -> tensor<1x4x1x16xf16>, tensor<1x1x64x16xf16>, tensor<1x1x64x16xf16>
  return %o, %kc2, %vc2
      : tensor<1x4x1x16xf16>, tensor<1x1x64x16xf16>, tensor<1x1x64x16xf16>
}
