// The cuda target does not lower the latent (MLA) decode yet: an error at the
// op naming the cpu target, not a wrong kernel.
// RUN: attn-opt %s --convert-attn-to-gpu -verify-diagnostics

func.func @latent(%q: memref<1x4x1x20xf32>, %c: memref<1x1x1x16xf32>,
                  %r: memref<1x1x1x4xf32>, %p: index, %o: memref<1x4x1x16xf32>,
                  %lc: memref<1x1x64x16xf32>, %rc: memref<1x1x64x4xf32>) {
  // expected-error @below {{the cuda target does not lower a latent (MLA) attn.decode yet; compile it for the cpu target}}
  attn.decode heads(4, 1) scale(0.25) causal latent(16)
      ins(%q, %c, %r : memref<1x4x1x20xf32>, memref<1x1x1x16xf32>, memref<1x1x1x4xf32>)
      position(%p)
      outs(%o, %lc, %rc : memref<1x4x1x16xf32>, memref<1x1x64x16xf32>, memref<1x1x64x4xf32>)
  return
}
