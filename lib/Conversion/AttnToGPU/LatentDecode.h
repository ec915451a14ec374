//===- LatentDecode.h - latent (MLA) attn.decode on the GPU -----*- C++ -*-===//
//
// Private to convert-attn-to-gpu: the kernels of an attn.decode with
// latent(r) (LatentDecode.cpp), called from AttnToGPU.cpp's DecodeOp
// lowering.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOGPU_LATENTDECODE_H
#define ATTN_LIB_CONVERSION_ATTNTOGPU_LATENTDECODE_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn::gpu_kernels {

/// Replaces the latent decode `op` (on memrefs) by the launches of its
/// check, append, partial and (split keys) merge kernels, added to
/// `module` under names starting with `prefix`. `position` is what the
/// kernels read the position from (an index, a rank-0 or a [B] integer
/// buffer), `record` the run's error record, `positionBuffer` the host
/// argument number the check kernel names in its report (-1: unknown).
/// Fails with an error at the op on shapes it does not lower.
LogicalResult lowerLatentDecode(OpBuilder &b, gpu::GPUModuleOp module,
                                DecodeOp op, StringRef prefix, Value position,
                                Value record, int64_t positionBuffer);

} // namespace mlir::attn::gpu_kernels

#endif // ATTN_LIB_CONVERSION_ATTNTOGPU_LATENTDECODE_H
