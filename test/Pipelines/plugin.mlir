// RUN: %mlir_opt_stock --load-dialect-plugin=%attn_lib_dir/AttnPlugin.so \
// RUN:   --load-pass-plugin=%attn_lib_dir/AttnPlugin.so \
// RUN:   --pass-pipeline='builtin.module(attn-cpu-pipeline)' %s | FileCheck %s

// Stock mlir-opt 22 loads the attn dialect, its bufferisation models and its
// passes from the plugin and runs the whole CPU pipeline: the MQA op (4
// query heads, 1 KV head) ends up as an LLVM function under OpenMP.

// CHECK-NOT:   attn.
// CHECK-LABEL: llvm.func @mqa(
// CHECK:         omp.parallel
// CHECK-NOT:   attn.
func.func @mqa(%q: tensor<2x4x1x32xf32>, %k: tensor<2x1x100x32xf32>,
               %v: tensor<2x1x100x32xf32>) -> tensor<2x4x1x32xf32> {
  %init = tensor.empty() : tensor<2x4x1x32xf32>
  %o = attn.attention heads(4, 1) scale(0.17)
      ins(%q, %k, %v : tensor<2x4x1x32xf32>, tensor<2x1x100x32xf32>,
                       tensor<2x1x100x32xf32>)
      outs(%init : tensor<2x4x1x32xf32>) -> tensor<2x4x1x32xf32>
  return %o : tensor<2x4x1x32xf32>
}
