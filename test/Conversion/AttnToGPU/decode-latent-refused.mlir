// What the cuda target does not lower of a latent (MLA) attn.decode: an
// error at the op, not a wrong kernel.
// RUN: attn-opt %s --split-input-file --convert-attn-to-gpu -verify-diagnostics

func.func @latent_mask(%q: memref<1x4x1x20xf32>, %c: memref<1x1x1x16xf32>,
                       %r: memref<1x1x1x4xf32>, %p: index, %o: memref<1x4x1x16xf32>,
                       %lc: memref<1x1x64x16xf32>, %rc: memref<1x1x64x4xf32>,
                       %m: memref<1x1x1x64xi1>) {
  // expected-error @below {{the cuda target does not lower a latent (MLA) attn.decode with a mask yet}}
  attn.decode heads(4, 1) scale(0.25) causal latent(16)
      ins(%q, %c, %r : memref<1x4x1x20xf32>, memref<1x1x1x16xf32>, memref<1x1x1x4xf32>)
      position(%p) mask(%m : memref<1x1x1x64xi1>)
      outs(%o, %lc, %rc : memref<1x4x1x16xf32>, memref<1x1x64x16xf32>, memref<1x1x64x4xf32>)
  return
}

// -----

// A key row of 1280 f32 (rank 1024 + rope 256) leaves no tile of 8 keys
// within the 48 KiB of static shared memory.
func.func @latent_too_wide(%q: memref<1x4x1x1280xf32>, %c: memref<1x1x1x1024xf32>,
                           %r: memref<1x1x1x256xf32>, %p: index,
                           %o: memref<1x4x1x1024xf32>,
                           %lc: memref<1x1x64x1024xf32>, %rc: memref<1x1x64x256xf32>) {
  // expected-error @below {{the cuda target's latent decode needs a tile of 8 key rows within 48 KiB of shared memory; rows of 1280 (rank 1024 + rope 256) on CUDA cores do not fit}}
  attn.decode heads(4, 1) scale(0.25) causal latent(1024)
      ins(%q, %c, %r : memref<1x4x1x1280xf32>, memref<1x1x1x1024xf32>, memref<1x1x1x256xf32>)
      position(%p)
      outs(%o, %lc, %rc : memref<1x4x1x1024xf32>, memref<1x1x64x1024xf32>, memref<1x1x64x256xf32>)
  return
}
