//===- PagedDecode.h - attn.decode over a paged KV cache -------*- C++ -*-===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_PAGEDDECODE_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_PAGEDDECODE_H

#include "FlashKernel.h"
#include "attn/Conversion/ArgumentBuffer.h"

namespace mlir::attn {

class DecodeOp;

/// A decode that must not run: fills the output with NaN and, when the
/// module declares the runtime's hook (kPositionErrorHook), calls it with the
/// buffer index and row, the offending value, the new entries (or a negative
/// code) and the limit, widened to i64. In AttnToLoops.cpp.
void reportDecodeError(OpBuilder &b, DecodeOp op, int64_t buffer, Value row,
                       Value value, Value entries, Value limit);

/// Lowers a paged attn.decode on memrefs (op.isPaged()) at the builder's
/// insertion point; `common` holds what every decode shares (queries,
/// output, mask, heads, scale, softcap, window). The op is left for the
/// caller to erase.
void buildPagedDecode(OpBuilder &b, DecodeOp op, FlashAttention common);

} // namespace mlir::attn

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_PAGEDDECODE_H
