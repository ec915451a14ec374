// RUN: attn-opt %s -attn-export-entry-point=entry-function=second | FileCheck %s

// entry-function picks one of several public functions; attn.output marks
// an output explicitly.

func.func @first(%a: memref<1xi8>, %b: memref<1xi8> {attn.output}) {
  return
}
func.func @second(%a: memref<2xui8>, %b: memref<2xi32> {attn.output}) {
  return
}
// CHECK-LABEL: func.func @attn_model_run(
// CHECK:         call @second(
// CHECK:       @attn_model_signature("attn-model 1\0Adevice cpu\0Ainput input_0 u8 1 2\0Aoutput output_0 i32 1 2\0A\00")
