// RUN: attn-opt %s --split-input-file --convert-attn-to-loops --verify-diagnostics

// Ops on tensors must be bufferised first: the pass names what it needs
// instead of lowering part of the function.
func.func @tensors(%q: tensor<1x2x1x16xf32>, %k: tensor<1x1x8x16xf32>,
                   %v: tensor<1x1x8x16xf32>, %o: tensor<1x2x1x16xf32>)
    -> tensor<1x2x1x16xf32> {
  // expected-error @+1 {{could not be lowered to loops}}
  %r = attn.attention heads(2, 1) scale(0.25)
    ins(%q, %k, %v : tensor<1x2x1x16xf32>, tensor<1x1x8x16xf32>,
                     tensor<1x1x8x16xf32>)
    outs(%o : tensor<1x2x1x16xf32>) -> tensor<1x2x1x16xf32>
  return %r : tensor<1x2x1x16xf32>
}

// -----

// A dynamic head size cannot size the per-work-item row buffers.
func.func @dynamic_head(%q: memref<1x2x1x?xf32>, %k: memref<1x1x8x?xf32>,
                        %v: memref<1x1x8x?xf32>, %o: memref<1x2x1x?xf32>) {
  // expected-error @+1 {{could not be lowered to loops}}
  attn.attention heads(2, 1) scale(0.25)
    ins(%q, %k, %v : memref<1x2x1x?xf32>, memref<1x1x8x?xf32>,
                     memref<1x1x8x?xf32>)
    outs(%o : memref<1x2x1x?xf32>)
  return
}

// -----

// RUN: not attn-opt %s --split-input-file \
// RUN:   --convert-attn-to-loops=row-lanes=12 2>&1 | FileCheck %s --check-prefix=LANES
// LANES: row-lanes must be 0, 8 or 16, got 12
func.func @lanes() {
  return
}

// -----

// RUN: not attn-opt %s --split-input-file \
// RUN:   --convert-attn-to-loops=tile-alignment=48 2>&1 | FileCheck %s --check-prefix=ALIGN
// ALIGN: tile-alignment must be 0 or a power of two of at least 2 bytes, got 48
func.func @alignment() {
  return
}
