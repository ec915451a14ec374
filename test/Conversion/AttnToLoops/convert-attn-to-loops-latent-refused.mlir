// RUN: attn-opt %s --convert-attn-to-loops --verify-diagnostics

// The latent (MLA) decode has no loop lowering yet: the pass says so at the
// op instead of lowering it as a plain decode (whose value would be the
// rotary cache).
func.func @latent(%q: memref<1x4x1x20xf32>, %c: memref<1x1x1x16xf32>,
                  %r: memref<1x1x1x4xf32>, %p: index, %o: memref<1x4x1x16xf32>,
                  %lc: memref<1x1x64x16xf32>, %rc: memref<1x1x64x4xf32>) {
  // expected-error @+1 {{latent (MLA) attn.decode is not lowered to loops yet}}
  attn.decode heads(4, 1) scale(0.25) causal latent(16)
      ins(%q, %c, %r : memref<1x4x1x20xf32>, memref<1x1x1x16xf32>, memref<1x1x1x4xf32>)
      position(%p)
      outs(%o, %lc, %rc : memref<1x4x1x16xf32>, memref<1x1x64x16xf32>, memref<1x1x64x4xf32>)
  return
}
