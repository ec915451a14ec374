//===- PagedDecode.h - attn.decode over a paged KV cache -------*- C++ -*-===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_PAGEDDECODE_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_PAGEDDECODE_H

#include "FlashKernel.h"

namespace mlir::attn {

class DecodeOp;

/// The function argument that `v` is read from (through casts and a load),
/// or -1: the runtime names that buffer in its errors. In AttnToLoops.cpp.
int64_t argumentBuffer(Value v);

/// Lowers a paged attn.decode on memrefs (op.isPaged()) at the builder's
/// insertion point; `common` holds what every decode shares (queries,
/// output, mask, heads, scale, softcap, window). The op is left for the
/// caller to erase.
void buildPagedDecode(OpBuilder &b, DecodeOp op, FlashAttention common);

} // namespace mlir::attn

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_PAGEDDECODE_H
