// attn-compile-pipeline is exactly what attn-compile runs on an .mlir model:
// attn-opt and stock mlir-opt with the plugin print the same module as
// `attn-compile --emit=mlir`, with and without options.

// RUN: attn-compile %s --emit=mlir -o %t.compile.mlir
// RUN: attn-opt %s --attn-compile-pipeline -o %t.opt.mlir
// RUN: diff %t.compile.mlir %t.opt.mlir
// RUN: %mlir_opt_stock --load-dialect-plugin=%attn_lib_dir/AttnPlugin.so \
// RUN:   --load-pass-plugin=%attn_lib_dir/AttnPlugin.so \
// RUN:   --pass-pipeline='builtin.module(attn-compile-pipeline)' %s -o %t.plugin.mlir
// RUN: diff %t.compile.mlir %t.plugin.mlir
// RUN: FileCheck %s < %t.plugin.mlir

// RUN: attn-compile %s --emit=mlir --share-kv=1 --mcpu=x86-64-v3 --entry-function=gqa -o %t.mqa.compile.mlir
// RUN: %mlir_opt_stock --load-dialect-plugin=%attn_lib_dir/AttnPlugin.so \
// RUN:   --load-pass-plugin=%attn_lib_dir/AttnPlugin.so \
// RUN:   --pass-pipeline='builtin.module(attn-compile-pipeline{share-kv=1 mcpu=x86-64-v3 entry-function=gqa})' \
// RUN:   %s -o %t.mqa.plugin.mlir
// RUN: diff %t.mqa.compile.mlir %t.mqa.plugin.mlir
// RUN: FileCheck %s --check-prefix=MQA --implicit-check-not='vector<16xf32>' < %t.mqa.plugin.mlir

// target=cuda is what `attn-compile --target cuda` runs (kernels in a
// gpu.binary, a `device cuda` signature).
// RUN: %if ptxas %{ attn-compile %s --emit=mlir --target cuda -o %t.cuda.compile.mlir %}
// RUN: %if ptxas %{ attn-opt %s --attn-compile-pipeline='target=cuda' -o %t.cuda.opt.mlir %}
// gpu.binary records how long ptxas took: compare without those properties.
// RUN: %if ptxas %{ sed 's/properties = {[^}]*}, //' %t.cuda.compile.mlir > %t.cuda.compile.cmp %}
// RUN: %if ptxas %{ sed 's/properties = {[^}]*}, //' %t.cuda.opt.mlir > %t.cuda.opt.cmp %}
// RUN: %if ptxas %{ diff %t.cuda.compile.cmp %t.cuda.opt.cmp %}
// RUN: %if ptxas %{ FileCheck %s --check-prefix=CUDA < %t.cuda.opt.mlir %}
// CUDA-DAG: device cuda
// CUDA-DAG: gpu.binary @attn_kernels
// RUN: not attn-opt %s --attn-compile-pipeline='target=tpu' 2>&1 \
// RUN:   | FileCheck %s --check-prefix=BAD-TARGET
// BAD-TARGET: attn-compile-pipeline: unknown target 'tpu'

// An unknown CPU is an error of the pipeline, not a crash.
// RUN: not attn-opt %s --attn-compile-pipeline='mcpu=not-a-cpu' 2>&1 \
// RUN:   | FileCheck %s --check-prefix=BAD-CPU
// BAD-CPU: attn-compile-pipeline: unknown CPU 'not-a-cpu'

// The output is a loadable model: the runtime's entry point and signature.
// CHECK-DAG: llvm.mlir.global external constant @attn_model_signature("attn-model 1\0Adevice cpu\0Ainput q f32 4 1 8 4 16\0Ainput k f32 4 1 2 40 16\0Ainput v f32 4 1 2 40 16\0Aoutput o f32 4 1 8 4 16\0A\00")
// CHECK-DAG: llvm.func @attn_model_run(
// CHECK-DAG: llvm.func @gqa(
// CHECK-NOT: attn.

// With mcpu=x86-64-v3 the vectors are 8 lanes wide, whatever the host.
// MQA: vector<8xf32>
func.func @gqa(%q: tensor<1x8x4x16xf32> {attn.name = "q"},
               %k: tensor<1x2x40x16xf32> {attn.name = "k"},
               %v: tensor<1x2x40x16xf32> {attn.name = "v"})
    -> (tensor<1x8x4x16xf32> {attn.name = "o"}) {
  %init = tensor.empty() : tensor<1x8x4x16xf32>
  %o = attn.attention heads(8, 2) scale(0.25) causal(36)
      ins(%q, %k, %v : tensor<1x8x4x16xf32>, tensor<1x2x40x16xf32>,
                       tensor<1x2x40x16xf32>)
      outs(%init : tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32>
  return %o : tensor<1x8x4x16xf32>
}
