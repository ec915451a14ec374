//===- WgmmaPrefill.h - flash attention forward with Hopper wgmma -*- C++ -*-===//
//
// attn.attention prompts on sm_90a with warpgroup MMAs: a block of two
// warpgroups takes 128 query rows of one query head; Q and double-buffered
// 128-key K/V tiles sit in shared memory in the 128-byte swizzled layout
// (cp.async), S = Q K^T is wgmma m64n128k16 from shared memory, the online
// softmax runs on the accumulator registers, and O += P V is wgmma with P
// from registers (inline PTX). The mma.sync kernel (TensorCorePrefill.cpp)
// stays for what this one does not cover.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOGPU_WGMMAPREFILL_H
#define ATTN_LIB_CONVERSION_ATTNTOGPU_WGMMAPREFILL_H

#include "GpuKernels.h"

namespace mlir::attn::gpu_kernels {

/// Whether the wgmma kernel covers an attn.attention of `plan` (with a mask
/// operand when `hasMask`): at least 128 query rows, f16 or bf16 of one
/// type, D = Dv = 128, no mask and no window.
bool useWgmmaPrefillKernel(const AttentionPlan &plan, bool hasMask);

/// Its grid (query tiles, Hq, B), threads and dynamic shared memory bytes.
std::array<int64_t, 3> wgmmaPrefillGrid(const AttentionPlan &plan);
int64_t wgmmaPrefillThreads();
int64_t wgmmaPrefillSharedBytes(const AttentionPlan &plan);

/// Builds the kernel. Arguments: query, key, value, [kv_seq_lens when
/// `hasKvLens`], out.
gpu::GPUFuncOp buildWgmmaPrefillKernel(OpBuilder &b, Location loc,
                                       gpu::GPUModuleOp module, StringRef name,
                                       const AttentionPlan &plan,
                                       TypeRange argTypes, bool hasKvLens);

} // namespace mlir::attn::gpu_kernels

#endif // ATTN_LIB_CONVERSION_ATTNTOGPU_WGMMAPREFILL_H
