// RUN: attn-opt %s -split-input-file -attn-export-entry-point | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-export-entry-point \
// RUN:   -convert-to-llvm -reconcile-unrealized-casts | FileCheck %s --check-prefix=LLVM

// Outputs marked by buffer-results-to-out-params{add-result-attr}; names from
// attn.name, defaults for the rest; a 0-d buffer gets a rank-0 descriptor.

// CHECK-LABEL: func.func @model(
func.func @model(%q: memref<2x3xf32> {attn.name = "query"}, %pos: memref<i64>,
                 %out: memref<2x3xf32> {attn.name = "out", bufferize.result},
                 %flag: memref<4xi1> {bufferize.result}) {
  return
}
// CHECK-LABEL: func.func @attn_model_run(
// CHECK-SAME:      %[[BUFS:.+]]: !llvm.ptr) {
// CHECK:         %[[SLOT0:.+]] = llvm.getelementptr %[[BUFS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK:         %[[P0:.+]] = llvm.load %[[SLOT0]] : !llvm.ptr -> !llvm.ptr
// CHECK:         %[[D0:.+]] = llvm.mlir.poison : !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>
// CHECK:         llvm.insertvalue %[[P0]], %[[D0]][0]
// CHECK:         llvm.insertvalue %[[P0]], %{{.+}}[1]
// CHECK:         %[[Q:.+]] = builtin.unrealized_conversion_cast %{{.+}} : !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)> to memref<2x3xf32>
// CHECK:         llvm.getelementptr %[[BUFS]][1]
// CHECK:         llvm.mlir.poison : !llvm.struct<(ptr, ptr, i64)>
// CHECK:         %[[POS:.+]] = builtin.unrealized_conversion_cast %{{.+}} : !llvm.struct<(ptr, ptr, i64)> to memref<i64>
// CHECK:         %[[OUT:.+]] = builtin.unrealized_conversion_cast %{{.+}} to memref<2x3xf32>
// CHECK:         %[[FLAG:.+]] = builtin.unrealized_conversion_cast %{{.+}} to memref<4xi1>
// CHECK:         call @model(%[[Q]], %[[POS]], %[[OUT]], %[[FLAG]])
// CHECK:         return
// CHECK:       llvm.mlir.global external constant @attn_model_signature("attn-model 1\0Adevice cpu\0Ainput query f32 2 2 3\0Ainput input_1 i64 0\0Aoutput out f32 2 2 3\0Aoutput output_1 bool 1 4\0A\00")

// After conversion to LLVM the casts cancel: the entry point passes the
// descriptor fields straight to the model function.
// LLVM-LABEL: llvm.func @attn_model_run(
// LLVM-NOT:     unrealized_conversion_cast
// LLVM:         llvm.call @model(
// LLVM:       llvm.mlir.global external constant @attn_model_signature

// -----

// Without markers, attn.num_outputs says the trailing arguments are outputs;
// names with spaces and '%' are escaped; strides are row-major.

// CHECK-LABEL: func.func @counted(
func.func @counted(%a: memref<4x5x6xf16> {attn.name = "past key%1"},
                   %b: memref<4x5x6xbf16>) attributes {attn.num_outputs = 1 : i64} {
  return
}
// CHECK-LABEL: func.func @attn_model_run(
// CHECK-DAG:     %[[C30:.+]] = llvm.mlir.constant(30 : i64) : i64
// CHECK-DAG:     %[[C6:.+]] = llvm.mlir.constant(6 : i64) : i64
// CHECK:         llvm.insertvalue %[[C6]], %{{.+}}[3, 2]
// CHECK:         llvm.insertvalue %{{.+}}, %{{.+}}[4, 2]
// CHECK:         llvm.insertvalue %[[C6]], %{{.+}}[4, 1]
// CHECK:         llvm.insertvalue %[[C30]], %{{.+}}[4, 0]
// CHECK:       @attn_model_signature("attn-model 1\0Adevice cpu\0Ainput past%20key%251 f16 3 4 5 6\0Aoutput output_0 bf16 3 4 5 6\0A\00")

// -----

// A KV cache updated in place (attn.tied_result, after
// attn-drop-tied-results) is an inout buffer: version 2 of the signature.
// CHECK-LABEL: func.func @decode_step(
func.func @decode_step(%ids: memref<1x1xi64> {attn.name = "input_ids"},
                       %cache: memref<1x2x8x4xf32> {attn.name = "past_key_0", attn.tied_result = 1 : i64},
                       %pos: memref<i64> {attn.name = "cache_position"},
                       %logits: memref<1x16xf32> {attn.name = "logits", bufferize.result}) {
  return
}
// CHECK:       llvm.mlir.global external constant @attn_model_signature("attn-model 2\0Adevice cpu\0Ainput input_ids i64 2 1 1\0Ainout past_key_0 f32 4 1 2 8 4\0Ainput cache_position i64 0\0Aoutput logits f32 2 1 16\0A\00")

// -----

// Without markers, the trailing attn.num_outputs arguments are outputs and
// inouts keep their place; unnamed inouts are inout_N.
// CHECK-LABEL: func.func @counted(
func.func @counted(%cache: memref<4xf32> {attn.tied_result = 0 : i64},
                   %x: memref<4xf32>, %y: memref<4xf32>) attributes {attn.num_outputs = 1 : i64} {
  return
}
// CHECK:       @attn_model_signature("attn-model 2\0Adevice cpu\0Ainout inout_0 f32 1 4\0Ainput input_0 f32 1 4\0Aoutput output_0 f32 1 4\0A\00")

// -----

// Buffers with an attn.role (attn-mark-entry-point, on a decode step) are
// listed again in `role ROLE NAME` lines after the buffer lines, names
// escaped like the buffer lines'.

// CHECK-LABEL: func.func @roles(
// CHECK:       llvm.mlir.global external constant @attn_model_signature("attn-model 2\0Adevice cpu\0Ainput my%20ids i64 2 1 1\0Ainout past_key_0 f32 2 4 2\0Ainput cache_position i64 0\0Aoutput logits f32 1 8\0Arole input_ids my%20ids\0Arole cache_position cache_position\0Arole logits logits\0A\00")
func.func @roles(%ids: memref<1x1xi64> {attn.name = "my ids", attn.role = "input_ids"},
                 %cache: memref<4x2xf32> {attn.name = "past_key_0", attn.tied_result = 1 : i64},
                 %at: memref<i64> {attn.name = "cache_position", attn.role = "cache_position"},
                 %logits: memref<8xf32> {attn.name = "logits", attn.role = "logits", bufferize.result}) {
  return
}
