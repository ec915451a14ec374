//===- TensorCorePrefill.h - flash attention forward on tensor cores -*- C++ -*-===//
//
// attn.attention with many query rows (prompts) on tensor cores, FA2-style:
// a block of 4 warps takes 64 query rows of one query head, walks the keys
// of its KV head in tiles of 64 (32 at head dimension 256) staged in
// shared memory (cp.async), and computes S = Q K^T and O += P V with
// mma.sync m16n8k16 (ldmatrix operands), the online softmax on the
// accumulator fragments; masks, windows, softcap and kv lengths on the
// score fragments.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOGPU_TENSORCOREPREFILL_H
#define ATTN_LIB_CONVERSION_ATTNTOGPU_TENSORCOREPREFILL_H

#include "GpuKernels.h"

namespace mlir::attn::gpu_kernels {

/// The fewest query rows that take the prefill kernel.
constexpr int64_t kPrefillMinRows = 64;

/// Whether the prefill kernel covers an attn.attention of `plan`: at least
/// kPrefillMinRows query rows, f16 or bf16 queries/keys/values of one type,
/// D and Dv 64, 128 or 256 (any mask, window, softcap, kv_seq_lens).
bool usePrefillKernel(const AttentionPlan &plan);

/// The prefill grid: (query tiles, Hq, B), and the threads of a block.
std::array<int64_t, 3> prefillGrid(const AttentionPlan &plan);
int64_t prefillThreads();

/// Builds the kernel. Arguments: query, key, value, [mask when `hasMask`],
/// [kv_seq_lens when `hasKvLens`], out.
gpu::GPUFuncOp buildPrefillKernel(OpBuilder &b, Location loc,
                                  gpu::GPUModuleOp module, StringRef name,
                                  const AttentionPlan &plan,
                                  TypeRange argTypes, bool hasMask,
                                  bool hasKvLens);

} // namespace mlir::attn::gpu_kernels

#endif // ATTN_LIB_CONVERSION_ATTNTOGPU_TENSORCOREPREFILL_H
