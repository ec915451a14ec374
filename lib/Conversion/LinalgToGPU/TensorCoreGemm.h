//===- TensorCoreGemm.h - matrix products on tensor cores -------*- C++ -*-===//
//
// attn-linalg-to-gpu's form for the prompt's matrix products (projections,
// MLP, lm_head over many tokens): mma.sync on f16/bf16 operands.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_LINALGTOGPU_TENSORCOREGEMM_H
#define ATTN_LIB_CONVERSION_LINALGTOGPU_TENSORCOREGEMM_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn::linalg_gpu {

/// Rows at which a product takes the tensor-core kernel (a block's half
/// tile; fewer rows are the matvec kernel's or the generic lowering's).
constexpr int64_t kGemmMinRows = 64;

/// out[batch.., rows.., n] += sum_k A[batch.., rows.., k] * B[batch.., k, n]
/// (B may also be [.., n, k], the transposed weight, and may lack the batch
/// dimensions: a weight shared by the batch), A and B f16 or bf16 of one
/// type, out f16, bf16 or f32, static contiguous buffers, at least
/// kGemmMinRows rows, K (and N for a [k, n] B) a multiple of 8 (16-byte
/// rows for cp.async). Block tiles of up to 128 x 128 outputs, 8 warps,
/// mma.sync m16n8k16 with f32 accumulators, operands through ldmatrix from
/// dynamic shared memory filled by cp.async 3-4 K-tiles of 64 deep; the
/// edges of M, N and K are masked (zero-filled loads, guarded stores).
/// With `zeroInit` out's initial value is taken to be zero and not read
/// (the caller drops the zero fill). success() when `op` was replaced,
/// failure() (untouched) when it is not of this form.
LogicalResult lowerTensorCoreGemm(RewriterBase &rewriter, linalg::GenericOp op,
                                  bool zeroInit = false);

} // namespace mlir::attn::linalg_gpu

#endif
